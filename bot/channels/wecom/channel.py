"""The WeCom (企业微信) channels: a self-built app's callback and sends, and group robots (send-only).

Callback: WeCom POSTs an encrypted XML envelope to /wecom/callback; it is verified, decrypted and
answered with an empty 200 at once, and the message is handled in a background task whose replies go
out through message/send. Nothing here decides business questions: text, images and events become
Incoming, and the core's replies become text, textcards, files and images.

Choices: a self-built app's text messages carry no buttons. They are rendered as numbered lines
("请回复序号选择：1. …") and remembered per user, in memory, for a day; a reply that is just one of
those numbers (full-width digits too), or a choice's exact label, becomes the choice's callback.
Numbering continues while earlier questions are open (three screenshots sent at once get 1–5, 6–10,
11–15); any other text closes them. A number outside the open range is passed on as text, so "40"
still means task 40. The memory is lost on a restart: a bare number then reads as a task number, and
the user resends the file. (Template cards with button_interaction would give real buttons, but need a
card-event callback round trip, WeCom 3.1.6+, and are not shown in the WeChat plugin.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import mimetypes
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import App
from bot.channels.wecom.api import WeComApi, WeComApiError, WeComRobot, split_markdown
from bot.channels.wecom.choices import NumberedChoices
from bot.channels.wecom.crypto import WeComCrypto, WeComCryptoError, parse_callback_xml
from bot.core.errors import UserError
from bot.core.messages import Attachment, ChatKind, ChatRef, Incoming, Reply
from bot.outbox import TemporaryFailure, Unreachable
from bot.store.inbound import Arrival, Kept

log = logging.getLogger(__name__)

CALLBACK_PATH = "/wecom/callback"
REPLY_LIMIT = 600  # characters per reply; WeCom text holds 2048 bytes, a CJK character takes 3
TEXT_LIMIT = 2048  # bytes of one message/send text
ROBOT_LIMIT = 4096  # bytes of one robot markdown
ROBOT_IMAGE_LIMIT = 2 * 1024 * 1024
MAX_CALLBACK_BODY = 256 * 1024  # a callback envelope is a few KB
RETRY_AFTER = 60.0
PER_MEMBER_PER_MINUTE = 30  # WeCom drops, silently, an app's messages to one member beyond this
GREETING_EVENTS = frozenset({"subscribe", "enter_agent"})
# file is not documented as delivered to self-built apps; if it ever is, it is evidence like the rest
MEDIA_TYPES = {"image": ("图片", ".jpg", "image/jpeg"), "video": ("视频", ".mp4", "video/mp4"),
               "file": ("文件", "", "application/octet-stream")}
UNSUPPORTED = ("暂时只能处理文字、图片和视频。其他文件（PDF、Word、Excel 等）请用上传页面提交："
               "发送「任务号」，例如「任务12」，点开其中的「上传佐证材料」。")


def _message_key(msg: dict[str, str]) -> str:
    """Identify a callback across WeCom's retries: MsgId, or sender + time + event for events."""
    if msg.get("MsgId"):
        return f"wecom:{msg['MsgId']}"
    return f"wecom:{msg['FromUserName']}:{msg.get('CreateTime', '')}:{msg.get('Event', '')}"


class WeComChannel:
    """Translate between a WeCom self-built application and the core."""

    name = "wecom"

    def __init__(self, app: App, session: aiohttp.ClientSession, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        s = app.settings
        try:
            self.crypto = WeComCrypto(s.wecom_token, s.wecom_aes_key, s.wecom_corp_id)
        except WeComCryptoError as e:
            raise UserError(f"DUBAN_WECOM_AES_KEY 无效（应为企业微信后台生成的 43 位 EncodingAESKey）：{e}") from e
        self.api = WeComApi(session, s.wecom_corp_id, s.wecom_secret, s.wecom_agent_id, base_url=s.wecom_api_url)
        self._monotonic = monotonic
        self._choices = NumberedChoices(monotonic)
        self._limiters: dict[str, _Limiter] = {}
        self._closing = False
        app.intake.register(self.name, self._handle_kept)

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
        # Kept before the acknowledgement: WeCom never resends an acknowledged message, so a crash while
        # handling it must not lose it (the intake resumes it on start). A retried delivery finds its key.
        try:
            kept = await self.app.intake.keep(self.name, [Arrival(_message_key(msg), f"wecom:{msg['FromUserName']}",
                                                                  msg)])
        except Exception:
            log.exception("keeping a wecom callback failed; WeCom will retry it")
            return web.Response(status=503)
        if not kept:
            log.info("wecom retry ignored: %s", _message_key(msg))
        return web.Response()

    def _fresh(self, timestamp: str) -> bool:
        """Tell whether a callback's timestamp lies inside the replay window (0 disables it)."""
        window = self.app.settings.wecom_replay_window_s
        if window <= 0:
            return True
        try:
            sent = int(timestamp)
        except ValueError:
            return False
        return abs(self.app.clock.real_utcnow().timestamp() - sent) <= window

    # ---- inbound -----------------------------------------------------------------------------
    async def _handle_kept(self, batch: list[Kept]) -> None:
        for kept in batch:
            await self._handle_one({k: str(v) for k, v in kept.payload.items()}, kept.key)

    async def _handle_one(self, msg: dict[str, str], key: str) -> None:
        user, kind = msg["FromUserName"], msg["MsgType"]
        now = self.app.clock.utcnow()
        chat = ChatRef("wecom", user, ChatKind.PRIVATE)
        # message_id carries the intake key: replies deferred to the outbox are keyed by it
        base = Incoming(channel="wecom", user_id=user, chat=chat, message_id=key, reply_limit=REPLY_LIMIT)
        if kind == "text":
            await self._on_text(base, msg.get("Content", ""))
        elif kind in MEDIA_TYPES:
            await self._on_media(base, kind, msg)
        elif kind == "event":
            event = msg.get("Event", "")
            if event not in GREETING_EVENTS:
                return
            # enter_agent fires each time the app is opened: greet once a day, not every time
            day = self.app.clock.today().isoformat()
            if event == "enter_agent" and not await self.app.store.chats.first_time(f"wecom:hello:{user}:{day}", now):
                return
            await self._converse(dataclasses.replace(base, text="/help"))
        else:
            await self._reply(chat, [Reply(UNSUPPORTED)], base.message_id)

    async def _on_text(self, base: Incoming, text: str) -> None:
        picked = self._choices.pick(base.user_id, text)
        if picked is not None:
            await self._converse(dataclasses.replace(base, callback=picked.data))
            return
        await self._converse(dataclasses.replace(base, text=text))

    async def _on_media(self, base: Incoming, kind: str, msg: dict[str, str]) -> None:
        label, suffix, mime = MEDIA_TYPES[kind]
        path = self.app.scratch_file("wecom-")
        try:
            try:
                file_name, size = await self.api.download_media(msg.get("MediaId", ""), path)
            except WeComApiError as e:
                log.warning("wecom media %s not downloaded: %s", msg.get("MediaId"), e)
                await self._reply(base.chat, [Reply(f"没能取到这个{label}，请重新发送。")], base.message_id)
                return
            if "." not in file_name or file_name == msg.get("MediaId"):
                file_name = f"{label}-{msg.get('MsgId') or msg.get('CreateTime', '')}{suffix}"
            mime = mimetypes.guess_type(file_name)[0] or mime
            att = Attachment(file_name, path, mime, size)
            await self._converse(dataclasses.replace(base, attachments=(att,)))
        finally:
            path.unlink(missing_ok=True)

    async def _converse(self, incoming: Incoming) -> None:
        try:
            replies = await self.app.conversation.handle(incoming)
        finally:
            for att in incoming.attachments:
                att.path.unlink(missing_ok=True)
        await self._reply(incoming.chat, replies, incoming.message_id)

    async def _reply(self, chat: ChatRef, replies: list[Reply], key: str) -> None:
        """Answer now; what WeCom cannot take now is left to the outbox."""
        await self.app.outbox.answer(self, chat, replies, key)

    # ---- outbound ----------------------------------------------------------------------------
    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Deliver a reply, mapping WeCom errors to retry-later or unreachable."""
        try:
            await self._deliver(chat.chat_id, reply)
        except WeComApiError as e:
            if e.is_unreachable:
                raise Unreachable(f"企业微信无法送达：成员不存在或不在应用可见范围内（{e.errcode} {e.errmsg}）") from e
            if e.is_rate_limited or e.errcode == -1:
                raise TemporaryFailure(str(e), retry_after=RETRY_AFTER) from e
            raise
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TemporaryFailure(f"企业微信网络错误：{e!r}") from e

    async def _deliver(self, user: str, reply: Reply) -> None:
        limiter = self._limiters.setdefault(user, _Limiter(PER_MEMBER_PER_MINUTE, 60.0, self._monotonic))
        text = reply.text
        if reply.choices:
            text = "\n".join([text, "", "请回复序号选择：", *self._choices.number(user, reply.choices)]).strip()
        for part in split_markdown(text, TEXT_LIMIT) if text.strip() else []:
            await limiter.wait()
            _check_delivered(await self.api.send_text(user, part), user)
        if reply.link is not None:
            title, url = reply.link
            first = html.escape(text.split("\n", 1)[0][:80]) if text else ""
            desc = (f'<div class="gray">{first}</div>' if first else "") + (
                '<div class="normal">点击「上传」在网页中提交，支持任意类型的文件。</div>' if "上传" in title
                else '<div class="normal">点击打开。</div>')
            await limiter.wait()
            _check_delivered(await self.api.send_textcard(
                user, title[:40], desc, url, btntxt="上传" if "上传" in title else "打开"), user)
        if reply.file is not None:
            await limiter.wait()
            if reply.file.is_image:
                data = await asyncio.to_thread(reply.file.path.read_bytes)
                result = await self.api.send_image(user, data, reply.file.file_name)
            else:
                result = await self.api.send_file(user, reply.file.path, reply.file.file_name)
            _check_delivered(result, user)


class WeComRobotChannel:
    """Send digests and charts to WeCom groups through registered robot webhooks (send-only)."""

    name = "wecom-robot"

    def __init__(self, app: App, session: aiohttp.ClientSession, *, per_minute: int = 20,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self._session = session
        self._limiters: dict[str, _Limiter] = {}
        self._per_minute = per_minute
        self._monotonic = monotonic

    def install(self, web_app: web.Application) -> None:
        """Add nothing: a robot cannot receive messages."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop_receiving(self) -> None:
        """Nothing to stop: a robot receives nothing."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Post a reply to the robot named chat.chat_id: markdown (split at 4096 bytes), then any image."""
        key = await self.app.store.chats.robot_key(chat.chat_id)
        if key is None:
            raise Unreachable(f"没有名为「{chat.chat_id}」的群机器人")
        robot = WeComRobot(self._session, key, base_url=self.app.settings.wecom_api_url)
        limiter = self._limiters.setdefault(key, _Limiter(self._per_minute, 60.0, self._monotonic))
        text = reply.text
        if reply.link is not None:
            text += f"\n[{reply.link[0]}]({reply.link[1]})"
        try:
            for part in split_markdown(text, ROBOT_LIMIT) if text.strip() else []:
                await limiter.wait()
                await robot.send_markdown(part)
            if reply.file is not None:
                if not reply.file.is_image:
                    log.warning("robot %s: file %s not sent (robots take images only here)", chat.chat_id,
                                reply.file.file_name)
                    return
                data = await asyncio.to_thread(reply.file.path.read_bytes)
                if len(data) > ROBOT_IMAGE_LIMIT:
                    log.warning("robot %s: image %s over 2 MB not sent", chat.chat_id, reply.file.file_name)
                    return
                await limiter.wait()
                await robot.send_image(data)
        except WeComApiError as e:
            if e.is_rate_limited or e.errcode == -1:
                raise TemporaryFailure(str(e), retry_after=RETRY_AFTER) from e
            if e.errcode == 93000:  # the webhook key was removed from the group
                raise Unreachable(f"群机器人「{chat.chat_id}」的地址已失效") from e
            raise
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TemporaryFailure(f"企业微信网络错误：{e!r}") from e


class _Limiter:
    """Let at most `rate` calls through per `period` seconds; callers over it wait their turn."""

    def __init__(self, rate: int, period: float, monotonic: Callable[[], float]) -> None:
        self._rate = rate
        self._period = period
        self._monotonic = monotonic
        self._sent: list[float] = []
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one more call fits in the window."""
        async with self._lock:
            while True:
                now = self._monotonic()
                self._sent = [t for t in self._sent if t > now - self._period]
                if len(self._sent) < self._rate:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self._sent[0] + self._period - now)


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

