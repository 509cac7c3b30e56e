"""The Telegram channel on python-telegram-bot: an update → an envelope, a reply → Bot API calls. Nothing else.

Long polling by default; a webhook on duban's own aiohttp server when DUBAN_TELEGRAM_WEBHOOK_URL is set.
DUBAN_TELEGRAM_API_URL points at another Bot API server (a local telegram-bot-api, or the fake in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.warnings import PTBUserWarning

from bot.channels.base import ChannelBase
from bot.channels.pipeline import FetchFailed, Pipeline
from bot.channels.proxy import proxy_for
from bot.channels.telegram_http import AiohttpRequest, Pace
from bot.config import Settings, secret_for
from bot.core.messages import Attachment, ChatKind, ChatRef, Envelope, Media, Reply
from bot.intake import MAX_CONCURRENT
from bot.outbox import TemporaryFailure, Unreachable

log = logging.getLogger(__name__)
# do_api_request is used on purpose for the two calls of every message (raw JSON both ways, see _poll and
# _deliver); PTB suggests its typed methods each time
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.(getUpdates|sendMessage)'", category=PTBUserWarning)

REPLY_LIMIT = 3500  # Telegram allows 4096 characters; leave room for markup
MEDIA_GROUP_WAIT = 1.0  # seconds to gather the photos of one album before filing them together
POLL_TIMEOUT = 10  # seconds one long poll waits for updates
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BACKOFF = 30.0
READ_MARGIN = 5.0  # seconds a long poll's read may take beyond its timeout
GROUP_COMMANDS = ("digest", "subscribe", "unsubscribe", "help")
NOT_FETCHED = "没能从 Telegram 取到文件「{name}」（{why}），没有收到。请重新发送一次。"
TOO_BIG = ("文件「{name}」有 {mb:.1f}MB，超过了 Telegram 机器人能下载的 {limit}MB 上限，没有收到。\n"
           "请改用上传页面提交：发送「任务」加任务号（如「任务12」），点击其中的「上传佐证材料」按钮，在网页中上传"
           "（支持大文件）；或压缩后再发送。")
# Bot API calls in flight at once, whatever the number of chats being answered. Chosen by bench_telegram.py's burst,
# trying 1 to unbounded: fewer left replies queueing behind each other; more gave fewer updates a second and no less
# CPU per update, only more open connections.
IN_FLIGHT = 8
WAIT_OUT = 5.0  # seconds of a 429's retry_after waited out in place; longer, the outbox retries
ALERT = 180  # characters of a lone answer to a button press shown as the button's alert instead of a message


class TelegramChannel(ChannelBase):
    """Translate between Telegram and the pipeline.

    Updates are received by duban's own getUpdates loop (or the webhook), not PTB's Updater: PTB confirms an
    offset as soon as updates are queued in memory, so a kill lost them. Here a batch is decoded and kept by the
    pipeline first and the offset advances only after that. PTB serves as the Bot API client (its methods and types,
    over duban's aiohttp transport, bot.channels.telegram_http, which also keeps to Telegram's flood limits); updates
    are read as the JSON Telegram sent, without building PTB's Update objects.
    """

    name = "telegram"
    page = limit = REPLY_LIMIT
    gather = MEDIA_GROUP_WAIT
    measure = staticmethod(len)

    def __init__(self, pipeline: Pipeline, settings: Settings) -> None:
        self.pipeline = pipeline
        self.settings = s = settings
        proxy = proxy_for(s.telegram_api_url or "https://api.telegram.org", s)
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder().token(s.telegram_token).updater(None)
            # the intake handles up to MAX_CONCURRENT chats at once, each sending one call at a time, plus the
            # outbox and downloads: a bounded pool, and a reply waits for a free connection instead of failing
            .request(AiohttpRequest(connection_pool_size=MAX_CONCURRENT + 8, pool_timeout=10.0, proxy=proxy))
            # a long poll holds one connection; the final confirming call on stop must not wait for it
            .get_updates_request(AiohttpRequest(connection_pool_size=2, proxy=proxy)))
        # duban's own pacing rather than PTB's AIORateLimiter: it also keeps pushes to 1 a second per private chat,
        # and a 429 goes back to the outbox (which retries when Telegram said) instead of being slept on inline
        self.pace = Pace() if s.telegram_rate_limit else None
        if s.telegram_api_url:
            root = s.telegram_api_url.rstrip("/")
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        self.webhook = bool(s.telegram_webhook_url)
        self.ptb: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.bot_id = s.telegram_token.split(":", 1)[0]  # update_ids count per bot: the bot's id keeps keys apart
        self._poller: asyncio.Task[None] | None = None
        self._offset = 0
        self.username = ""
        self._ready = False
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        pipeline.add(self)

    # ---- lifecycle ---------------------------------------------------------------------------
    def install(self, web_app: web.Application) -> None:
        """In webhook mode, receive updates on duban's HTTP server at the webhook URL's path."""
        if self.webhook:
            path = urlsplit(self.settings.telegram_webhook_url).path or "/telegram/webhook"
            web_app.router.add_post(path, self._webhook)

    @property
    def webhook_secret(self) -> str:
        """Return the secret Telegram must echo in X-Telegram-Bot-Api-Secret-Token."""
        configured = self.settings.telegram_webhook_secret
        if configured:
            return configured
        return hmac.new(secret_for(self.settings), b"telegram-webhook", hashlib.sha256).hexdigest()[:48]

    async def start(self) -> None:
        """Initialise PTB (getMe), register commands, and start polling or set the webhook."""
        await self._initialize()
        await self._set_commands()
        if self.webhook:
            await self.ptb.bot.set_webhook(self.settings.telegram_webhook_url, secret_token=self.webhook_secret,
                                           allowed_updates=ALLOWED_UPDATES)
        else:
            await self.ptb.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")

    async def _initialize(self) -> None:
        if not self._ready:
            await self.ptb.initialize()
            self._ready = True
            self.username = self.ptb.bot.username or ""

    async def stop_receiving(self) -> None:
        """Stop the long poll and confirm what was kept, so Telegram does not hand it over again."""
        if self._poller is None:
            return
        self._poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._poller
        self._poller = None
        if self._offset:
            with contextlib.suppress(TelegramError):
                await self.ptb.bot.get_updates(offset=self._offset, timeout=0, limit=1,
                                               allowed_updates=ALLOWED_UPDATES)

    async def stop(self) -> None:
        """Release PTB's connections (the runtime stopped receiving and let the intake finish first)."""
        await self.stop_receiving()
        if self._ready:
            await self.ptb.shutdown()
            self._ready = False

    async def _set_commands(self) -> None:
        listed = self.pipeline.conversation.router.listed()

        def commands(names: tuple[str, ...] | None) -> list[BotCommand]:
            out = []
            for cmd in listed:
                if names is None or cmd.name in names:
                    desc = cmd.help.split("：", 1)[-1][:60]
                    out.append(BotCommand(cmd.name, desc))
            return out

        await self.ptb.bot.set_my_commands(commands(None), scope=BotCommandScopeAllPrivateChats())
        await self.ptb.bot.set_my_commands(commands(GROUP_COMMANDS), scope=BotCommandScopeAllGroupChats())

    # ---- receiving: keep first, then confirm ---------------------------------------------------
    async def _poll(self) -> None:
        """Long-poll getUpdates; advance the offset (which confirms the batch) only after it is kept."""
        backoff = 1.0
        while True:
            try:
                # Raw JSON, not get_updates(): duban reads the few fields it needs from the update as sent.
                updates: list[dict[str, Any]] = await self.ptb.bot.do_api_request(
                    "getUpdates", {"offset": self._offset, "timeout": POLL_TIMEOUT, "allowed_updates": ALLOWED_UPDATES},
                    read_timeout=POLL_TIMEOUT + READ_MARGIN)
                if updates:
                    # Shielded: a stop arriving mid-commit lets the commit finish instead of leaving the
                    # connection in a half-done transaction (the batch is then confirmed on the next start).
                    await asyncio.shield(self._keep(updates))
                    self._offset = int(updates[-1]["update_id"]) + 1
                backoff = 1.0
                continue
            except InvalidToken:
                log.error("Telegram 拒绝了 DUBAN_TELEGRAM_TOKEN (invalid token); polling stopped")
                return
            except Conflict as e:
                log.error("another process is polling with the same Telegram token: %s", e.message)
            except (NetworkError, TelegramError) as e:  # TimedOut is a NetworkError
                log.warning("getUpdates failed, retrying in %.0f s: %s", backoff, e)
            except Exception:  # the store could not keep the batch: it is not confirmed, Telegram sends it again
                log.exception("keeping Telegram updates failed, retrying in %.0f s", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _keep(self, updates: list[dict[str, Any]]) -> None:
        envelopes = [e for e in map(self._decoded, updates) if e is not None]
        if envelopes:
            await self.pipeline.keep(envelopes)

    def _decoded(self, update: dict[str, Any]) -> Envelope | None:
        """Decode, logging (not failing the batch on) an update of a shape Telegram does not send."""
        try:
            return self.decode(update)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("telegram update of an unknown shape ignored: %.300r", update)
            return None

    async def _webhook(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(token, self.webhook_secret):
            return web.Response(status=403)
        try:
            raw = await request.json()
            if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
                return web.Response(status=400)
            envelope = self.decode(raw)  # refuse what is not an update before acknowledging it
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400)
        if envelope is None:
            return web.Response()
        try:
            await self.pipeline.keep([envelope])
        except Exception:
            log.exception("keeping a Telegram webhook update failed; Telegram will deliver it again")
            return web.Response(status=503)
        return web.Response()

    # ---- decode, fetch, deliver ------------------------------------------------------------------
    def decode(self, raw: dict[str, Any]) -> Envelope | None:
        """Read an update as Telegram sent it: a message (text, a document, a photo) or a button press."""
        key = f"telegram:{self.bot_id}:{raw['update_id']}"
        query = raw.get("callback_query")
        if isinstance(query, dict):
            user, message = query["from"], query.get("message") or {}
            reply_to = {"query": str(query["id"])}
            if "message_id" in message:
                reply_to["message"] = str(message["message_id"])
            chat = _chat(message["chat"]) if "chat" in message else ChatRef(self.name, str(user["id"]))
            return Envelope(key, chat, str(user["id"]), _full_name(user), callback=str(query.get("data") or ""),
                            reply_to=reply_to)
        m = raw.get("message")
        if not isinstance(m, dict):
            return None
        user = m.get("from")
        if not isinstance(user, dict) or user.get("is_bot"):
            return None
        text = str(m.get("text") or m.get("caption") or "")
        chat = _chat(m["chat"])
        if chat.kind is ChatKind.GROUP and not self._addressed_to_me(text):
            return None
        media: tuple[Media, ...] = ()
        if isinstance(doc := m.get("document"), dict):
            media = (Media("document", str(doc["file_id"]), str(doc.get("file_name") or "文件"),
                           int(doc.get("file_size") or 0), str(doc.get("mime_type") or "application/octet-stream")),)
        elif isinstance(photos := m.get("photo"), list) and photos:
            best = photos[-1]
            media = (Media("photo", str(best["file_id"]), f"照片-{m['message_id']}.jpg", int(best.get("file_size") or 0),
                           "image/jpeg"),)
        return Envelope(key, chat, str(user["id"]), _full_name(user), text=text, media=media,
                        message_id=str(m["message_id"]), group=str(m.get("media_group_id") or ""))

    def _addressed_to_me(self, text: str) -> bool:
        """In groups, answer only commands, and only those without @ or with our own @username."""
        if not text.startswith("/"):
            return False
        word = text.split(maxsplit=1)[0]
        return "@" not in word or word.split("@", 1)[1].lower() == self.username.lower()

    async def fetch(self, media: Media, dest: Path) -> Attachment:
        """Download a document or photo by its file_id; explain when it is too big or cannot be had."""
        limit_mb = self.settings.telegram_download_limit_mb
        too_big = TOO_BIG.format(name=media.name, mb=media.size / 1048576, limit=limit_mb)
        if media.size > limit_mb * 1024 * 1024:
            raise FetchFailed(too_big)
        try:
            tg_file = await self.ptb.bot.get_file(media.ref)
            await tg_file.download_to_drive(dest)
        except BadRequest as e:
            log.warning("telegram file %s not fetched: %s", media.ref, e)
            raise FetchFailed(too_big if "too big" in e.message.lower()
                              else NOT_FETCHED.format(name=media.name, why="文件可能已过期")) from e
        except (TelegramError, OSError, TimeoutError) as e:
            log.warning("telegram file %s not fetched: %r", media.ref, e)
            raise FetchFailed(NOT_FETCHED.format(name=media.name, why="网络错误"), passing=True) from e
        return Attachment(media.name, dest, media.mime_type, dest.stat().st_size)

    async def begin(self, answering: Envelope, replies: list[Reply]) -> list[Reply]:
        """Answer a button press (Telegram waits for it): a lone short answer becomes the button's alert."""
        query = answering.reply_to.get("query")
        if query is None:
            return replies
        if len(replies) == 1 and not replies[0].edit and not replies[0].choices and len(replies[0].text) <= ALERT:
            with contextlib.suppress(TelegramError):
                async with self._in_flight:
                    await self.ptb.bot.answer_callback_query(query, replies[0].text, show_alert=True)
            return []
        with contextlib.suppress(TelegramError):
            async with self._in_flight:
                await self.ptb.bot.answer_callback_query(query)
        return replies

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Send one reply (edit the pressed message where asked), mapping Telegram errors to retry or unreachable.

        A 429 asking for a few seconds is waited out and the message sent once more (as PTB's rate limiter did); a
        longer wait goes back to the outbox, which tries again when Telegram said.
        """
        await self._initialize()  # sending without receiving (duban remind run-once): getMe first
        try:
            try:
                await self._paced(chat, reply, answering)
            except RetryAfter as e:
                wait = _seconds(e.retry_after)
                if self.pace is not None:
                    self.pace.hold(wait)
                if wait > WAIT_OUT:
                    raise
                await asyncio.sleep(wait)
                await self._paced(chat, reply, answering)
        except RetryAfter as e:
            raise TemporaryFailure(str(e), retry_after=_seconds(e.retry_after)) from e
        except Forbidden as e:
            raise Unreachable(f"对方已屏蔽机器人或从未与机器人对话（Telegram：{e.message}）") from e
        except BadRequest as e:
            if "chat not found" in e.message.lower():
                raise Unreachable(f"找不到这个聊天，对方可能从未与机器人对话（Telegram：{e.message}）") from e
            raise
        except NetworkError as e:
            raise TemporaryFailure(str(e)) from e

    async def _paced(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Make the call when Telegram's limits allow it, within the bound of calls in flight."""
        pressed = answering.reply_to.get("message") if answering is not None else None
        paced = self.pace.message(chat.chat_id, group=chat.kind is ChatKind.GROUP, pushed=answering is None) \
            if self.pace is not None else contextlib.nullcontext()
        async with paced, self._in_flight:  # waiting for its turn holds no call slot from the replies
            if reply.edit and pressed is not None and await self._edit(chat, int(pressed), reply):
                return
            await self._send(chat, reply)

    async def _edit(self, chat: ChatRef, message_id: int, reply: Reply) -> bool:
        """Replace the pressed message's text; False when it cannot be (too old, unchanged): send it instead."""
        try:
            await self.ptb.bot.edit_message_text(_html(reply), chat_id=int(chat.chat_id), message_id=message_id,
                                                 parse_mode=ParseMode.HTML, reply_markup=_keyboard(reply))
        except TelegramError:
            return False
        return True

    async def _send(self, chat: ChatRef, reply: Reply) -> None:
        bot = self.ptb.bot
        markup = _keyboard(reply)
        if reply.file is not None:
            with reply.file.path.open("rb") as fh:
                if reply.file.is_image:
                    await bot.send_photo(int(chat.chat_id), fh, caption=_html(reply)[:1000], parse_mode=ParseMode.HTML,
                                         reply_markup=markup, filename=reply.file.file_name)
                else:
                    await bot.send_document(int(chat.chat_id), fh, caption=_html(reply)[:1000],
                                            parse_mode=ParseMode.HTML, reply_markup=markup,
                                            filename=reply.file.file_name)
            return
        # Raw, like getUpdates: the sent Message PTB would parse from the answer is never used here.
        await bot.do_api_request("sendMessage", {
            "chat_id": int(chat.chat_id), "text": _html(reply), "parse_mode": ParseMode.HTML.value,
            "link_preview_options": {"is_disabled": True}, **({"reply_markup": markup} if markup else {})})


def _chat(chat: dict[str, Any]) -> ChatRef:
    """The chat a message belongs to (its messages are handled one at a time, in order)."""
    group = chat.get("type") != "private"
    return ChatRef(TelegramChannel.name, str(chat["id"]), ChatKind.GROUP if group else ChatKind.PRIVATE)


def _full_name(user: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (user.get("first_name"), user.get("last_name")) if p)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


def _html(reply: Reply) -> str:
    """Escape every user or task text; duban's replies carry no markup of their own."""
    text = html.escape(reply.text, quote=False)
    if reply.link is not None:
        text += f'\n<a href="{html.escape(reply.link[1])}">{html.escape(reply.link[0])}</a>'
    return text


def _keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(c.label[:60], callback_data=c.data)] for c in reply.choices]
    if reply.link is not None and reply.link[1].startswith("https://"):
        rows.append([InlineKeyboardButton(reply.link[0], url=reply.link[1])])
    return InlineKeyboardMarkup(rows) if rows else None
