"""The WeCom 智能机器人 (AI bot) channel over the long connection: frames → Incoming, replies → frames.

duban connects out to openws (no public address, no callback URL, no message crypto). Every callback frame is
kept in the durable intake (keyed by its msgid, so a redelivery is dropped) before it is handled; handling runs
per chat in order. A reply goes back on the frame's req_id while that connection and the reply window last;
otherwise (the frame was handled after a restart or a reconnect) it is an active push (aibot_send_msg), as are
reminders, notices, /urge and digests from the outbox. Files and images sent in 1:1 chats are downloaded,
decrypted and handed to the core like Telegram uploads. Choices become a button card (its presses come back as
template_card_event and carry the choice's data) plus numbered lines for clients that show no cards.

One connection per bot across processes: a database lease names the holder; only the holder connects, renews
the lease while it lives, and hands over when it stops; another process takes over once the lease lapsed
(DUBAN_WECOM_BOT_LEASE_S). A displaced connection gives the lease up and waits instead of reconnecting at once;
a refused bot id/secret is logged once per long pause, never retried in a loop. See openws.py for why the
frames are spoken here rather than through the official SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import mimetypes
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import App
from bot.channels.wecom.api import split_markdown
from bot.channels.wecom.choices import NumberedChoices
from bot.channels.wecom.openws import (
    RESPOND,
    RESPOND_WELCOME,
    SEND,
    AuthRefused,
    ConnectionLost,
    Displaced,
    DownloadError,
    Frame,
    NotConnected,
    OpenWs,
    OpenWsError,
    download_decrypted,
)
from bot.core.messages import Attachment, ChatKind, ChatRef, Choice, Incoming, Reply
from bot.outbox import TemporaryFailure
from bot.store.inbound import Arrival, Kept

log = logging.getLogger(__name__)

NAME = "wecom-bot"
REPLY_LIMIT = 1300  # characters per reply; a markdown message holds 4096 bytes and a CJK character takes 3
MARKDOWN_BYTES = 4000
REPLY_WINDOW = dt.timedelta(minutes=5)  # a reply on the callback's req_id; later ones are pushed
WELCOME_WINDOW = dt.timedelta(seconds=5)  # aibot_respond_welcome_msg is only accepted this soon after enter_chat
MAX_BUTTONS = 6  # a button_interaction card holds at most six buttons
BUTTON_TEXT = 12
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0  # reconnecting after a network loss
DISPLACED_WAIT, DISPLACED_MAX = 60.0, 1800.0  # after a newer connection replaced ours: wait, doubling
AUTH_RETRY = 600.0  # after the bot id/secret was refused: one line in the log, then a long pause
RETRY_AFTER = 30.0
MENTION = re.compile(r"^(?:@\S+\s*)+")
MEDIA = {"image": ("图片", ".jpg", "image/jpeg"), "file": ("文件", "", "application/octet-stream")}
NOT_FETCHED = "没能取到这个{label}（{why}），没有收到。请重新发送一次。"


class LeaseLost(Exception):
    """Another process holds the connection's lease now."""


@dataclass
class _ReplyTo:
    """Where a kept frame may be answered directly: its req_id, on its own connection, within the window."""

    req_id: str
    conn: str
    received_at: dt.datetime
    window: dt.timedelta
    closed: bool = False  # the server refused a reply on it: push the rest


class WeComBotChannel:
    """Translate between the WeCom 智能机器人's long connection and the core."""

    name = NAME

    def __init__(self, app: App, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        s = app.settings
        # Its own session: the connection lives for hours and large downloads take long, beyond any total timeout.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30,
                                                                            sock_read=120))
        self.ws = OpenWs(self._session, s.wecom_bot_ws_url, s.wecom_bot_id, s.wecom_bot_secret, on_frame=self._arrived,
                         on_up=self._up, on_down=self._down)
        self._choices = NumberedChoices(monotonic)
        self.lease = f"{NAME}:{s.wecom_bot_id}"
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._ttl = dt.timedelta(seconds=s.wecom_bot_lease_s)
        self._holding = False
        self.state = "stopped"  # standby | connecting | connected | refused | displaced | stopped
        self._arrivals: asyncio.Queue[tuple[Frame, str, str]] = asyncio.Queue()
        self._supervisor: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def install(self, web_app: web.Application) -> None:
        """Add nothing: the long connection goes out, nothing comes in over HTTP."""

    async def start(self) -> None:
        """Start holding the connection (when the lease is ours) and keeping the frames it brings."""
        # Pushes go out only over the connection this process holds: the outbox sees us as a sender while up.
        self.app.outbox.senders.pop(self.name, None)
        self._keeper = asyncio.create_task(self._keep_arrivals(), name="wecom-bot-keep")
        self._supervisor = asyncio.create_task(self._supervise(), name="wecom-bot-connection")

    async def stop_receiving(self) -> None:
        """Keep taking frames: the server does not redeliver them; what arrives now is kept for the next start."""

    async def stop(self) -> None:
        """Close the connection, keep what already arrived, and give the lease to another process at once."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._keeper is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):  # what arrived is kept unless the database is away
                    await self._arrivals.join()
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        await self._release()
        await self._session.close()
        self.state = "stopped"

    # ---- the connection, held under the lease --------------------------------------------------
    async def _supervise(self) -> None:
        backoff, displaced_wait = BACKOFF_MIN, DISPLACED_WAIT
        standby_logged = False
        while True:
            try:
                holding = await self._take_lease()
            except Exception:  # the database is away: no lease can be proven, so no connection
                log.exception("taking the wecom bot lease failed")
                holding = False
            if not holding:
                if not standby_logged:
                    log.info("另一个督办助手进程持有智能机器人的长连接，本进程待命 — "
                             "another instance holds the WeCom bot connection; standing by")
                    standby_logged = True
                self.state = "standby"
                await asyncio.sleep(self._ttl.total_seconds() / 4)
                continue
            standby_logged = False
            self.state = "connecting"
            try:
                await self._connected_under_lease()
            except AuthRefused as e:
                self.state = "refused"
                log.error("企业微信拒绝了智能机器人的 BotID 或 Secret（errcode %s：%s），请检查 DUBAN_WECOM_BOT_ID 和 "
                          "DUBAN_WECOM_BOT_SECRET；%d 分钟后再试 — WeCom refused the bot id or secret; retrying in "
                          "%d min", e.errcode, e.errmsg, AUTH_RETRY // 60, AUTH_RETRY // 60)
                await self._release()
                await asyncio.sleep(AUTH_RETRY)
                continue
            except Displaced:
                self.state = "displaced"
                log.warning("智能机器人的长连接被同一 BotID 的新连接顶替，本进程让出连接，%d 秒后再看 — displaced by a "
                            "newer connection for the same bot; giving up the lease for %d s", displaced_wait,
                            displaced_wait)
                await self._release()
                await asyncio.sleep(displaced_wait)
                displaced_wait = min(displaced_wait * 2, DISPLACED_MAX)
                continue
            except LeaseLost:
                log.warning("智能机器人长连接的租约已由另一个进程接管，本进程断开 — lease taken over; disconnected")
                self._holding = False
                continue
            except (ConnectionLost, NotConnected, aiohttp.ClientError, OSError, TimeoutError) as e:
                log.warning("智能机器人长连接断开，%.0f 秒后重连 — connection lost, reconnecting in %.0f s: %s",
                            backoff, backoff, e)
            except Exception:  # a bug of ours: log it, keep the process and the connection attempts alive
                log.exception("wecom bot connection failed")
            if self.state == "connected":
                backoff, displaced_wait = BACKOFF_MIN, DISPLACED_WAIT
            self.state = "connecting"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _connected_under_lease(self) -> None:
        """Run one connection while renewing the lease; end it when the lease is lost."""
        run = asyncio.create_task(self.ws.run(), name="wecom-bot-ws")
        renew = asyncio.create_task(self._renew(), name="wecom-bot-lease")
        try:
            await asyncio.wait({run, renew}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (run, renew):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({task})
        if renew.done() and not renew.cancelled():
            renew.result()
        run.result()

    async def _renew(self) -> None:
        """Renew the lease every third of its term; raise LeaseLost when another process has it."""
        every = self._ttl.total_seconds() / 3
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                if not await self._take_lease():
                    raise LeaseLost()
                last_ok = time.monotonic()
            except LeaseLost:
                raise
            except Exception:
                log.exception("renewing the wecom bot lease failed")
                if time.monotonic() - last_ok > self._ttl.total_seconds() - every:
                    raise LeaseLost() from None  # it may lapse before we can renew: let go first

    async def _take_lease(self) -> bool:
        got = await self.app.store.leases.take(self.lease, self.holder, self.app.clock.real_utcnow(), self._ttl)
        if got and not self._holding:
            # Newly ours (at start, or after the previous holder died): handle what it left kept but unhandled.
            self.app.intake.register(self.name, self._handle_kept)
            left = await self.app.intake.resume(self.name)
            if left:
                log.warning("resuming %d wecom bot message(s) kept before the connection changed hands", left)
        self._holding = got
        return got

    async def _release(self) -> None:
        if self._holding:
            self._holding = False
            with contextlib.suppress(Exception):
                await self.app.store.leases.release(self.lease, self.holder)

    def _up(self) -> None:
        self.state = "connected"
        log.info("智能机器人长连接已建立 — WeCom bot connected to %s", self.ws.url)
        self.app.outbox.senders[self.name] = self
        self.app.outbox.wake()

    def _down(self) -> None:
        self.app.outbox.senders.pop(self.name, None)

    # ---- receiving: keep first ----------------------------------------------------------------
    def _arrived(self, frame: Frame, raw: str, conn: str) -> None:
        self._arrivals.put_nowait((frame, raw, conn))

    async def _keep_arrivals(self) -> None:
        """Keep frames in the intake, as many as have arrived in one transaction (order preserved)."""
        while True:
            batch = [await self._arrivals.get()]
            while not self._arrivals.empty():
                batch.append(self._arrivals.get_nowait())
            arrivals = [a for a in (self._arrival(*arrived) for arrived in batch) if a is not None]
            delay = 0.5
            while True:
                try:
                    await asyncio.shield(self.app.intake.keep(self.name, arrivals))  # a stop lets the commit finish
                    break
                except Exception:  # the database is away: the frames exist only here, so try until they are kept
                    log.exception("keeping %d wecom bot frame(s) failed; retrying", len(arrivals))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            for _ in batch:
                self._arrivals.task_done()

    def _arrival(self, frame: Frame, raw: str, conn: str) -> Arrival | None:
        """The frame as kept: itself, the connection it came on (its req_id is only valid there) and when.

        The frame's own JSON text is stored as it came (`Arrival.stored`) rather than serialised again.
        """
        body = frame.get("body") or {}
        msgid = str(body.get("msgid", ""))
        user = str((body.get("from") or {}).get("userid", ""))
        if not msgid or not user:
            log.warning("wecom bot frame without msgid or sender ignored")
            return None
        chat = str(body.get("chatid") or user) if body.get("chattype") == "group" else user
        received = self.app.clock.real_utcnow().isoformat()  # conn (hex) and this need no JSON escaping
        return Arrival(f"{NAME}:{msgid}", f"{NAME}:{chat}", {"conn": conn, "received_at": received, "frame": frame},
                       stored=f'{{"conn": "{conn}", "received_at": "{received}", "frame": {raw}}}')

    # ---- handling a kept frame -----------------------------------------------------------------
    async def _handle_kept(self, batch: list[Kept]) -> None:
        for kept in batch:
            await self._handle_one(kept)

    async def _handle_one(self, kept: Kept) -> None:
        p = kept.payload
        # kept as {conn, received_at, frame}; one kept by an older version has req_id and body beside them
        frame: Frame = p.get("frame") or {"headers": {"req_id": p.get("req_id", "")}, "body": p.get("body")}
        body: dict[str, Any] = frame.get("body") or {}
        user = str((body.get("from") or {}).get("userid", ""))
        group = body.get("chattype") == "group"
        chat = ChatRef(NAME, str(body.get("chatid") or user) if group else user,
                       ChatKind.GROUP if group else ChatKind.PRIVATE)
        reply_to = _ReplyTo(str((frame.get("headers") or {}).get("req_id", "")), str(p.get("conn", "")),
                            dt.datetime.fromisoformat(str(p["received_at"])), REPLY_WINDOW)

        def incoming(**kw: Any) -> Incoming:
            return Incoming(channel=NAME, user_id=user, chat=chat, message_id=kept.key, reply_limit=REPLY_LIMIT, **kw)

        kind = body.get("msgtype")
        if kind == "event":
            event = body.get("event") or {}
            etype = event.get("eventtype")
            if etype == "template_card_event":
                key = str((event.get("template_card_event") or {}).get("event_key", ""))
                await self._converse(incoming(callback=key), kept.key, None)
            elif etype == "enter_chat":
                await self._welcome(incoming(), dataclasses.replace(reply_to, window=WELCOME_WINDOW))
            return
        text, sources = _content(body)
        if group:
            text = MENTION.sub("", text.strip())
        picked = self._choices.pick(chat.key(), text) if text and not sources else None
        if picked is not None:
            await self._converse(incoming(callback=picked.data), kept.key, reply_to)
            return
        atts: list[Attachment] = []
        refusals: list[Reply] = []
        try:
            for n, (kind_, url, aeskey) in enumerate(sources):
                got = await self._download(kind_, url, aeskey, f"{kept.key.rsplit(':', 1)[-1][-8:]}{n or ''}")
                if isinstance(got, Attachment):
                    atts.append(got)
                else:
                    refusals.append(got)
            if atts or not refusals:
                await self._converse(incoming(text=text, attachments=tuple(atts)), kept.key, reply_to,
                                     before=refusals)
            else:
                await self.app.outbox.answer(_Responder(self, reply_to), chat, refusals, kept.key)
        finally:
            for att in atts:
                att.path.unlink(missing_ok=True)

    async def _download(self, kind: str, url: str, aeskey: str, tag: str) -> Attachment | Reply:
        label, suffix, mime = MEDIA[kind]
        path = self.app.scratch_file("wecom-bot-")
        try:
            name, size = await download_decrypted(self._session, url, aeskey, path,
                                                  self.app.settings.upload_max_mb * 1024 * 1024)
        except DownloadError as e:
            path.unlink(missing_ok=True)
            log.warning("wecom bot %s not fetched: %s", kind, e)
            return Reply(NOT_FETCHED.format(label=label, why="文件过大" if "larger" in str(e) else "下载或解密失败"))
        name = name or f"{label}-{tag}{suffix}"
        return Attachment(name, path, mimetypes.guess_type(name)[0] or mime, size)

    async def _converse(self, incoming: Incoming, key: str, reply_to: _ReplyTo | None, *,
                        before: list[Reply] | None = None) -> None:
        replies = (before or []) + await self.app.conversation.handle(incoming)
        await self.app.outbox.answer(_Responder(self, reply_to), incoming.chat, replies, key)

    async def _welcome(self, base: Incoming, reply_to: _ReplyTo) -> None:
        """Greet on enter_chat with the help text, if still within the few seconds WeCom allows."""
        if not self._can_respond(reply_to):
            return
        replies = await self.app.conversation.handle(dataclasses.replace(base, text="/help"))
        content = "\n\n".join(r.text for r in replies)[:1000]
        with contextlib.suppress(OpenWsError, NotConnected):
            await self.ws.request(RESPOND_WELCOME, {"msgtype": "text", "text": {"content": content}},
                                  req_id=reply_to.req_id)

    # ---- outbound ------------------------------------------------------------------------------
    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Push a reply (aibot_send_msg); retry later when no connection is up or the server refuses it now."""
        await self._deliver(chat, reply, None)

    async def _deliver(self, chat: ChatRef, reply: Reply, reply_to: _ReplyTo | None) -> None:
        try:
            for body in self._bodies(chat, reply):
                if reply_to is not None and self._can_respond(reply_to):
                    try:
                        await self.ws.request(RESPOND, _as_stream(body), req_id=reply_to.req_id)
                        continue
                    except OpenWsError as e:  # too late or not accepted on this req_id: push it instead
                        log.info("reply on %s refused (%s); pushing it", reply_to.req_id, e)
                        reply_to.closed = True
                await self._push(chat, body)
            if reply.file is not None:
                kind = "image" if reply.file.is_image else "file"
                media_id = await self.ws.upload(reply.file.path, kind, reply.file.file_name)
                await self._push(chat, {"msgtype": kind, kind: {"media_id": media_id}})
        except NotConnected as e:
            raise TemporaryFailure("智能机器人长连接未建立", retry_after=RETRY_AFTER) from e
        except OpenWsError as e:
            raise TemporaryFailure(f"企业微信拒绝了消息：{e}", retry_after=RETRY_AFTER) from e

    async def _push(self, chat: ChatRef, body: Frame) -> None:
        await self.ws.request(SEND, {"chatid": chat.chat_id, "chat_type": 2 if chat.kind is ChatKind.GROUP else 1,
                                     **body})

    def _can_respond(self, reply_to: _ReplyTo) -> bool:
        return (not reply_to.closed and bool(reply_to.req_id) and reply_to.conn == self.ws.conn_id and self.ws.up
                and self.app.clock.real_utcnow() - reply_to.received_at <= reply_to.window)

    def _bodies(self, chat: ChatRef, reply: Reply) -> list[Frame]:
        """Render a reply as markdown messages (split to the size limit), then a button card for its choices."""
        text = reply.text
        if reply.link is not None:
            text += f"\n[{reply.link[0]}]({reply.link[1]})"
        if reply.choices:
            text = "\n".join([text, "", "点击下方按钮，或回复序号选择：", *self._choices.number(chat.key(), reply.choices)])
        bodies: list[Frame] = [{"msgtype": "markdown", "markdown": {"content": part}}
                               for part in (split_markdown(text, MARKDOWN_BYTES) if text.strip() else [])]
        if reply.choices:
            bodies.append({"msgtype": "template_card", "template_card": _card(reply.text, reply.choices)})
        return bodies


class _Responder:
    """The sender for one kept frame's replies: on its req_id while that may be used, else pushed."""

    def __init__(self, channel: WeComBotChannel, reply_to: _ReplyTo | None) -> None:
        self._channel = channel
        self._reply_to = reply_to

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Deliver one reply; raise TemporaryFailure to leave it to the outbox."""
        await self._channel._deliver(chat, reply, self._reply_to)


def _content(body: dict[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """Return a message's text and its downloadable files (kind, url, aeskey), whatever its msgtype."""
    kind = body.get("msgtype")
    if kind == "text":
        return str((body.get("text") or {}).get("content", "")), []
    if kind == "voice":  # WeCom transcribes voice messages
        return str((body.get("voice") or {}).get("content", "")), []
    if kind in MEDIA:
        media = body.get(kind) or {}
        return "", [(kind, str(media.get("url", "")), str(media.get("aeskey", "")))]
    if kind == "mixed":
        texts: list[str] = []
        files: list[tuple[str, str, str]] = []
        for item in (body.get("mixed") or {}).get("msg_item") or []:
            t, f = _content(item)
            texts.append(t)
            files += f
        return "\n".join(t for t in texts if t), files
    return "", []


def _as_stream(body: Frame) -> Frame:
    """Turn a pushed markdown body into a finished stream reply (the form aibot_respond_msg takes for text)."""
    if body.get("msgtype") != "markdown":
        return body
    return {"msgtype": "stream", "stream": {"id": secrets.token_hex(8), "finish": True,
                                            "content": body["markdown"]["content"]}}


def _card(text: str, choices: tuple[Choice, ...]) -> Frame:
    """Build a button_interaction card: the question as its title, one button per choice (key = its data)."""
    first = text.strip().split("\n", 1)[0]
    return {"card_type": "button_interaction",
            "main_title": {"title": first[:26] or "请选择", "desc": first[26:80]},
            "task_id": f"duban_{secrets.token_hex(8)}",
            "button_list": [{"text": c.label[:BUTTON_TEXT], "style": 1, "key": c.data}
                            for c in choices[:MAX_BUTTONS]]}
