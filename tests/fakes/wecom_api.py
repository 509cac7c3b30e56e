"""A fake WeCom server API speaking real HTTP on 127.0.0.1, for tests of the WeCom channel.

It answers with WeCom's JSON shapes (HTTP 200, errcode in the body), checks access tokens,
records every call, and lets a test expire tokens or inject errcodes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import json
from collections import defaultdict, deque
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

JsonDict = dict[str, Any]

TEXT_LIMIT = 2048  # bytes, message/send text and robot text
MARKDOWN_LIMIT = 4096  # bytes, robot markdown


class FakeWeCom:
    """Stand in for qyapi.weixin.qq.com: gettoken, agent/get, message/send, media, robot webhook."""

    def __init__(
        self,
        corp_id: str = "wwfakecorp0000001",
        secret: str = "fake-secret",
        *,
        users: set[str] | None = None,
        robot_keys: set[str] | None = None,
        expires_in: int = 7200,
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.users = users  # None: every userid exists
        self.robot_keys = robot_keys  # None: every key is a robot
        self.expires_in = expires_in
        self.tokens: list[str] = []  # every token issued, oldest first
        self.sent: list[JsonDict] = []
        self.robot_sent: list[tuple[str, JsonDict]] = []
        self.media: dict[str, tuple[str, bytes, str]] = {}
        self.uploaded: dict[str, tuple[str, bytes]] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._expired: set[str] = set()
        self._failures: dict[str, deque[tuple[int, str] | None]] = defaultdict(deque)  # None: let one through
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- test controls -------------------------------------------------------------------

    def add_media(self, file_name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store a file as WeCom temporary media and return its media_id."""
        media_id = f"fake-media-{next(self._ids)}"
        self.media[media_id] = (file_name, data, content_type)
        return media_id

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far: the next call with one gets 42001."""
        self._expired.update(self.tokens)

    def fail_next(self, path: str, errcode: int, errmsg: str = "", times: int = 1, after: int = 0) -> None:
        """Answer `times` requests to path (e.g. "cgi-bin/message/send") with errcode, once `after` went through."""
        queue = self._failures[path.strip("/")]
        queue.extend([None] * after)
        queue.extend([(errcode, errmsg or f"fake error {errcode}")] * times)

    def calls_to(self, path: str) -> list[dict[str, str]]:
        """Return the query of every request made to path, in order."""
        return [query for p, query in self.calls if p == path.strip("/")]

    async def wait_sent(self, n: int, timeout: float = 5.0) -> list[JsonDict]:  # noqa: ASYNC109 - helper API
        """Wait until at least n message/send bodies were accepted, and return them all."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.sent) >= n)
        return list(self.sent)

    async def wait_robot_sent(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - helper API
    ) -> list[tuple[str, JsonDict]]:
        """Wait until at least n robot webhook messages were accepted, and return them all."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.robot_sent) >= n)
        return list(self.robot_sent)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1 on a free port and return the base URL."""
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_get("/cgi-bin/agent/get", self._agent_get)
        app.router.add_post("/cgi-bin/message/send", self._message_send)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook_send)
        app.router.add_post("/cgi-bin/webhook/upload_media", self._webhook_upload)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeWeCom:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- routes --------------------------------------------------------------------------

    async def _gettoken(self, request: web.Request) -> web.Response:
        if (failure := self._record(request)) is not None:
            return failure
        if request.query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if request.query.get("corpsecret") != self.secret:
            return _error(40001, "invalid credential")
        token = f"fake-token-{next(self._ids)}"
        self.tokens.append(token)
        return _ok(access_token=token, expires_in=self.expires_in)

    async def _agent_get(self, request: web.Request) -> web.Response:
        if (failure := self._record(request) or self._check_token(request)) is not None:
            return failure
        return _ok(agentid=int(request.query.get("agentid", "0") or 0), name="督办助手", close=0)

    async def _message_send(self, request: web.Request) -> web.Response:
        if (failure := self._record(request) or self._check_token(request)) is not None:
            return failure
        body = await _json_body(request)
        if body is None:
            return _error(47001, "data format error")
        msgtype = body.get("msgtype")
        content = body.get(msgtype) if isinstance(msgtype, str) else None
        if not isinstance(content, dict):
            return _error(40008, "invalid message type")
        if msgtype == "text" and len(str(content.get("content", "")).encode()) > TEXT_LIMIT:
            return _error(40058, f"text.content exceed max length {TEXT_LIMIT}")
        if msgtype in ("file", "image") and content.get("media_id") not in self.media:
            return _error(40007, "invalid media_id")
        touser = str(body.get("touser", ""))
        wanted = [u for u in touser.split("|") if u]
        if not wanted:
            return _error(40035, "invalid args: touser")
        invalid = [] if self.users is None or touser == "@all" else [u for u in wanted if u not in self.users]
        if len(invalid) == len(wanted):
            return _error(81013, "user & party & tag all invalid")
        async with self._changed:
            self.sent.append({**body, "access_token": request.query["access_token"]})
            self._changed.notify_all()
        return _ok(
            invaliduser="|".join(invalid),
            invalidparty="",
            invalidtag="",
            unlicenseduser="",
            msgid=f"fake-msg-{next(self._ids)}",
        )

    async def _media_upload(self, request: web.Request) -> web.Response:
        if (failure := self._record(request) or self._check_token(request)) is not None:
            return failure
        return await self._store_upload(request)

    async def _media_get(self, request: web.Request) -> web.StreamResponse:
        if (failure := self._record(request) or self._check_token(request)) is not None:
            return failure
        stored = self.media.get(request.query.get("media_id", ""))
        if stored is None:
            return _error(40007, "invalid media_id")
        file_name, data, content_type = stored
        disposition = f"attachment; filename=\"{_quoted(file_name)}\"; filename*=UTF-8''{quote(file_name)}"
        return web.Response(
            body=data,
            headers={"Content-Type": content_type, "Content-Disposition": disposition},
        )

    async def _webhook_send(self, request: web.Request) -> web.Response:
        if (failure := self._record(request) or self._check_robot(request)) is not None:
            return failure
        body = await _json_body(request)
        if body is None:
            return _error(47001, "data format error")
        msgtype = body.get("msgtype")
        content = body.get(msgtype) if isinstance(msgtype, str) else None
        if not isinstance(content, dict):
            return _error(40008, "invalid message type")
        if msgtype == "markdown" and len(str(content.get("content", "")).encode()) > MARKDOWN_LIMIT:
            return _error(40058, f"markdown.content exceed max length {MARKDOWN_LIMIT}")
        if msgtype == "text" and len(str(content.get("content", "")).encode()) > TEXT_LIMIT:
            return _error(40058, f"text.content exceed max length {TEXT_LIMIT}")
        if msgtype == "image" and not _image_matches_md5(content):
            return _error(40009, "invalid image: base64 or md5 mismatch")
        async with self._changed:
            self.robot_sent.append((request.query["key"], body))
            self._changed.notify_all()
        return _ok()

    async def _webhook_upload(self, request: web.Request) -> web.Response:
        if (failure := self._record(request) or self._check_robot(request)) is not None:
            return failure
        return await self._store_upload(request)

    # --- helpers -------------------------------------------------------------------------

    def _record(self, request: web.Request) -> web.Response | None:
        path = request.path.strip("/")
        self.calls.append((path, dict(request.query)))
        queue = self._failures.get(path)
        failure = queue.popleft() if queue else None
        return _error(*failure) if failure is not None else None

    def _check_token(self, request: web.Request) -> web.Response | None:
        token = request.query.get("access_token", "")
        if not token:
            return _error(41001, "access_token missing")
        if token not in self.tokens:
            return _error(40014, "invalid access_token")
        if token in self._expired:
            return _error(42001, "access_token expired")
        return None

    def _check_robot(self, request: web.Request) -> web.Response | None:
        key = request.query.get("key", "")
        if not key or (self.robot_keys is not None and key not in self.robot_keys):
            return _error(93000, "invalid webhook url")
        return None

    async def _store_upload(self, request: web.Request) -> web.Response:
        media_type = request.query.get("type", "")
        if media_type not in ("image", "voice", "video", "file"):
            return _error(40004, "invalid media type")
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name != "media":
                continue
            file_name = part.filename or ""
            data = bytes(await part.read())
            if len(data) <= 5:  # WeCom requires more than 5 bytes
                return _error(40006, "invalid file size")
            media_id = f"fake-media-{next(self._ids)}"
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            self.uploaded[media_id] = (file_name, data)
            self.media[media_id] = (file_name, data, content_type)
            return _ok(type=media_type, media_id=media_id, created_at="1700000000")
        return _error(41004, "media field missing")


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"errcode": 0, "errmsg": "ok", **fields})


def _error(errcode: int, errmsg: str) -> web.Response:
    # WeCom reports errors with HTTP 200 and the errcode in the JSON body
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


async def _json_body(request: web.Request) -> JsonDict | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _image_matches_md5(image: JsonDict) -> bool:
    try:
        raw = base64.b64decode(str(image.get("base64", "")), validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(raw) and hashlib.md5(raw).hexdigest() == image.get("md5")


def _quoted(file_name: str) -> str:
    return file_name.replace("\\", "\\\\").replace('"', '\\"')
