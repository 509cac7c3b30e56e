"""Signed tokens for links and cookies: a JSON list and a truncated HMAC, one key per purpose.

    base64url(JSON list) "." base64url(HMAC-SHA256(key, JSON)[:16])

The key is derived from the instance secret and a domain string, so a token made for one purpose
(an upload link) is never accepted for another (a desk session).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

SIG_BYTES = 16
MAX_PART = 1024


class Signer:
    """Make and check tokens for one purpose."""

    def __init__(self, secret: bytes, domain: bytes) -> None:
        self._key = hmac.new(secret, domain, hashlib.sha256).digest()

    def sign(self, values: list[Any]) -> str:
        """Return a token carrying `values`."""
        payload = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{_b64(payload)}.{_b64(self.mac(payload))}"

    def verify(self, token: str) -> list[Any] | None:
        """Return the values of a genuine token, else None (forged, altered, malformed)."""
        body, _, sig = token.partition(".")
        try:
            payload, given = _unb64(body), _unb64(sig)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self.mac(payload), given):
            return None
        try:
            values = json.loads(payload)
        except ValueError:
            return None
        return values if isinstance(values, list) else None

    def mac(self, data: bytes) -> bytes:
        """Return the truncated HMAC of `data` under this purpose's key."""
        return hmac.new(self._key, data, hashlib.sha256).digest()[:SIG_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > MAX_PART:
        raise ValueError("bad token part")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
