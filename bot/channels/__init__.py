"""Chat channels: each translates a platform payload to an Incoming and a Reply to API calls."""
