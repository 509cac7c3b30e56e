"""The Telegram channel on python-telegram-bot: Update → Incoming, replies → Bot API calls. Nothing else.

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
import tempfile
import weakref
from collections.abc import Awaitable
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
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    TypeHandler,
)

from bot.app import App
from bot.config import secret_for
from bot.core.messages import Attachment, ChatKind, ChatRef, Incoming, Reply
from bot.outbox import TemporaryFailure, Unreachable

log = logging.getLogger(__name__)

REPLY_LIMIT = 3500  # Telegram allows 4096 characters; leave room for markup
MEDIA_GROUP_WAIT = 1.0  # seconds to gather the photos of one album before filing them together
GROUP_COMMANDS = ("digest", "subscribe", "unsubscribe", "help")
TOO_BIG = ("文件「{name}」有 {mb:.1f}MB，超过了 Telegram 机器人能下载的 {limit}MB 上限，没有收到。\n"
           "请改用上传页面提交：发送「任务{hint}」，点击其中的「上传佐证材料」按钮，在网页中上传（支持大文件）；"
           "或压缩后再发送。")


class PerChatUpdates(BaseUpdateProcessor):
    """Handle updates of different chats concurrently but each chat's in order.

    A liaison's "/done 12" must not overtake the file sent just before it, while one slow upload
    should not hold up everyone else (PTB's default is strictly one update at a time).
    """

    def __init__(self, max_concurrent_updates: int = 16) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's handlers once earlier updates of the same chat are done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else 0
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


class TelegramChannel:
    """Translate between Telegram and the core."""

    name = "telegram"

    def __init__(self, app: App) -> None:
        self.app = app
        s = app.settings
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder().token(s.telegram_token).concurrent_updates(PerChatUpdates()))
        if s.telegram_rate_limit:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
        if s.telegram_api_url:
            root = s.telegram_api_url.rstrip("/")
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        self.webhook = bool(s.telegram_webhook_url)
        if self.webhook:
            builder = builder.updater(None)
        self.ptb: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.ptb.add_handler(TypeHandler(Update, self._on_update))
        self.ptb.add_error_handler(self._on_error)
        self._albums: dict[str, list[Update]] = {}
        self._album_tasks: dict[str, asyncio.Task[None]] = {}
        self._tmp = s.state_dir / "tmp"
        self.username = ""
        self._ready = False

    # ---- lifecycle ---------------------------------------------------------------------------
    def install(self, web_app: web.Application) -> None:
        """In webhook mode, receive updates on duban's HTTP server at the webhook URL's path."""
        if self.webhook:
            path = urlsplit(self.app.settings.telegram_webhook_url).path or "/telegram/webhook"
            web_app.router.add_post(path, self._webhook)

    @property
    def webhook_secret(self) -> str:
        """Return the secret Telegram must echo in X-Telegram-Bot-Api-Secret-Token."""
        configured = self.app.settings.telegram_webhook_secret
        if configured:
            return configured
        return hmac.new(secret_for(self.app.settings), b"telegram-webhook", hashlib.sha256).hexdigest()[:48]

    async def start(self) -> None:
        """Initialise PTB (getMe), register commands, and start polling or set the webhook."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        await self.ptb.initialize()
        self._ready = True
        self.username = self.ptb.bot.username or ""
        await self._set_commands()
        await self.ptb.start()
        if self.webhook:
            await self.ptb.bot.set_webhook(self.app.settings.telegram_webhook_url, secret_token=self.webhook_secret,
                                           allowed_updates=["message", "callback_query"])
        else:
            assert self.ptb.updater is not None
            await self.ptb.updater.start_polling(poll_interval=0, timeout=10,
                                                 allowed_updates=["message", "callback_query"])

    async def stop(self) -> None:
        """Stop polling and PTB; albums still being gathered are handled first."""
        for task in list(self._album_tasks.values()):
            task.cancel()
        if self.ptb.updater is not None and self.ptb.updater.running:
            await self.ptb.updater.stop()
        if self.ptb.running:
            await self.ptb.stop()
        await self.ptb.shutdown()

    async def _set_commands(self) -> None:
        listed = self.app.router.listed()

        def commands(names: tuple[str, ...] | None) -> list[BotCommand]:
            out = []
            for cmd in listed:
                if names is None or cmd.name in names:
                    desc = cmd.help.split("：", 1)[-1][:60]
                    out.append(BotCommand(cmd.name, desc))
            return out

        await self.ptb.bot.set_my_commands(commands(None), scope=BotCommandScopeAllPrivateChats())
        await self.ptb.bot.set_my_commands(commands(GROUP_COMMANDS), scope=BotCommandScopeAllGroupChats())

    async def _webhook(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(token, self.webhook_secret):
            return web.Response(status=403)
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400)
        update = Update.de_json(data, self.ptb.bot)
        await self.ptb.update_queue.put(update)
        return web.Response()

    # ---- inbound -----------------------------------------------------------------------------
    async def _on_update(self, update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await self._on_callback(update)
            return
        msg = update.effective_message
        if msg is None or update.effective_user is None or update.effective_user.is_bot:
            return
        if msg.media_group_id:
            self._gather_album(msg.media_group_id, update)
            return
        await self._on_message([update])

    def _gather_album(self, group_id: str, update: Update) -> None:
        """Telegram delivers an album as separate updates; hand them to the core as one message."""
        self._albums.setdefault(group_id, []).append(update)
        old = self._album_tasks.pop(group_id, None)
        if old is not None:
            old.cancel()

        async def flush() -> None:
            await asyncio.sleep(MEDIA_GROUP_WAIT)
            self._album_tasks.pop(group_id, None)
            await self._on_message(self._albums.pop(group_id, []))

        self._album_tasks[group_id] = asyncio.create_task(flush())

    async def _on_message(self, updates: list[Update]) -> None:
        first = updates[0]
        msg, user = first.effective_message, first.effective_user
        assert msg is not None and user is not None
        text = next((u.effective_message.text or u.effective_message.caption or "" for u in updates
                     if u.effective_message and (u.effective_message.text or u.effective_message.caption)), "")
        is_group = msg.chat.type != "private"
        if is_group and not self._addressed_to_me(text):
            return
        atts: list[Attachment] = []
        refusals: list[str] = []
        for u in updates:
            m = u.effective_message
            if m is None:
                continue
            got = await self._download(m, text)
            if isinstance(got, str):
                refusals.append(got)
            elif got is not None:
                atts.append(got)
        chat = ChatRef("telegram", str(msg.chat.id), ChatKind.GROUP if is_group else ChatKind.PRIVATE)
        for refusal in refusals:
            await self._deliver(chat, Reply(refusal))
        if refusals and not atts:
            return
        incoming = Incoming(channel="telegram", user_id=str(user.id), chat=chat, text=text,
                            user_name=user.full_name, attachments=tuple(atts), message_id=str(msg.message_id),
                            reply_limit=REPLY_LIMIT)
        try:
            for reply in await self.app.conversation.handle(incoming):
                await self._deliver(chat, reply)
        finally:
            for att in atts:
                att.path.unlink(missing_ok=True)

    def _addressed_to_me(self, text: str) -> bool:
        """In groups, answer only commands, and only those without @ or with our own @username."""
        if not text.startswith("/"):
            return False
        word = text.split(maxsplit=1)[0]
        return "@" not in word or word.split("@", 1)[1].lower() == self.username.lower()

    async def _download(self, m: Message, caption: str) -> Attachment | str | None:
        """Fetch a document or the largest photo to a temporary file; explain when it is too big."""
        limit_mb = self.app.settings.telegram_download_limit_mb
        if m.document is not None:
            file_id, size = m.document.file_id, m.document.file_size or 0
            name, mime = m.document.file_name or "文件", m.document.mime_type or "application/octet-stream"
        elif m.photo:
            best = m.photo[-1]
            file_id, size = best.file_id, best.file_size or 0
            name, mime = f"照片-{m.message_id}.jpg", "image/jpeg"
        else:
            return None
        hint = caption.split("-")[0].strip() if caption else "号"
        if size > limit_mb * 1024 * 1024:
            return TOO_BIG.format(name=name, mb=size / 1048576, limit=limit_mb, hint=hint)
        try:
            tg_file = await m.get_bot().get_file(file_id)
        except BadRequest as e:
            if "too big" in e.message.lower():
                return TOO_BIG.format(name=name, mb=size / 1048576, limit=limit_mb, hint=hint)
            raise
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="tg-")
        import os

        os.close(fd)
        await tg_file.download_to_drive(tmp)
        path = Path(tmp)
        return Attachment(name, path, mime, path.stat().st_size)

    async def _on_callback(self, update: Update) -> None:
        q = update.callback_query
        assert q is not None
        msg = q.message
        chat = ChatRef("telegram", str(msg.chat.id) if msg else str(q.from_user.id),
                       ChatKind.GROUP if msg and msg.chat.type != "private" else ChatKind.PRIVATE)
        incoming = Incoming(channel="telegram", user_id=str(q.from_user.id), chat=chat, callback=q.data or "",
                            user_name=q.from_user.full_name, reply_limit=REPLY_LIMIT)
        replies = await self.app.conversation.handle(incoming)
        # A refusal (someone else's or a stale button) is shown as the button's alert and changes nothing.
        if len(replies) == 1 and not replies[0].edit and not replies[0].choices and len(replies[0].text) <= 180:
            with contextlib.suppress(TelegramError):
                await q.answer(replies[0].text, show_alert=True)
            return
        with contextlib.suppress(TelegramError):
            await q.answer()
        for reply in replies:
            if reply.edit and isinstance(msg, Message):
                try:
                    await msg.edit_text(_html(reply), parse_mode=ParseMode.HTML, reply_markup=_keyboard(reply))
                    continue
                except BadRequest:
                    pass  # too old or unchanged: send it instead
            await self._deliver(chat, reply)

    async def _on_error(self, update: object, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %r", ctx.error, exc_info=ctx.error)

    # ---- outbound ----------------------------------------------------------------------------
    async def _deliver(self, chat: ChatRef, reply: Reply) -> None:
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
        await bot.send_message(int(chat.chat_id), _html(reply), parse_mode=ParseMode.HTML, reply_markup=markup,
                               disable_web_page_preview=True)

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Deliver a push from the outbox, mapping Telegram errors to retry or unreachable."""
        if not self._ready:  # sending without receiving (duban remind run-once): getMe first
            await self.ptb.initialize()
            self._ready = True
        try:
            await self._deliver(chat, reply)
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
