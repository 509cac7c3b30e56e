"""The desk: web pages on duban's own HTTP server where 节水办 reviews evidence and sees the whole plan.

Outer shell, like the upload page: it may use the composition root; business logic never imports it.
"""
