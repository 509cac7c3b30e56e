"""Chat channels: each translates a platform payload to an Message and a Reply to API calls."""
