"""The WeCom (企业微信) self-built app (自建应用): its callback in, message/send out.

Callback: WeCom POSTs an encrypted XML envelope to /wecom/callback; it is verified, decrypted, decoded and
kept by the pipeline, then answered with an empty 200; replies go out through message/send. Nothing here
decides business questions: text, images and events become envelopes, and the core's replies become text,
textcards, files and images.

Choices: a self-built app's text messages carry no buttons, so the pipeline renders them as numbered lines
("请回复序号选择：1. …") and reads a bare number back as the choice (bot.channels.choices). (Template cards with
button_interaction would give real buttons, but need a card-event callback round trip, WeCom 3.1.6+, and are
not shown in the WeChat plugin.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.base import ChannelBase
from bot.channels.pipeline import FetchFailed, Pipeline, utf8_len
from bot.channels.proxy import proxy_for
from bot.channels.wecom.api import WeComApi, WeComApiError
from bot.channels.wecom.crypto import WeComCrypto, WeComCryptoError, parse_callback_xml
from bot.channels.wecom.delivery import Limiter, Progress
from bot.config import Settings
from bot.core.clock import Clock
from bot.core.errors import UserError
from bot.core.messages import ENTERED, FOLLOWED, UNSUPPORTED, Attachment, ChatKind, ChatRef, Envelope, Media, Reply
from bot.outbox import Unreachable

log = logging.getLogger(__name__)

CALLBACK_PATH = "/wecom/callback"
PAGE = 600  # characters of a listing page; a WeCom text holds 2048 bytes, a CJK character takes 3
TEXT_LIMIT = 2048  # bytes of one message/send text
MAX_CALLBACK_BODY = 256 * 1024  # a callback envelope is a few KB
PER_MEMBER_PER_MINUTE = 30  # WeCom drops, silently, an app's messages to one member beyond this
GREETINGS = {"subscribe": FOLLOWED, "enter_agent": ENTERED}
# file is not documented as delivered to self-built apps; if it ever is, it is evidence like the rest
MEDIA_TYPES = {"image": ("图片", ".jpg", "image/jpeg"), "video": ("视频", ".mp4", "video/mp4"),
               "file": ("文件", "", "application/octet-stream")}


def decode_callback(raw: dict[str, Any]) -> Envelope | None:
    """Read a decrypted callback: text, an image or video, or the app being opened."""
    msg = {k: str(v) for k, v in raw.items()}
    user, kind = msg["FromUserName"], msg["MsgType"]
    base = Envelope(_message_key(msg), ChatRef(WeComAppChannel.name, user, ChatKind.PRIVATE), user,
                    message_id=msg.get("MsgId", ""))
    if kind == "text":
        return dataclasses.replace(base, text=msg.get("Content", ""))
    if kind in MEDIA_TYPES:
        label, suffix, mime = MEDIA_TYPES[kind]
        default = f"{label}-{msg.get('MsgId') or msg.get('CreateTime', '')}{suffix}"
        return dataclasses.replace(base, media=(Media(kind, msg.get("MediaId", ""), default, mime_type=mime),))
    if kind == "event":
        return dataclasses.replace(base, event=GREETINGS[msg["Event"]]) if msg.get("Event", "") in GREETINGS else None
    return dataclasses.replace(base, event=UNSUPPORTED)



def _message_key(msg: dict[str, str]) -> str:
    """Identify a callback across WeCom's retries: MsgId, or sender + time + event for events."""
    if msg.get("MsgId"):
        return f"wecom:{msg['MsgId']}"
    return f"wecom:{msg['FromUserName']}:{msg.get('CreateTime', '')}:{msg.get('Event', '')}"


class WeComAppChannel(ChannelBase):
    """Translate between a WeCom self-built application and the pipeline."""

    name = "wecom"
    page = PAGE
    limit = TEXT_LIMIT
    numbered = "请回复序号选择："
    measure = staticmethod(utf8_len)

    def __init__(self, pipeline: Pipeline, settings: Settings, clock: Clock, session: aiohttp.ClientSession, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.pipeline = pipeline
        self.settings = s = settings
        self.clock = clock
        try:
            self.crypto = WeComCrypto(s.wecom_token, s.wecom_aes_key, s.wecom_corp_id)
        except WeComCryptoError as e:
            raise UserError(f"DUBAN_WECOM_AES_KEY 无效（应为企业微信后台生成的 43 位 EncodingAESKey）：{e}") from e
        self.api = WeComApi(session, s.wecom_corp_id, s.wecom_secret, s.wecom_agent_id, base_url=s.wecom_api_url,
                            proxy=proxy_for(s.wecom_api_url, s))
        self._monotonic = monotonic
        self._limiters: dict[str, Limiter] = {}
        self._closing = False
        pipeline.add(self)

    # ---- lifecycle ---------------------------------------------------------------------------
    def install(self, web_app: web.Application) -> None:
        """Serve WeCom's callback URL (GET verification, POST messages)."""
        web_app.router.add_get(CALLBACK_PATH, self._verify_url)
        web_app.router.add_post(CALLBACK_PATH, self._callback)

    async def start(self) -> None:
        """Nothing to start: WeCom calls us (what a crash left unhandled is resumed by the intake)."""
        self._closing = False

    async def stop_receiving(self) -> None:
        """Refuse new callbacks with 503: WeCom retries them, and the next process keeps them."""
        self._closing = True

    async def stop(self) -> None:
        """Refuse new callbacks."""
        self._closing = True

    # ---- callback ----------------------------------------------------------------------------
    async def _verify_url(self, request: web.Request) -> web.Response:
        q = request.query
        # yarl decodes a literal '+' as a space; base64 has no spaces, so every space was a '+'
        echostr = q.get("echostr", "").replace(" ", "+")
        if not self._fresh(q.get("timestamp", "")):
            return web.Response(status=403)
        try:
            plain = self.crypto.verify_url(q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", ""),
                                           echostr)
        except WeComCryptoError as e:
            log.warning("wecom URL verification refused: %s", e)
            return web.Response(status=403)
        return web.Response(text=plain)

    async def _callback(self, request: web.Request) -> web.Response:
        if self._closing:
            return web.Response(status=503)  # WeCom retries; the next process handles it
        q = request.query
        if not self._fresh(q.get("timestamp", "")):
            return web.Response(status=403)
        body = await _read_limited(request, MAX_CALLBACK_BODY)
        if body is None:
            return web.Response(status=403)
        try:
            envelope = parse_callback_xml(body)
            inner = self.crypto.decrypt(q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", ""),
                                        envelope.get("Encrypt", ""))
            msg = parse_callback_xml(inner.encode())
        except WeComCryptoError as e:
            log.warning("wecom callback refused: %s", e)
            return web.Response(status=403)
        if not msg.get("FromUserName") or not msg.get("MsgType"):
            return web.Response(status=403)
        decoded = self.decode(msg)
        if decoded is None:
            return web.Response()  # an event duban does not act on
        # Kept before the acknowledgement: WeCom never resends an acknowledged message, so a crash while
        # handling it must not lose it (the intake resumes it on start). A retried delivery finds its key.
        try:
            new = await self.pipeline.keep([decoded])
        except Exception:
            log.exception("keeping a wecom callback failed; WeCom will retry it")
            return web.Response(status=503)
        if not new:
            log.info("wecom retry ignored: %s", decoded.key)
        return web.Response()

    def _fresh(self, timestamp: str) -> bool:
        """Tell whether a callback's timestamp lies inside the replay window (0 disables it)."""
        window = self.settings.wecom_replay_window_s
        if window <= 0:
            return True
        try:
            sent = int(timestamp)
        except ValueError:
            return False
        return abs(self.clock.real_utcnow().timestamp() - sent) <= window

    # ---- decode, fetch, deliver ----------------------------------------------------------------
    def decode(self, raw: dict[str, Any]) -> Envelope | None:
        """Read a decrypted callback."""
        return decode_callback(raw)

    async def fetch(self, media: Media, dest: Path) -> Attachment:
        """Download an image or video by its MediaId (valid three days)."""
        label = MEDIA_TYPES.get(media.kind, ("文件", "", ""))[0]
        try:
            file_name, size = await self.api.download_media(media.ref, dest)
        except WeComApiError as e:
            log.warning("wecom media %s not downloaded: %s", media.ref, e)
            raise FetchFailed(f"没能取到这个{label}，请重新发送。", passing=e.errcode == -1) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise FetchFailed(f"没能取到这个{label}（网络错误），请重新发送。", passing=True) from e
        if "." not in file_name or file_name == media.ref:
            file_name = media.name
        return Attachment(file_name, dest, mimetypes.guess_type(file_name)[0] or media.mime_type, size)

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Send one reply (a text, a textcard for a link, a file); WeCom's refusals become retry-later (only what
        is undelivered), unreachable, or refused for good."""
        progress = Progress()
        try:
            await self._deliver(chat.chat_id, reply, progress)
        except WeComApiError as e:
            raise progress.refused(e.errcode, e.errmsg,
                                   unreachable="企业微信无法送达：成员不存在或不在应用可见范围内") from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise progress.later(f"企业微信网络错误：{e!r}") from e

    async def _deliver(self, user: str, reply: Reply, progress: Progress) -> None:
        limiter = self._limiters.setdefault(user, Limiter(PER_MEMBER_PER_MINUTE, 60.0, self._monotonic))
        text = reply.text
        if text.strip():
            await limiter.wait()
            _check_delivered(await self.api.send_text(user, text), user)
            progress.sent(Reply("", link=reply.link, file=reply.file))  # its choices went out as numbered lines
        if reply.link is not None:
            title, url = reply.link
            first = html.escape(text.split("\n", 1)[0][:80]) if text else ""
            desc = (f'<div class="gray">{first}</div>' if first else "") + (
                '<div class="normal">点击「上传」在网页中提交，支持任意类型的文件。</div>' if "上传" in title
                else '<div class="normal">点击打开。</div>')
            await limiter.wait()
            _check_delivered(await self.api.send_textcard(
                user, title[:40], desc, url, btntxt="上传" if "上传" in title else "打开"), user)
            progress.sent(Reply("", file=reply.file))
        if reply.file is not None:
            await limiter.wait()
            if reply.file.is_image:
                data = await asyncio.to_thread(reply.file.path.read_bytes)
                result = await self.api.send_image(user, data, reply.file.file_name)
            else:
                result = await self.api.send_file(user, reply.file.path, reply.file.file_name)
            _check_delivered(result, user)


def _check_delivered(result: dict[str, Any], user: str) -> None:
    """message/send answers 0 even when the only recipient is invalid; treat that as unreachable."""
    invalid = str(result.get("invaliduser", "") or "")
    if user in invalid.split("|"):
        raise Unreachable(f"企业微信：{user} 不在应用的可见范围内或不存在")


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)

