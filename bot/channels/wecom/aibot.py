"""The WeCom 智能机器人 (AI bot) channel over the long connection: a frame → an envelope, a reply → frames.

duban connects out to openws (no public address, no callback URL, no message crypto). Every callback frame is
decoded and kept by the pipeline (keyed by its msgid, so a redelivery is dropped) as soon as it arrives: the server
does not deliver a frame twice. A reply goes back on the frame's req_id while that connection and the reply window
last; otherwise (the frame was handled after a restart or a reconnect) it is an active push (aibot_send_msg), as
are reminders, notices, /urge and digests from the outbox. Files and images sent in 1:1 chats are downloaded and
decrypted when handled. Choices become a button card (its presses come back as template_card_event and carry the
choice's data) plus numbered lines for clients that show no cards.

Which process holds the connection, and how it is kept up, is bot/channels/wecom/supervisor.py. See openws.py for
why the frames are spoken here rather than through the official SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import mimetypes
import re
import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Any

import aiohttp

from bot.channels.base import ChannelBase
from bot.channels.pipeline import FetchFailed, Keeper, Pipeline, utf8_len
from bot.channels.proxy import proxy_for
from bot.channels.wecom.delivery import Progress
from bot.channels.wecom.openws import (
    RESPOND,
    RESPOND_WELCOME,
    SEND,
    DownloadError,
    Frame,
    NotConnected,
    OpenWs,
    OpenWsError,
    download_decrypted,
)
from bot.channels.wecom.supervisor import Supervisor
from bot.config import Settings
from bot.core.clock import Clock
from bot.core.messages import ENTERED, Attachment, ChatKind, ChatRef, Choice, Envelope, Media, Reply
from bot.store.leases import LeaseRepo

log = logging.getLogger(__name__)

NAME = "wecom-bot"
PAGE = 1300  # characters of a listing page; a markdown message holds 4096 bytes and a CJK character takes 3
MARKDOWN_BYTES = 4000
REPLY_WINDOW = dt.timedelta(minutes=5)  # a reply on the callback's req_id; later ones are pushed
WELCOME_WINDOW = dt.timedelta(seconds=5)  # aibot_respond_welcome_msg is only accepted this soon after enter_chat
MAX_BUTTONS = 6  # a button_interaction card holds at most six buttons
BUTTON_TEXT = 12
RETRY_AFTER = 30.0
CLOSED_KEPT = 1024  # req_ids on which the server refused a reply, remembered so the rest of the answer is pushed
MENTION = re.compile(r"^(?:@\S+\s*)+")
MEDIA = {"image": ("图片", ".jpg", "image/jpeg"), "file": ("文件", "", "application/octet-stream"),
         "video": ("视频", ".mp4", "video/mp4")}
NOT_FETCHED = "没能取到这个{label}（{why}），没有收到。请重新发送一次。"


class WeComBotChannel(ChannelBase):
    """Translate between the WeCom 智能机器人's long connection and the pipeline."""

    name = NAME
    page = PAGE
    limit = MARKDOWN_BYTES
    numbered = "点击下方按钮，或回复序号选择："
    measure = staticmethod(utf8_len)

    def __init__(self, pipeline: Pipeline, settings: Settings, clock: Clock, leases: LeaseRepo) -> None:
        self.pipeline = pipeline
        self.settings = s = settings
        self.clock = clock
        # Its own session: the connection lives for hours and large downloads take long, beyond any total timeout.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30,
                                                                            sock_read=120))
        self.ws = OpenWs(self._session, s.wecom_bot_ws_url, s.wecom_bot_id, s.wecom_bot_secret, on_frame=self._arrived,
                         on_up=self._up, on_down=self._down, proxy=proxy_for(s.wecom_bot_ws_url, s))
        self.supervisor = Supervisor(self.ws, leases, clock, lease=f"{NAME}:{s.wecom_bot_id}",
                                     ttl=dt.timedelta(seconds=s.wecom_bot_lease_s), on_taken=self._taken)
        self._closed: OrderedDict[str, None] = OrderedDict()  # req_ids the server refused a reply on
        self._running: asyncio.Task[None] | None = None
        self._keeper: Keeper | None = None
        # Pushes go out only over the connection this process holds: the outbox sees us as a sender while up.
        pipeline.add(self, online=False)

    @property
    def state(self) -> str:
        """Say where the connection stands: standby, connecting, connected, refused, displaced or stopped."""
        return self.supervisor.state

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start holding the connection (when the lease is ours) and keeping the frames it brings."""
        self._keeper = Keeper(self.pipeline, self.name)
        self._running = asyncio.create_task(self.supervisor.run(), name="wecom-bot-connection")

    async def stop_receiving(self) -> None:
        """Keep taking frames: the server does not redeliver them; what arrives now is kept for the next start."""

    async def stop(self) -> None:
        """Close the connection, keep what already arrived, and give the lease to another process at once."""
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
            self._running = None
        if self._keeper is not None:
            await self._keeper.close(within=10)
            self._keeper = None
        await self.supervisor.release()
        await self._session.close()
        self.supervisor.state = "stopped"

    async def _taken(self) -> None:
        """The lease became ours: handle what the previous holder kept but did not handle."""
        left = await self.pipeline.intake.resume(self.name)
        if left:
            log.warning("resuming %d wecom bot message(s) kept before the connection changed hands", left)

    def _up(self) -> None:
        self.supervisor.connected()
        log.info("智能机器人长连接已建立 — WeCom bot connected to %s", self.ws.url)
        self.pipeline.online(self.name, True)

    def _down(self) -> None:
        self.pipeline.online(self.name, False)

    # ---- receiving: keep first ----------------------------------------------------------------
    def _arrived(self, frame: Frame, raw: str, conn: str) -> None:
        envelope = self.decode({"conn": conn, "received_at": self.clock.real_utcnow().isoformat(), "frame": frame})
        if envelope is not None and self._keeper is not None:
            self._keeper.put(envelope)

    # ---- decode, fetch, deliver ----------------------------------------------------------------
    def decode(self, raw: dict[str, Any]) -> Envelope | None:
        """Read a callback frame as it arrived."""
        return decode_frame(raw)

    async def fetch(self, media: Media, dest: Path) -> Attachment:
        """Download and decrypt a file or image (its URL and aeskey came in the frame)."""
        label = MEDIA.get(media.kind, ("文件",))[0]
        try:
            name, size = await download_decrypted(self._session, media.ref, media.secret, dest,
                                                  self.settings.upload_max_mb * 1024 * 1024,
                                                  proxy=proxy_for(media.ref, self.settings))
        except DownloadError as e:
            log.warning("wecom bot %s not fetched: %s", media.kind, e)
            too_big = "larger" in str(e)
            raise FetchFailed(NOT_FETCHED.format(label=label, why="文件过大" if too_big else "下载或解密失败"),
                              passing=not too_big) from e
        name = name or media.name
        return Attachment(name, dest, mimetypes.guess_type(name)[0] or media.mime_type, size)

    async def begin(self, answering: Envelope, replies: list[Reply]) -> list[Reply]:
        """Greet someone opening the chat in the one welcome message WeCom allows within seconds, or not at all."""
        if answering.event != ENTERED or not replies:
            return replies
        if self._may_answer(answering, WELCOME_WINDOW):
            content = "\n\n".join(r.text for r in replies)[:1000]
            with contextlib.suppress(OpenWsError, NotConnected):
                await self.ws.request(RESPOND_WELCOME, {"msgtype": "text", "text": {"content": content}},
                                      req_id=answering.reply_to["req_id"])
        return []

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Send one reply: on the message's req_id while it may be used, else pushed; retry later (only what is
        undelivered) when no connection is up or the server refuses it now, give up when it refuses for good."""
        progress = Progress()
        try:
            for body, rest in self._bodies(reply):
                if answering is not None and self._may_answer(answering, REPLY_WINDOW):
                    req_id = answering.reply_to["req_id"]
                    try:
                        await self.ws.request(RESPOND, _as_stream(body), req_id=req_id)
                        progress.sent(rest)
                        continue
                    except OpenWsError as e:  # too late or not accepted on this req_id: push it instead
                        log.info("reply on %s refused (%s); pushing it", req_id, e)
                        self._closed[req_id] = None
                        while len(self._closed) > CLOSED_KEPT:
                            self._closed.popitem(last=False)
                await self._push(chat, body)
                progress.sent(rest)
            if reply.file is not None:
                kind = "image" if reply.file.is_image else "file"
                media_id = await self.ws.upload(reply.file.path, kind, reply.file.file_name)
                await self._push(chat, {"msgtype": kind, kind: {"media_id": media_id}})
        except NotConnected as e:
            raise progress.later("智能机器人长连接未建立", RETRY_AFTER) from e
        except OpenWsError as e:
            raise progress.refused(e.errcode, e.errmsg,
                                   unreachable="企业微信无法送达：成员不存在或不在机器人的可用范围内") from e

    async def _push(self, chat: ChatRef, body: Frame) -> None:
        await self.ws.request(SEND, {"chatid": chat.chat_id, "chat_type": 2 if chat.kind is ChatKind.GROUP else 1,
                                     **body})

    def _may_answer(self, answering: Envelope, window: dt.timedelta) -> bool:
        """Tell whether a message may still be answered on its req_id: same connection, within the window."""
        req_id, at = answering.reply_to.get("req_id", ""), answering.reply_to.get("at", "")
        return (bool(req_id) and bool(at) and req_id not in self._closed
                and answering.reply_to.get("conn") == self.ws.conn_id and self.ws.up
                and self.clock.real_utcnow() - dt.datetime.fromisoformat(at) <= window)

    def _bodies(self, reply: Reply) -> list[tuple[Frame, Reply]]:
        """Render a reply as a markdown message, then a button card for its choices; each with what is left after.

        Text that is only the numbered lines of the choices is the rest of a reply whose text went out but whose
        card did not: the card goes alone.
        """
        question = "" if reply.text.startswith(self.numbered) else reply.text
        text = question
        if reply.link is not None:
            text += f"\n[{reply.link[0]}]({reply.link[1]})"
        bodies: list[tuple[Frame, Reply]] = []
        if text.strip():
            bodies.append(({"msgtype": "markdown", "markdown": {"content": text}},
                           Reply("", choices=reply.choices, file=reply.file)))
        if reply.choices:
            bodies.append(({"msgtype": "template_card", "template_card": _card(question, reply.choices)},
                           Reply("", file=reply.file)))
        return bodies


def decode_frame(raw: dict[str, Any]) -> Envelope | None:
    """Read a callback frame as it arrived ({conn, received_at, frame}): a message, a button press, or
    someone opening the chat. Its req_id, connection and arrival time say how long it can be answered directly.
    """
    frame: Frame = raw.get("frame") or {}
    body: dict[str, Any] = frame.get("body") or {}
    msgid = str(body.get("msgid", ""))
    user = str((body.get("from") or {}).get("userid", ""))
    if not msgid or not user:
        log.warning("wecom bot frame without msgid or sender ignored")
        return None
    group = body.get("chattype") == "group"
    chat = ChatRef(NAME, str(body.get("chatid") or user) if group else user,
                   ChatKind.GROUP if group else ChatKind.PRIVATE)
    reply_to = {"req_id": str((frame.get("headers") or {}).get("req_id", "")), "conn": str(raw.get("conn", "")),
                "at": str(raw.get("received_at", ""))}
    key = f"{NAME}:{msgid}"
    if body.get("msgtype") == "event":
        event = body.get("event") or {}
        etype = event.get("eventtype")
        if etype == "template_card_event":
            key_pressed = str((event.get("template_card_event") or {}).get("event_key", ""))
            # an event is answered by a push (errcode 846605), not on its req_id
            return Envelope(key, chat, user, message_id=msgid, callback=key_pressed)
        if etype == "enter_chat":
            return Envelope(key, chat, user, message_id=msgid, reply_to=reply_to, event=ENTERED)
        return None
    text, sources = _content(body)
    if group:
        text = MENTION.sub("", text.strip())
    tag = msgid[-8:]
    media = tuple(Media(kind, url, f"{MEDIA[kind][0]}-{tag}{n or ''}{MEDIA[kind][1]}", mime_type=MEDIA[kind][2],
                        secret=aeskey) for n, (kind, url, aeskey) in enumerate(sources))
    return Envelope(key, chat, user, message_id=msgid, reply_to=reply_to, text=text, media=media)



def _content(body: dict[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """Return a message's text and its downloadable files (kind, url, aeskey), whatever its msgtype.

    A file, image or video the message quotes (a user @-ing the bot in a group while quoting a file) counts as
    sent with it; the quoted text does not.
    """
    kind = body.get("msgtype")
    text, files = "", list[tuple[str, str, str]]()
    if kind == "text":
        text = str((body.get("text") or {}).get("content", ""))
    elif kind == "voice":  # WeCom transcribes voice messages
        text = str((body.get("voice") or {}).get("content", ""))
    elif kind in MEDIA:
        media = body.get(kind) or {}
        files = [(kind, str(media.get("url", "")), str(media.get("aeskey", "")))]
    elif kind == "mixed":
        texts: list[str] = []
        for item in (body.get("mixed") or {}).get("msg_item") or []:
            t, f = _content(item)
            texts.append(t)
            files += f
        text = "\n".join(t for t in texts if t)
    quote = body.get("quote")
    if isinstance(quote, dict):
        files += _content(quote)[1]
    return text, files


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
