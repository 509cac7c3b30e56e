"""The WeCom 智能机器人 long connection (openws): one outbound WebSocket, JSON frames, acks matched by req_id.

Frames are `{cmd, headers: {req_id}, body}`; the server acknowledges each request with the same req_id and
`errcode`/`errmsg`. This module speaks them on aiohttp's WebSocket client (already a dependency) instead of the
official SDK `wecom-aibot-python-sdk` 1.0.2, whose source was read for this. Where it falls short for duban:

- lifecycle: `connect()` swallows connection errors and reconnects from inside itself (recursively), gives up
  silently after 10 attempts, and leaves tasks running after `disconnect()`; duban must start, stop and
  supervise the connection itself (a database lease decides which process may connect at all);
- a refused bot id/secret is only an "error" event while the socket stays open, and a `disconnected_event`
  (a newer connection for the same bot) is not recognised: the SDK reconnects and displaces the newer
  connection in turn, so two holders fight forever. Here each ending is a distinct exception
  (AuthRefused, Displaced, ConnectionLost) and the caller decides;
- media upload over the socket (init → chunk × N → finish), needed to push charts and spreadsheets, is not in it;
- it dispatches callbacks fire-and-forget through pyee (no back-pressure, no way to keep a frame before it is
  handled), downloads into memory through a new ClientSession per file, is untyped (mypy --strict), and brings
  websockets, pyee and certifi as new dependencies.

The frames are few and documented (智能机器人长连接, developer.work.weixin.qq.com/document/path/101463); the
fake server in tests/fakes/wecom_openws.py speaks the same ones.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import math
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.wecom.api import content_disposition_filename

log = logging.getLogger(__name__)

Frame = dict[str, Any]

SUBSCRIBE = "aibot_subscribe"
PING = "ping"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
SEND = "aibot_send_msg"
UPLOAD_INIT = "aibot_upload_media_init"
UPLOAD_CHUNK = "aibot_upload_media_chunk"
UPLOAD_FINISH = "aibot_upload_media_finish"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
DISCONNECTED_EVENT = "disconnected_event"

UPLOAD_CHUNK_BYTES = 512 * 1024  # the documented chunk size; at most 100 chunks per file
UPLOAD_MAX_CHUNKS = 100
MISSED_PINGS = 2  # pings without an ack before the connection counts as dead
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class OpenWsError(Exception):
    """The server answered a request with a non-zero errcode."""

    def __init__(self, cmd: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{cmd}: errcode {errcode} {errmsg}")
        self.cmd = cmd
        self.errcode = errcode
        self.errmsg = errmsg


class AuthRefused(OpenWsError):
    """The server refused the bot id or secret in aibot_subscribe."""


class Displaced(Exception):
    """A newer connection for the same bot replaced this one (disconnected_event)."""


class ConnectionLost(Exception):
    """The connection ended: closed by the server, a network error, or no answer to pings."""


class NotConnected(Exception):
    """A request was made while no authenticated connection is open."""


class OpenWs:
    """One connection to openws at a time: subscribe, ping, hand callbacks over, match acks to requests."""

    def __init__(self, session: aiohttp.ClientSession, url: str, bot_id: str, secret: str, *,
                 on_frame: Callable[[Frame, str, str], None], on_up: Callable[[], None] = lambda: None,
                 on_down: Callable[[], None] = lambda: None, heartbeat: float = 30.0,
                 ack_timeout: float = 15.0, proxy: str | None = None) -> None:
        self._session = session
        self.url = url
        self._proxy = proxy  # aiohttp applies no environment proxy to a WebSocket: it is passed on each connect
        self._bot_id = bot_id
        self._secret = secret
        self._on_frame = on_frame  # (callback frame, its JSON text, id of the connection it came on); must not block
        self._on_up = on_up
        self._on_down = on_down
        self._heartbeat = heartbeat
        self._ack_timeout = ack_timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # run()'s, for requests on its connection
        self._acks: dict[str, asyncio.Future[Frame]] = {}
        self._send_lock = asyncio.Lock()
        self.conn_id = ""  # names the current connection: a reply on a req_id is only valid on its own connection
        self.authenticated = False

    @property
    def up(self) -> bool:
        """Tell whether an authenticated connection is open now."""
        return self.authenticated and self._ws is not None and not self._ws.closed

    async def run(self) -> None:
        """Connect, subscribe, then read until the connection ends; always raise why it ended."""
        self._loop = asyncio.get_running_loop()
        ws = await self._session.ws_connect(self.url, autoping=True, heartbeat=None, max_msg_size=0,
                                            timeout=aiohttp.ClientWSTimeout(ws_close=5.0), proxy=self._proxy)
        self._ws = ws
        self.conn_id = secrets.token_hex(6)
        self.authenticated = False
        reader = asyncio.create_task(self._read(ws), name="openws-read")
        pinger: asyncio.Task[None] | None = None
        try:
            try:
                await self.request(SUBSCRIBE, {"bot_id": self._bot_id, "secret": self._secret})
            except OpenWsError as e:
                raise AuthRefused(SUBSCRIBE, e.errcode, e.errmsg) from None
            except NotConnected:
                await reader  # raises why the connection ended before the subscription was answered
                raise ConnectionLost("closed before aibot_subscribe was answered") from None
            self.authenticated = True
            self._on_up()
            pinger = asyncio.create_task(self._ping(ws), name="openws-ping")
            await asyncio.wait({reader, pinger}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                reader.result()
            raise ConnectionLost("no answer to pings")
        finally:
            was_up, self.authenticated, self._ws = self.authenticated, False, None
            for task in (reader, pinger):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            for fut in self._acks.values():
                if not fut.done():
                    fut.set_exception(NotConnected())
            self._acks.clear()
            with contextlib.suppress(Exception):
                await ws.close()
            if was_up:
                self._on_down()

    async def request(self, cmd: str, body: Any, *, req_id: str = "", wait: float | None = None) -> Frame:
        """Send a frame and return the server's ack; raise OpenWsError on a non-zero errcode."""
        ws = self._ws
        if ws is None or ws.closed or (cmd != SUBSCRIBE and not self.authenticated):
            raise NotConnected()
        req_id = req_id or f"{cmd}_{secrets.token_hex(8)}"
        if req_id in self._acks:
            raise RuntimeError(f"a request on {req_id} is still waiting for its ack")
        loop = self._loop or asyncio.get_running_loop()  # run()'s: get_running_loop() is a getpid() system call
        fut: asyncio.Future[Frame] = loop.create_future()
        self._acks[req_id] = fut
        frame: Frame = {"cmd": cmd, "headers": {"req_id": req_id}}
        if body is not None:
            frame["body"] = body
        timer: asyncio.TimerHandle | None = None
        try:
            async with self._send_lock:
                await ws.send_str(json.dumps(frame, ensure_ascii=False))
            # A plain timer on the future rather than asyncio.timeout(): one per reply, and the lighter of the two
            timer = loop.call_later(wait or self._ack_timeout, _expire, fut)
            ack = await fut
        except (ConnectionResetError, aiohttp.ClientError) as e:
            raise NotConnected() from e
        finally:
            if timer is not None:
                timer.cancel()
            if self._acks.get(req_id) is fut:
                del self._acks[req_id]
        code = int(ack.get("errcode", 0) or 0)
        if code != 0:
            raise OpenWsError(cmd, code, str(ack.get("errmsg", "")))
        return ack

    async def close(self) -> None:
        """Close the connection (the running `run` then raises ConnectionLost)."""
        if self._ws is not None:
            await self._ws.close()

    async def upload(self, path: Path, kind: str, file_name: str) -> str:
        """Upload a file as temporary media over the socket (init → chunk × N → finish); return its media_id."""
        data = await asyncio.to_thread(path.read_bytes)
        chunks = max(1, math.ceil(len(data) / UPLOAD_CHUNK_BYTES))
        if len(data) < 5 or chunks > UPLOAD_MAX_CHUNKS:  # WeCom's own code for a size it never takes
            raise OpenWsError(UPLOAD_INIT, 40006, f"{file_name}: {len(data)} bytes cannot be uploaded (5 B to 50 MB)")
        init = await self.request(UPLOAD_INIT, {"type": kind, "filename": file_name, "total_size": len(data),
                                                "total_chunks": chunks, "md5": hashlib.md5(data).hexdigest()})
        upload_id = str((init.get("body") or {}).get("upload_id", ""))
        for n in range(chunks):
            part = data[n * UPLOAD_CHUNK_BYTES:(n + 1) * UPLOAD_CHUNK_BYTES]
            await self.request(UPLOAD_CHUNK, {"upload_id": upload_id, "chunk_index": n,
                                              "base64_data": base64.b64encode(part).decode()})
        finish = await self.request(UPLOAD_FINISH, {"upload_id": upload_id})
        return str((finish.get("body") or {}).get("media_id", ""))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        conn = self.conn_id
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            raw = msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8", "replace")
            try:
                frame = json.loads(raw)
            except ValueError:
                frame, raw = _lenient(raw)
                if frame is None:
                    log.warning("openws: a frame that is not JSON was ignored")
                    continue
            if not isinstance(frame, dict):
                continue
            cmd = frame.get("cmd")
            if cmd in (MSG_CALLBACK, EVENT_CALLBACK):
                body = frame.get("body") or {}
                if cmd == EVENT_CALLBACK and (body.get("event") or {}).get("eventtype") == DISCONNECTED_EVENT:
                    raise Displaced()
                self._on_frame(frame, raw, conn)
                continue
            req_id = str((frame.get("headers") or {}).get("req_id", ""))
            fut = self._acks.get(req_id)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        raise ConnectionLost(f"closed by the server (code {ws.close_code})")

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Ping every heartbeat; return (ending the connection) after MISSED_PINGS pings without an ack."""
        missed = 0
        while missed < MISSED_PINGS:
            await asyncio.sleep(self._heartbeat)
            try:
                await self.request(PING, None, wait=self._heartbeat)
                missed = 0
            except TimeoutError:
                missed += 1
            except OpenWsError as e:
                log.warning("openws: ping refused: %s", e)


async def try_subscribe(session: aiohttp.ClientSession, url: str, bot_id: str, secret: str, *,
                        proxy: str | None = None, within: float = 15.0) -> None:
    """Connect, subscribe with the bot id and secret, and close again; raise why it did not work.

    AuthRefused when WeCom refused the id or secret, ConnectionLost when the server closed first, TimeoutError
    when no answer came `within` seconds, aiohttp's errors when the WebSocket could not be opened.
    """
    up = asyncio.Event()
    ws = OpenWs(session, url, bot_id, secret, on_frame=lambda _frame, _raw, _conn: None, on_up=up.set, proxy=proxy,
                ack_timeout=within)
    run = asyncio.create_task(ws.run(), name="openws-check")
    waiting = asyncio.create_task(up.wait())
    try:
        await asyncio.wait({run, waiting}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if up.is_set():
            await ws.close()
            with contextlib.suppress(ConnectionLost):
                await run
            return
        if run.done():
            run.result()
        raise TimeoutError(f"no answer to aibot_subscribe within {within:.0f} s")
    finally:
        waiting.cancel()
        if not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run


def _lenient(raw: str) -> tuple[Any, str]:
    """Parse a frame carrying raw control characters (a user's text with \\x01 in it comes so); return it and its JSON.

    Like the Node SDK, the control characters are stripped before parsing; tabs and line breaks, which may also
    come raw inside a string, are kept. The frame is serialised again so that what is kept is strict JSON.
    """
    try:
        frame = json.loads(CONTROL_CHARACTERS.sub("", raw), strict=False)
    except ValueError:
        return None, raw
    return frame, json.dumps(frame, ensure_ascii=False)


def _expire(fut: asyncio.Future[Frame]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class DownloadError(Exception):
    """A file of a message could not be fetched or decrypted."""


async def download_decrypted(session: aiohttp.ClientSession, url: str, aeskey: str, dest: Path,
                             limit: int, *, proxy: str | None = None) -> tuple[str, int]:
    """Stream a message's file to dest, decrypting it; return the server's file name and the size.

    AES-256-CBC, key = base64(aeskey) (which may lack its `=` padding), IV = the key's first 16 bytes,
    PKCS#7 padding up to 32 bytes. The last 32 decrypted bytes are held back until the end to strip it.
    """
    try:
        key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4))
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    except ValueError as e:
        raise DownloadError(f"bad aeskey: {e}") from e
    size = 0
    tail = b""
    handle = await asyncio.to_thread(dest.open, "wb")
    try:
        async with session.get(url, proxy=proxy) as resp:
            if resp.status != 200:
                raise DownloadError(f"HTTP {resp.status}")
            name = content_disposition_filename(resp.headers.get("Content-Disposition", ""))
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise DownloadError(f"larger than {limit} bytes")
                out = tail + decryptor.update(chunk)
                tail = out[-32:]
                await asyncio.to_thread(handle.write, out[:-32])
        out = tail + decryptor.finalize()
        pad = out[-1] if out else 0
        if not 1 <= pad <= 32 or out[-pad:] != bytes([pad]) * pad:
            raise DownloadError("bad padding: wrong aeskey or a damaged file")
        await asyncio.to_thread(handle.write, out[:-pad])
        return name, size - pad
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        raise DownloadError(repr(e)) from e
    finally:
        handle.close()
