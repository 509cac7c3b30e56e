"""Thin async clients for the WeCom server API (self-built app) and the group robot webhook."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import mimetypes
import re
import time
from collections.abc import Callable, Mapping
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import unquote

import aiohttp

from bot.channels.wecom.errcodes import Verdict, verdict

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
TOKEN_ERRCODES = frozenset({40014, 42001, 42007})  # invalid / expired access_token
TOKEN_MARGIN = 300.0  # seconds before expires_in at which a cached token is renewed
DUPLICATE_CHECK_INTERVAL = 1800
_CHUNK = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")

JsonDict = dict[str, Any]


class WeComApiError(Exception):
    """WeCom answered with a non-zero errcode (or not with JSON at all: errcode -1)."""

    def __init__(self, errcode: int, errmsg: str, path: str = "") -> None:
        super().__init__(f"WeCom {path or 'API'} errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path

    @property
    def verdict(self) -> Verdict:
        """Tell whether the same call may succeed later, cannot reach its recipient, or never will."""
        return verdict(self.errcode)


class WeComApi:
    """Call the WeCom server API for one self-built application, caching its access_token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        corp_id: str,
        secret: str,
        agent_id: int,
        base_url: str = DEFAULT_BASE_URL,
        clock: Callable[[], float] = time.monotonic,
        proxy: str | None = None,
    ) -> None:
        self._session = session
        self._proxy = proxy
        self._corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()

    async def access_token(self) -> str:
        """Return a valid access_token, fetching it at most once however many callers wait."""
        token = self._valid_token()
        if token is not None:
            return token
        async with self._token_lock:
            token = self._valid_token()
            if token is not None:
                return token
            params = {"corpid": self._corp_id, "corpsecret": self._secret}
            async with self._session.get(self._url("cgi-bin/gettoken"), params=params, proxy=self._proxy) as resp:
                data = await _read_json(resp, "cgi-bin/gettoken")
            _raise_for_errcode(data, "cgi-bin/gettoken")
            token = str(data["access_token"])
            expires_in = float(data.get("expires_in", 7200))
            self._token = token
            self._token_expires_at = self._clock() + max(expires_in - TOKEN_MARGIN, expires_in / 2)
            return token

    async def send_text(self, touser: str, content: str) -> JsonDict:
        """Send a text message to users ("u1|u2"); content is at most 2048 bytes."""
        return await self._send(touser, "text", {"content": content})

    async def send_markdown(self, touser: str, content: str) -> JsonDict:
        """Send a markdown message (WeCom's subset; shown only in the WeCom client)."""
        return await self._send(touser, "markdown", {"content": content})

    async def send_textcard(
        self, touser: str, title: str, description: str, url: str, btntxt: str = "详情"
    ) -> JsonDict:
        """Send a text card whose button opens url."""
        card = {"title": title, "description": description, "url": url, "btntxt": btntxt}
        return await self._send(touser, "textcard", card)

    async def send_file(self, touser: str, path: Path, file_name: str) -> JsonDict:
        """Upload a file (≤20 MB) as temporary media and send it."""
        data = await asyncio.to_thread(path.read_bytes)
        media_id = await self.upload_media("file", data, file_name)
        return await self._send(touser, "file", {"media_id": media_id})

    async def send_image(self, touser: str, data: bytes, file_name: str = "chart.png") -> JsonDict:
        """Upload a JPG/PNG image (≤10 MB) as temporary media and send it."""
        media_id = await self.upload_media("image", data, file_name)
        return await self._send(touser, "image", {"media_id": media_id})

    async def agent(self) -> JsonDict:
        """Read the application's settings (agent/get): proves the AgentId and that this server's IP is trusted."""
        return await self._call("GET", "cgi-bin/agent/get", {"agentid": str(self.agent_id)})

    async def upload_media(self, media_type: str, data: bytes, file_name: str) -> str:
        """Upload temporary media (valid 3 days) of type image, voice, video or file; return media_id."""
        content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"

        def form() -> aiohttp.FormData:
            # A FormData cannot be sent twice, so a token retry builds a fresh one. quote_fields=False
            # keeps a Chinese filename raw UTF-8 (as curl and requests send it): WeCom shows the
            # filename as given, and aiohttp's default would show it percent-encoded.
            fd = aiohttp.FormData(quote_fields=False)
            safe_name = file_name.replace("\r", " ").replace("\n", " ")
            fd.add_field("media", data, filename=safe_name, content_type=content_type)
            return fd

        result = await self._call("POST", "cgi-bin/media/upload", {"type": media_type}, data=form)
        return str(result["media_id"])

    async def download_media(self, media_id: str, dest: Path) -> tuple[str, int]:
        """Stream media/get into dest; return the file name WeCom gives and the size in bytes."""
        path = "cgi-bin/media/get"
        for attempt in (1, 2):
            token = await self.access_token()
            params = {"access_token": token, "media_id": media_id}
            async with self._session.get(self._url(path), params=params, proxy=self._proxy) as resp:
                if _is_json_reply(resp):
                    data = await _read_json(resp, path)
                    if self._should_retry(data, token, attempt):
                        continue
                    _raise_for_errcode(data, path)
                    raise WeComApiError(-1, "media/get answered JSON without an error", path)
                if resp.status != 200:
                    raise WeComApiError(-1, f"HTTP {resp.status}", path)
                file_name = content_disposition_filename(resp.headers.get("Content-Disposition", ""))
                size = await _stream_to_file(resp.content, dest)
                return file_name or media_id, size
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, touser: str, msgtype: str, payload: Mapping[str, Any]) -> JsonDict:
        body = {
            "touser": touser,
            "msgtype": msgtype,
            "agentid": self.agent_id,
            msgtype: dict(payload),
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_INTERVAL,
        }
        return await self._call("POST", "cgi-bin/message/send", {}, json_body=body)

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        *,
        json_body: JsonDict | None = None,
        data: Callable[[], aiohttp.FormData] | None = None,
    ) -> JsonDict:
        for attempt in (1, 2):
            token = await self.access_token()
            query = {**params, "access_token": token}
            async with self._session.request(
                method,
                self._url(path),
                params=query,
                json=json_body,
                data=data() if data is not None else None,
                proxy=self._proxy,
            ) as resp:
                result = await _read_json(resp, path)
            if self._should_retry(result, token, attempt):
                continue
            _raise_for_errcode(result, path)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _should_retry(self, result: JsonDict, token: str, attempt: int) -> bool:
        if attempt > 1 or _errcode(result) not in TOKEN_ERRCODES:
            return False
        if self._token == token:  # another caller may already hold a fresh one
            self._token = None
        return True

    def _valid_token(self) -> str | None:
        if self._token is not None and self._clock() < self._token_expires_at:
            return self._token
        return None

    def _url(self, path: str) -> str:
        return f"{self._base_url}/{path}"


class WeComRobot:
    """Send to a group through a robot webhook (send-only; 20 messages a minute)."""

    def __init__(self, session: aiohttp.ClientSession, key: str, base_url: str = DEFAULT_BASE_URL,
                 proxy: str | None = None) -> None:
        self._session = session
        self._key = key
        self._proxy = proxy
        self._base_url = base_url.rstrip("/")

    async def send_text(self, content: str, mentioned_list: list[str] | None = None) -> JsonDict:
        """Send text (≤2048 bytes); mentioned_list takes userids or "@all"."""
        text: JsonDict = {"content": content}
        if mentioned_list:
            text["mentioned_list"] = mentioned_list
        return await self._post({"msgtype": "text", "text": text})

    async def send_markdown(self, content: str) -> JsonDict:
        """Send markdown (≤4096 bytes: the pipeline splits longer text)."""
        return await self._post({"msgtype": "markdown", "markdown": {"content": content}})

    async def send_image(self, data: bytes) -> JsonDict:
        """Send a JPG/PNG image (≤2 MB) inline as base64 with the md5 of its bytes."""
        image = {"base64": base64.b64encode(data).decode(), "md5": hashlib.md5(data).hexdigest()}
        return await self._post({"msgtype": "image", "image": image})

    async def _post(self, body: JsonDict) -> JsonDict:
        path = "cgi-bin/webhook/send"
        url = f"{self._base_url}/{path}"
        async with self._session.post(url, params={"key": self._key}, json=body, proxy=self._proxy) as resp:
            result = await _read_json(resp, path)
        _raise_for_errcode(result, path)
        return result


def content_disposition_filename(header: str) -> str:
    """Return the file name in a Content-Disposition header, preferring RFC 5987 filename*."""
    if not header:
        return ""
    msg = Message()
    msg["Content-Disposition"] = _repair_header_text(header)
    plain = extended = ""
    for key, value in msg.get_params(header="content-disposition", failobj=[]):
        if key.lower() != "filename":
            continue
        if isinstance(value, tuple):
            extended = collapse_rfc2231_value(value)
        else:
            plain = _percent_decoded(collapse_rfc2231_value(value))
    name = extended or plain
    # keep only the last path component: the name is informative, never a place to write
    return PureWindowsPath(PurePosixPath(name).name).name


def _percent_decoded(name: str) -> str:
    """Decode a plain filename sent percent-encoded (as WeCom's file server does), as both official SDKs do.

    A name that does not decode to UTF-8 is kept as it came ("100%合格.pdf" has no escape to decode).
    """
    if not _PERCENT_ESCAPE.search(name):
        return name
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        return name


def _repair_header_text(name: str) -> str:
    # aiohttp decodes header bytes as UTF-8 with surrogate escapes, so a server sending GBK leaves
    # surrogates; a client decoding Latin-1 leaves mojibake. Undo either when it decodes cleanly.
    if any("\udc80" <= ch <= "\udcff" for ch in name):
        raw, encoding = name.encode("utf-8", "surrogateescape"), "gb18030"
    else:
        try:
            raw, encoding = name.encode("latin-1"), "utf-8"
        except UnicodeEncodeError:
            return name
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return name


def _is_json_reply(resp: aiohttp.ClientResponse) -> bool:
    # media comes with Content-Disposition; an error is a bare JSON (or text/plain JSON) body
    if "Content-Disposition" in resp.headers:
        return False
    return resp.content_type in ("application/json", "text/json", "text/plain")


async def _read_json(resp: aiohttp.ClientResponse, path: str) -> JsonDict:
    raw = await resp.content.read(_MAX_ERROR_BODY + 1) if resp.status != 200 else await resp.read()
    if resp.status != 200:
        raise WeComApiError(-1, f"HTTP {resp.status}: {raw[:200]!r}", path)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise WeComApiError(-1, f"not JSON: {raw[:200]!r}", path) from exc
    if not isinstance(data, dict):
        raise WeComApiError(-1, f"not a JSON object: {raw[:200]!r}", path)
    return data


def _errcode(data: Mapping[str, Any]) -> int:
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1


def _raise_for_errcode(data: Mapping[str, Any], path: str) -> None:
    code = _errcode(data)
    if code != 0:
        raise WeComApiError(code, str(data.get("errmsg", "")), path)


async def _stream_to_file(content: aiohttp.StreamReader, dest: Path) -> int:
    partial = dest.with_name(dest.name + ".part")
    size = 0
    handle = await asyncio.to_thread(partial.open, "wb")
    try:
        async for chunk in content.iter_chunked(_CHUNK):
            await asyncio.to_thread(handle.write, chunk)
            size += len(chunk)
    except BaseException:
        # synchronous on purpose: this path also runs on cancellation
        handle.close()
        partial.unlink(missing_ok=True)
        raise
    await asyncio.to_thread(handle.close)
    await asyncio.to_thread(partial.replace, dest)
    return size


__all__ = [
    "DEFAULT_BASE_URL",
    "WeComApi",
    "WeComApiError",
    "WeComRobot",
    "content_disposition_filename",
]
