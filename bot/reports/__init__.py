"""Reports for coordinators: the digest chart and other rendered summaries."""
