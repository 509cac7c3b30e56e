"""WeCom callback crypto (加解密方案): SHA1 signature, AES-256-CBC with 32-byte PKCS#7, safe XML."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16


class WeComCryptoError(Exception):
    """A callback could not be authenticated or read."""


class SignatureError(WeComCryptoError):
    """msg_signature does not match token, timestamp, nonce and payload."""


class ReceiveIdError(WeComCryptoError):
    """The decrypted payload names another receiver (CorpID)."""


class DecryptError(WeComCryptoError):
    """The payload is not valid base64, AES-CBC, padding or length framing."""


class MalformedError(WeComCryptoError):
    """The XML body is not well-formed, or uses a DTD or entities."""


@dataclass(frozen=True)
class WeComCrypto:
    """Sign, verify, encrypt and decrypt WeCom callback payloads for one application."""

    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    receive_id: str  # the CorpID for a self-built application
    key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise WeComCryptoError("EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise WeComCryptoError("EncodingAESKey must be 43 characters decoding to 32 bytes")
        object.__setattr__(self, "key", key)

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """Return the hex SHA1 of the sorted token, timestamp, nonce and ciphertext."""
        joined = "".join(sorted([self.token, timestamp, nonce, encrypted]))
        return hashlib.sha1(joined.encode()).hexdigest()

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """Check a URL-verification GET and return the echostr plaintext to answer with."""
        return self.decrypt(msg_signature, timestamp, nonce, echostr)

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Verify the signature, decrypt, check the receive id and return the inner message."""
        expected = self.signature(timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise SignatureError("msg_signature mismatch")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecryptError("ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise DecryptError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= _BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise DecryptError("bad PKCS#7 padding")
        body = padded[16:-pad]  # skip the 16 random bytes
        if len(body) < 4:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", body[:4])
        if length > len(body) - 4:
            raise DecryptError("message length exceeds plaintext")
        msg, receive_id = body[4 : 4 + length], body[4 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise ReceiveIdError(f"payload is for receive id {receive_id!r}")
        try:
            return msg.decode()
        except UnicodeDecodeError as exc:
            raise DecryptError("message is not UTF-8") from exc

    def encrypt(self, plaintext: str, nonce: str, timestamp: str, random16: bytes | None = None) -> tuple[str, str]:
        """Encrypt a message as WeCom does and return (base64 ciphertext, signature)."""
        prefix = os.urandom(16) if random16 is None else random16
        if len(prefix) != 16:
            raise ValueError("random16 must be 16 bytes")
        msg = plaintext.encode()
        body = prefix + struct.pack(">I", len(msg)) + msg + self.receive_id.encode()
        pad = _BLOCK - len(body) % _BLOCK
        encryptor = self._cipher().encryptor()
        raw = encryptor.update(body + bytes([pad]) * pad) + encryptor.finalize()
        encrypted = base64.b64encode(raw).decode()
        return encrypted, self.signature(timestamp, nonce, encrypted)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))


def parse_callback_xml(body: bytes) -> dict[str, str]:
    """Parse a callback or message XML into {child tag: text}, refusing DTDs and entities."""
    try:
        root: Element = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise MalformedError(f"unreadable callback XML: {exc}") from exc
    return {child.tag: child.text or "" for child in root}


def build_encrypted_xml(
    encrypted: str, signature: str, timestamp: str, nonce: str, to_user: str = "", agent_id: str = ""
) -> bytes:
    """Build an encrypted envelope: WeCom's callback body plus the passive-reply fields.

    WeCom POSTs ToUserName/Encrypt/AgentID (signature, timestamp and nonce travel in the query);
    a passive reply carries Encrypt/MsgSignature/TimeStamp/Nonce. Writing all six lets one helper
    serve both; readers take only the fields their side defines.
    """
    fields = {
        "ToUserName": to_user,
        "Encrypt": encrypted,
        "AgentID": agent_id,
        "MsgSignature": signature,
        "TimeStamp": timestamp,
        "Nonce": nonce,
    }
    inner = "".join(f"<{tag}>{_cdata(value)}</{tag}>" for tag, value in fields.items())
    return f"<xml>{inner}</xml>".encode()


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section and reopen it around the ">"
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
