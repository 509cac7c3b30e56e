"""Multipart bodies built by hand, so a test can send what no client library would (raw newlines, NUL, odd headers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """One part of a multipart form: a field, or a file when `filename` is given."""

    name: bytes
    value: bytes
    filename: bytes | None = None
    content_type: bytes | None = None


def multipart(*parts: Part) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers of a multipart/form-data POST carrying `parts` byte for byte."""
    boundary = uuid.uuid4().hex.encode()
    body = b""
    for p in parts:
        head = b'Content-Disposition: form-data; name="' + p.name + b'"'
        if p.filename is not None:
            head += b'; filename="' + p.filename + b'"'
        if p.content_type is not None:
            head += b"\r\nContent-Type: " + p.content_type
        body += b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + p.value + b"\r\n"
    body += b"--" + boundary + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}
