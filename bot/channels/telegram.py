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
import warnings
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
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.warnings import PTBUserWarning

from bot.app import App
from bot.config import secret_for
from bot.core.messages import Attachment, ChatKind, ChatRef, Incoming, Reply
from bot.intake import MAX_CONCURRENT
from bot.outbox import TemporaryFailure, Unreachable
from bot.store.inbound import Arrival, Kept

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
           "请改用上传页面提交：发送「任务{hint}」，点击其中的「上传佐证材料」按钮，在网页中上传（支持大文件）；"
           "或压缩后再发送。")


class TelegramChannel:
    """Translate between Telegram and the core.

    Updates are received by duban's own getUpdates loop (or the webhook), not PTB's Updater: PTB confirms an
    offset as soon as updates are queued in memory, so a kill lost them. Here a batch is committed to the durable
    intake first and the offset advances only after that; the intake then handles each chat's updates in order.
    PTB serves as the Bot API client (requests, rate limiter, types).
    """

    name = "telegram"

    def __init__(self, app: App) -> None:
        self.app = app
        s = app.settings
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder().token(s.telegram_token).updater(None)
            # the intake handles up to MAX_CONCURRENT chats at once, each sending one call at a time, plus the
            # outbox and downloads: a bounded pool, and a reply waits for a free connection instead of failing
            .connection_pool_size(MAX_CONCURRENT + 8).pool_timeout(10.0)
            # a long poll holds one connection; the final confirming call on stop must not wait for it
            .get_updates_connection_pool_size(2))
        if s.telegram_rate_limit:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
        if s.telegram_api_url:
            root = s.telegram_api_url.rstrip("/")
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        self.webhook = bool(s.telegram_webhook_url)
        self.ptb: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self._tmp = app.scratch_dir
        self._poller: asyncio.Task[None] | None = None
        self._offset = 0
        self.username = ""
        self._ready = False
        app.intake.register(self.name, self._handle_kept, group_of=_album_of, gather=MEDIA_GROUP_WAIT)

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
        await self.ptb.initialize()
        self._ready = True
        self.username = self.ptb.bot.username or ""
        await self._set_commands()
        if self.webhook:
            await self.ptb.bot.set_webhook(self.app.settings.telegram_webhook_url, secret_token=self.webhook_secret,
                                           allowed_updates=ALLOWED_UPDATES)
        else:
            await self.ptb.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")

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

    # ---- receiving: keep first, then confirm ---------------------------------------------------
    async def _poll(self) -> None:
        """Long-poll getUpdates; advance the offset (which confirms the batch) only after it is kept."""
        backoff = 1.0
        while True:
            try:
                # Raw JSON, not get_updates(): what is kept is the update as Telegram sent it, parsed once when
                # handled — parsing here and serialising again for the store cost more than the rest of the intake.
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
        await self.app.intake.keep(self.name, [
            # update_ids count per bot (a new bot token starts again at 1): the bot's id keeps keys apart
            Arrival(f"telegram:{self.ptb.bot.id}:{u['update_id']}", f"telegram:{_chat_id(u)}", u)
            for u in updates])

    async def _webhook(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(token, self.webhook_secret):
            return web.Response(status=403)
        try:
            raw = await request.json()
            update = Update.de_json(raw, self.ptb.bot)  # refuse what is not an update before keeping it
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        try:
            await self._keep([raw])
        except Exception:
            log.exception("keeping a Telegram webhook update failed; Telegram will deliver it again")
            return web.Response(status=503)
        return web.Response()

    # ---- handling a kept batch -----------------------------------------------------------------
    async def _handle_kept(self, batch: list[Kept]) -> None:
        updates = [u for u in (Update.de_json(m.payload, self.ptb.bot) for m in batch) if u is not None]
        if not updates:
            return
        first = updates[0]
        if first.callback_query is not None:
            await self._on_callback(first, batch[0].key)
            return
        msg = first.effective_message
        if msg is None or first.effective_user is None or first.effective_user.is_bot:
            return
        await self._on_message(updates, batch[0].key)

    async def _on_message(self, updates: list[Update], key: str) -> None:
        first = updates[0]
        msg, user = first.effective_message, first.effective_user
        assert msg is not None and user is not None
        text = next((u.effective_message.text or u.effective_message.caption or "" for u in updates
                     if u.effective_message and (u.effective_message.text or u.effective_message.caption)), "")
        is_group = msg.chat.type != "private"
        if is_group and not self._addressed_to_me(text):
            return
        chat = ChatRef("telegram", str(msg.chat.id), ChatKind.GROUP if is_group else ChatKind.PRIVATE)
        atts: list[Attachment] = []
        refusals: list[Reply] = []
        try:
            for u in updates:
                m = u.effective_message
                if m is None:
                    continue
                got = await self._download(m, text)
                if isinstance(got, str):
                    refusals.append(Reply(got))
                elif got is not None:
                    atts.append(got)
            replies = refusals
            if atts or not refusals:
                incoming = Incoming(channel="telegram", user_id=str(user.id), chat=chat, text=text,
                                    user_name=user.full_name, attachments=tuple(atts),
                                    message_id=str(msg.message_id), reply_limit=REPLY_LIMIT)
                replies = refusals + await self.app.conversation.handle(incoming)
        finally:
            for att in atts:
                att.path.unlink(missing_ok=True)
        await self.app.outbox.answer(self, chat, replies, key)

    def _addressed_to_me(self, text: str) -> bool:
        """In groups, answer only commands, and only those without @ or with our own @username."""
        if not text.startswith("/"):
            return False
        word = text.split(maxsplit=1)[0]
        return "@" not in word or word.split("@", 1)[1].lower() == self.username.lower()

    async def _download(self, m: Message, caption: str) -> Attachment | str | None:
        """Fetch a document or the largest photo to a scratch file; explain when it is too big or fails."""
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
        path = self.app.scratch_file("tg-")
        try:
            tg_file = await m.get_bot().get_file(file_id)
            await tg_file.download_to_drive(path)
        except BadRequest as e:
            path.unlink(missing_ok=True)
            if "too big" in e.message.lower():
                return TOO_BIG.format(name=name, mb=size / 1048576, limit=limit_mb, hint=hint)
            log.warning("telegram file %s not fetched: %s", file_id, e)
            return NOT_FETCHED.format(name=name, why="文件可能已过期")
        except (TelegramError, OSError, TimeoutError) as e:
            path.unlink(missing_ok=True)
            log.warning("telegram file %s not fetched: %r", file_id, e)
            return NOT_FETCHED.format(name=name, why="网络错误")
        return Attachment(name, path, mime, path.stat().st_size)

    async def _on_callback(self, update: Update, key: str) -> None:
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
        rest: list[Reply] = []
        for reply in replies:
            if reply.edit and isinstance(msg, Message):
                try:
                    await msg.edit_text(_html(reply), parse_mode=ParseMode.HTML, reply_markup=_keyboard(reply))
                    continue
                except TelegramError:
                    pass  # too old, unchanged or not reachable now: send it instead
            rest.append(reply)
        await self.app.outbox.answer(self, chat, rest, key)

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
        # Raw, like getUpdates: the sent Message PTB would parse from the answer is never used here.
        await bot.do_api_request("sendMessage", {
            "chat_id": int(chat.chat_id), "text": _html(reply), "parse_mode": ParseMode.HTML.value,
            "link_preview_options": {"is_disabled": True}, **({"reply_markup": markup} if markup else {})})

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


def _chat_id(update: dict[str, Any]) -> int:
    """Return the chat whose updates are handled in order (a button press belongs to the chat it was in)."""
    for kind in ALLOWED_UPDATES:
        body = update.get(kind)
        if isinstance(body, dict):
            message = body if "chat" in body else body.get("message")
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                return int(message["chat"]["id"])
            sender = body.get("from")
            return int(sender["id"]) if isinstance(sender, dict) else 0
    return 0


def _album_of(payload: dict[str, Any]) -> str | None:
    """Name the album an update's photo belongs to, so the intake hands the album over as one batch."""
    message = payload.get("message")
    return str(message["media_group_id"]) if isinstance(message, dict) and message.get("media_group_id") else None


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
