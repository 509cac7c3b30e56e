"""A fake of WeCom's openws (智能机器人长连接) speaking the documented frames over a real WebSocket.

- `aibot_subscribe` checks bot id and secret; a newer subscription for the same bot displaces the older
  connection (a `disconnected_event`, then the server closes it), as the real server does;
- `ping` is acknowledged; `aibot_respond_msg`, `aibot_respond_welcome_msg`, `aibot_send_msg` and the media
  upload (init → chunk × N → finish) are acknowledged and recorded as deliveries;
- callbacks (`aibot_msg_callback`, `aibot_event_callback`) are pushed by the test; files, images and videos
  (sent, or quoted by a text) are served over HTTP encrypted with a per-file aeskey (AES-256-CBC, IV = key[:16],
  PKCS#7 to 32 bytes, the key given without its base64 `=` padding), named by RFC 5987 `filename*=` or by a
  plain percent-encoded `filename=`; a text can go out with its control characters raw inside the JSON;
- `fail_next(cmd, errcode)` answers a request with an errcode instead; `drop()` closes the connection from the
  server's side, `displace()` replaces it like a newer connection,
  and `hold_downloads` parks file downloads until released.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BOT_ID = "aibDUBAN0001"
SECRET = "duban-bot-secret"
REFUSED = 600041  # the errcode given for an unknown bot id or a wrong secret

Frame = dict[str, Any]


@dataclass
class Delivery:
    """Something the bot delivered to a chat: a reply on a req_id or an active push."""

    via: str  # "respond" | "send" | "welcome"
    to: str  # userid or chatid
    msgtype: str
    text: str = ""
    card: Frame = field(default_factory=dict)
    data: bytes = b""  # an uploaded file's bytes
    file_name: str = ""
    req_id: str = ""
    chat_type: int = 0


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    bot_id: str = ""


def encrypt(data: bytes) -> tuple[bytes, str]:
    """Encrypt a file the way WeCom serves it; return the bytes and the aeskey (without '=' padding)."""
    key = os.urandom(32)
    pad = 32 - len(data) % 32
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return enc.update(data + bytes([pad]) * pad) + enc.finalize(), base64.b64encode(key).decode().rstrip("=")


class FakeOpenWs:
    """One openws server for tests and benchmarks; several bots may be registered."""

    def __init__(self, bots: dict[str, str] | None = None) -> None:
        self.bots = dict(bots or {BOT_ID: SECRET})
        self.conns: dict[str, _Conn] = {}  # the authenticated connection per bot
        self.subscribes: list[tuple[str, int]] = []  # (bot id, errcode) per aibot_subscribe
        self.displaced = 0
        self.frames: list[Frame] = []  # every frame a bot sent (pings excluded)
        self.deliveries: list[Delivery] = []
        self.latencies: list[float] = []  # seconds from a callback pushed to the first reply on its req_id
        self._replied: set[str] = set()  # req_ids with a reply (a set: benchmarks send thousands)
        self.downloads: list[str] = []
        self.hold_downloads: asyncio.Event | None = None  # set to park downloads until the event is set
        self.silent = False  # True: acknowledge nothing (a connection that is open but dead)
        self.clock_offset = 0.0  # seconds the Date header of every HTTP response is off (a server's clock, as seen)
        self._refusals: dict[str, list[tuple[int, str]]] = {}  # cmd -> errcodes to answer its next requests with
        self._files: dict[str, tuple[bytes, str, bool]] = {}  # id -> encrypted bytes, name, named plainly
        self._targets: dict[str, tuple[str, float]] = {}  # callback req_id -> (chat, pushed at)
        self._uploads: dict[str, dict[str, Any]] = {}
        self._media: dict[str, tuple[bytes, str]] = {}
        self._pending: list[tuple[str, Frame, str]] = []  # callbacks (and their wire text) waiting for a connection
        self._answers: dict[str, asyncio.Future[Delivery]] = {}  # callback req_id -> its first reply
        self._mark = 0
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.root = ""

    @property
    def ws_url(self) -> str:
        """Return the WebSocket address to configure as DUBAN_WECOM_BOT_WS_URL."""
        return self.root.replace("http://", "ws://") + "/"

    async def start(self) -> None:
        """Listen on a free local port."""
        app = web.Application()
        app.on_response_prepare.append(self._date)
        app.router.add_get("/", self._socket)
        app.router.add_get("/files/{fid}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Close every connection and stop listening."""
        for conn in list(self.conns.values()):
            await conn.ws.close()
        if self.hold_downloads is not None:
            self.hold_downloads.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- what the test does as users ----------------------------------------------------------
    def send_text(self, user: str, text: str, *, chat: str | None = None, bot: str = BOT_ID) -> Frame:
        """Push a text message from a user (in a group when `chat` is given); return the frame."""
        return self.push(self._message(user, "text", {"text": {"content": text}}, chat), bot)

    def send_file(self, user: str, data: bytes, name: str, *, image: bool = False, kind: str = "",
                  chat: str | None = None, plain_name: bool = False, bot: str = BOT_ID) -> Frame:
        """Push a file (image, video) message from a user; the bytes are served encrypted.

        `plain_name` names the file in a plain, percent-encoded `filename=` instead of RFC 5987 `filename*=`.
        """
        kind = kind or ("image" if image else "file")
        return self.push(self._message(user, kind, {kind: self.serve(data, name, plain_name=plain_name)}, chat), bot)

    def send_quote(self, user: str, text: str, kind: str, data: bytes, name: str, *, chat: str | None = None,
                   bot: str = BOT_ID) -> Frame:
        """Push a text that quotes an earlier file, image or video (in a group: a text @-ing the bot)."""
        quote = {"msgtype": kind, kind: self.serve(data, name)}
        return self.push(self._message(user, "text", {"text": {"content": text}, "quote": quote}, chat), bot)

    def send_raw_text(self, user: str, text: str, *, bot: str = BOT_ID) -> Frame:
        """Push a text whose control characters go out raw, unescaped inside the JSON (as WeCom has sent them)."""
        frame = self._message(user, "text", {"text": {"content": text}})
        wire = json.dumps(frame, ensure_ascii=False)
        for ch in {c for c in text if ord(c) < 0x20 and c not in "\t\n\r"}:
            wire = wire.replace(f"\\u{ord(ch):04x}", ch)
        return self.push(frame, bot, wire=wire)

    def serve(self, data: bytes, name: str, *, plain_name: bool = False) -> Frame:
        """Serve a file encrypted as WeCom does; return its {url, aeskey} for a message or a quote."""
        fid = secrets.token_hex(6)
        enc, aeskey = encrypt(data)
        self._files[fid] = (enc, name, plain_name)
        return {"url": f"{self.root}/files/{fid}", "aeskey": aeskey}

    def press(self, user: str, card: Frame, key: str, *, bot: str = BOT_ID) -> Frame:
        """Press a button of a card the bot sent."""
        return self.push(self._message(user, "event", {"event": {
            "eventtype": "template_card_event",
            "template_card_event": {"card_type": card.get("card_type", ""), "event_key": key,
                                    "task_id": card.get("task_id", "")}}}, cmd="aibot_event_callback"), bot)

    def enter_chat(self, user: str, *, bot: str = BOT_ID) -> Frame:
        """Open the 1:1 chat with the bot (the day's first time)."""
        return self.push(self._message(user, "event", {"event": {"eventtype": "enter_chat"}},
                                       cmd="aibot_event_callback"), bot)

    def push(self, frame: Frame, bot: str = BOT_ID, *, wire: str = "") -> Frame:
        """Deliver a callback frame now, or when the bot next connects; a repeated frame is a redelivery.

        `wire` is the frame's text exactly as sent, when it must differ from plain JSON.
        """
        body = frame["body"]
        self._targets[frame["headers"]["req_id"]] = (body.get("chatid") or body["from"]["userid"], time.perf_counter())
        conn = self.conns.get(bot)
        if conn is None or conn.ws.closed:
            self._pending.append((bot, frame, wire))
        else:
            text = wire or json.dumps(frame, ensure_ascii=False)
            asyncio.get_running_loop().create_task(conn.ws.send_str(text))
        return frame

    async def answered(self, frame: Frame, timeout: float = 30.0) -> Delivery:  # noqa: ASYNC109
        """Wait for the first reply on a pushed frame's req_id (benchmarks: one message in flight per user)."""
        req_id = frame["headers"]["req_id"]
        fut = self._answers.setdefault(req_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._answers.pop(req_id, None)

    def forget(self) -> None:
        """Drop what was recorded so far (benchmarks: rounds of thousands of frames would otherwise pile up and
        make the driver's own garbage collection ever slower, whichever bot is being measured)."""
        self.frames.clear()
        self.deliveries.clear()
        self.latencies.clear()
        self._replied.clear()
        self._targets.clear()
        self._mark = 0

    def fail_next(self, cmd: str, errcode: int, errmsg: str = "", times: int = 1) -> None:
        """Answer the next `times` requests of cmd (e.g. "aibot_send_msg") with errcode instead of accepting them."""
        self._refusals.setdefault(cmd, []).extend([(errcode, errmsg or f"fake error {errcode}")] * times)

    async def drop(self, bot: str = BOT_ID) -> None:
        """Close the bot's connection from the server's side (a network loss as the bot sees it)."""
        conn = self.conns.pop(bot, None)
        if conn is not None:
            await conn.ws.close()

    async def displace(self, bot: str = BOT_ID) -> None:
        """Replace the bot's connection as a newer connection elsewhere would: disconnected_event, then close."""
        conn = self.conns.pop(bot, None)
        if conn is not None:
            await self._displace(conn)

    # ---- waiting for the bot ------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[list[Delivery]], bool] | None = None, *, count: int = 1,
                       timeout: float = 15.0) -> list[Delivery]:  # noqa: ASYNC109 - part of this helper's API
        """Wait for deliveries since the previous wait: `count` of them, or until `predicate` holds; return them."""
        mark = self._mark

        def done() -> bool:
            new = self.deliveries[mark:]
            return bool(predicate(new)) if predicate is not None else len(new) >= count

        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(done), timeout)
            except TimeoutError:
                seen = [(d.via, d.to, d.msgtype, d.text[:60]) for d in self.deliveries[mark:]]
                raise AssertionError(f"timed out after {timeout}s; deliveries since last wait: {seen}") from None
        self._mark = len(self.deliveries)
        return self.deliveries[mark:]

    async def until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Wait until a condition holds (a connection, a download, the bot's state), re-checking as things happen."""
        async with asyncio.timeout(timeout):
            while not predicate():
                async with self._cond:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), 0.05)

    # ---- the server -----------------------------------------------------------------------------
    def _message(self, user: str, kind: str, content: Frame, chat: str | None = None, *,
                 cmd: str = "aibot_msg_callback") -> Frame:
        body: Frame = {"msgid": secrets.token_hex(10), "create_time": int(time.time()), "aibotid": BOT_ID,
                       "chattype": "group" if chat else "single", "from": {"userid": user}, "msgtype": kind,
                       **content}
        if chat:
            body["chatid"] = chat
        return {"cmd": cmd, "headers": {"req_id": secrets.token_hex(12)}, "body": body}

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def _displace(self, conn: _Conn) -> None:
        self.displaced += 1
        event = self._message("sys", "event", {"event": {"eventtype": "disconnected_event"}},
                              cmd="aibot_event_callback")
        await conn.ws.send_str(json.dumps(event))
        await conn.ws.close()

    async def _date(self, _request: web.Request, response: web.StreamResponse) -> None:
        if self.clock_offset:
            response.headers["Date"] = formatdate(time.time() + self.clock_offset, usegmt=True)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                reply = await self._answer(conn, frame)
                if reply is not None and not ws.closed:
                    await ws.send_str(json.dumps(reply, ensure_ascii=False))
                await self._notify()
        finally:
            if conn.bot_id and self.conns.get(conn.bot_id) is conn:
                del self.conns[conn.bot_id]
            await self._notify()
        return ws

    async def _answer(self, conn: _Conn, frame: Frame) -> Frame | None:
        cmd, req_id, body = frame.get("cmd"), frame["headers"]["req_id"], frame.get("body") or {}
        ack: Frame = {"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"}
        if self.silent and cmd != "aibot_subscribe":
            return None
        if cmd == "ping":
            return ack
        self.frames.append(frame)
        if cmd == "aibot_subscribe":
            bot = str(body.get("bot_id", ""))
            if self.bots.get(bot) != body.get("secret"):
                self.subscribes.append((bot, REFUSED))
                return {**ack, "errcode": REFUSED, "errmsg": "invalid bot_id or secret"}
            self.subscribes.append((bot, 0))
            older = self.conns.get(bot)
            conn.bot_id = bot
            self.conns[bot] = conn
            if older is not None and older is not conn:
                await self._displace(older)
            asyncio.get_running_loop().call_soon(self._flush, bot)
            return ack
        if not conn.bot_id:
            return {**ack, "errcode": 40001, "errmsg": "not subscribed"}
        if self._refusals.get(str(cmd)):
            errcode, errmsg = self._refusals[str(cmd)].pop(0)
            return {**ack, "errcode": errcode, "errmsg": errmsg}
        if cmd in ("aibot_respond_msg", "aibot_respond_welcome_msg"):
            to, pushed = self._targets.get(req_id, ("", 0.0))
            if not to:
                return {**ack, "errcode": 40002, "errmsg": "unknown req_id"}
            if req_id not in self._replied:
                self._replied.add(req_id)
                self.latencies.append(time.perf_counter() - pushed)
            via = "welcome" if cmd == "aibot_respond_welcome_msg" else "respond"
            self._deliver(via, to, body, req_id)
            return ack
        if cmd == "aibot_send_msg":
            self._deliver("send", str(body.get("chatid", "")), body, req_id)
            return ack
        if cmd == "aibot_upload_media_init":
            upload_id = secrets.token_hex(6)
            self._uploads[upload_id] = {**body, "chunks": {}}
            return {**ack, "body": {"upload_id": upload_id}}
        if cmd == "aibot_upload_media_chunk":
            self._uploads[body["upload_id"]]["chunks"][body["chunk_index"]] = base64.b64decode(body["base64_data"])
            return ack
        if cmd == "aibot_upload_media_finish":
            up = self._uploads.pop(body["upload_id"])
            data = b"".join(up["chunks"][i] for i in range(up["total_chunks"]))
            if hashlib.md5(data).hexdigest() != up["md5"] or len(data) != up["total_size"]:
                return {**ack, "errcode": 40003, "errmsg": "md5 or size mismatch"}
            media_id = secrets.token_hex(8)
            self._media[media_id] = (data, up["filename"])
            return {**ack, "body": {"type": up["type"], "media_id": media_id}}
        return {**ack, "errcode": 40004, "errmsg": f"unknown cmd {cmd}"}

    def _deliver(self, via: str, to: str, body: Frame, req_id: str) -> None:
        kind = str(body.get("msgtype", ""))
        d = Delivery(via, to, kind, req_id=req_id, chat_type=int(body.get("chat_type", 0) or 0))
        if kind == "stream":
            d.text = body["stream"]["content"]
        elif kind in ("markdown", "text"):
            d.text = body[kind]["content"]
        elif kind == "template_card":
            d.card = body["template_card"]
        elif kind in ("file", "image"):
            d.data, d.file_name = self._media[body[kind]["media_id"]]
        self.deliveries.append(d)
        fut = self._answers.get(req_id)
        if fut is not None and not fut.done():
            fut.set_result(d)

    def _flush(self, bot: str) -> None:
        waiting = [(f, w) for b, f, w in self._pending if b == bot]
        self._pending = [p for p in self._pending if p[0] != bot]
        for frame, wire in waiting:
            self.push(frame, bot, wire=wire)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        fid = request.match_info["fid"]
        self.downloads.append(fid)
        await self._notify()
        if self.hold_downloads is not None:
            await self.hold_downloads.wait()
        if fid not in self._files:
            return web.Response(status=404)
        data, name, plain = self._files[fid]
        disposition = f'attachment; filename="{quote(name)}"' if plain else f"attachment; filename*=UTF-8''{quote(name)}"
        return web.Response(body=data, headers={"Content-Type": "application/octet-stream",
                                                "Content-Disposition": disposition})
