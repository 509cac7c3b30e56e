"""Self-test of the fake Bot API server against a real python-telegram-bot Application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from .telegram_api import FakeTelegram

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02\x03" * 500


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


def build_app(tg: FakeTelegram, downloads: Path) -> Application[Any, Any, Any, Any, Any, Any]:
    app = ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot").base_file_url(f"{tg.root}/file/bot").build()

    async def echo(update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message and update.effective_message.text
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def digest(update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message and update.effective_chat
        await update.effective_message.reply_text(f"digest for {update.effective_chat.id} args={ctx.args}")

    async def menu(update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="confirm:7")]])
        await update.effective_message.reply_text(
            "<b>任务</b> 请确认", parse_mode=ParseMode.HTML, reply_markup=keyboard
        )

    async def button(update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("收到")
        await query.edit_message_text(f"已确认 {query.data}")

    async def document(update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        assert msg and msg.document
        try:
            file = await msg.document.get_file()
        except BadRequest as exc:
            await msg.reply_text(f"无法下载: {exc.message}")
            return
        path = await file.download_to_drive(downloads / (msg.document.file_name or "x"))
        data = path.read_bytes()
        await msg.reply_document(data, filename=f"back-{msg.document.file_name}", caption=f"{len(data)} bytes")

    async def photo(update: Update, ctx: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        assert msg and msg.photo
        file = await msg.photo[-1].get_file()
        data = bytes(await file.download_as_bytearray())
        await msg.reply_photo(data, caption=f"photo {len(data)}")

    app.add_handler(CommandHandler("digest", digest))
    app.add_handler(CommandHandler("menu", menu))
    app.add_handler(CallbackQueryHandler(button))
    app.add_handler(MessageHandler(filters.Document.ALL, document))
    app.add_handler(MessageHandler(filters.PHOTO, photo))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


@pytest.fixture
async def app(tg: FakeTelegram, tmp_path: Path) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    application = build_app(tg, tmp_path)
    async with application:  # initialize() -> getMe; shutdown() on exit
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        yield application
        await application.updater.stop()
        await application.stop()


async def test_echo_text_private(tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    tg.user(42, "张三")
    tg.send_text(42, "你好")
    [msg] = await tg.wait_for()
    assert msg["chat_id"] == 42 and msg["text"] == "echo: 你好"
    assert msg["from"]["username"] == "duban_bot" and msg["date"] > 0
    assert [name for name, _ in tg.calls[:3]] == ["getMe", "deleteWebhook", "getUpdates"]
    tg.send_text(42, "第二条")
    [second] = await tg.wait_for()
    assert second["message_id"] > msg["message_id"] and tg.sent_to(42) == [msg, second]
    assert app.bot.username == "duban_bot"


async def test_document_round_trips_byte_identical(
    tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any], tmp_path: Path
) -> None:
    tg.send_document(42, PDF, "证据.pdf", "application/pdf", caption="材料")
    [back] = await tg.wait_for(method="sendDocument")
    assert (tmp_path / "证据.pdf").read_bytes() == PDF
    assert back["file_bytes"] == PDF and back["file_name"] == "back-证据.pdf"
    assert back["document"]["file_size"] == len(PDF) and back["text"] == f"{len(PDF)} bytes"
    get_file = next(p for name, p in tg.calls if name == "getFile")
    assert get_file["file_id"].startswith("BQAC")


async def test_photo_largest_size_is_downloaded(
    tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    uid = tg.send_photo(42, PNG, caption="现场照片")
    sizes = tg.update(uid)["message"]["photo"]
    assert len(sizes) == 3 and sizes[0]["file_size"] < sizes[1]["file_size"] < sizes[2]["file_size"]
    [back] = await tg.wait_for(method="sendPhoto")
    assert back["file_bytes"] == PNG and back["text"] == f"photo {len(PNG)}"
    assert back["photo"][-1]["file_size"] == len(PNG)


async def test_group_command_with_bot_username(
    tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    tg.send_text(42, "/digest@duban_bot 本周", chat_id=-1001234567890, chat_type="supergroup", chat_title="督办群")
    [msg] = await tg.wait_for()
    assert msg["chat_id"] == -1001234567890 and msg["chat"]["type"] == "supergroup"
    assert msg["text"] == "digest for -1001234567890 args=['本周']"
    assert msg["reply_to_message"]["text"].startswith("/digest@duban_bot")  # PTB quotes in groups
    tg.send_text(42, "/digest@other_bot", chat_id=-1001234567890)  # addressed to another bot: ignored
    tg.send_text(42, "after", chat_id=-1001234567890)
    [echo] = await tg.wait_for()
    assert echo["text"] == "echo: after"


async def test_button_press_arrives_as_callback_query(
    tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    tg.send_text(42, "/menu")
    [menu] = await tg.wait_for()
    assert menu["text"] == "任务 请确认" and menu["raw_text"] == "<b>任务</b> 请确认"
    assert menu["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert menu["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "confirm:7"
    with pytest.raises(AssertionError, match="no button"):
        tg.press_button(42, menu, "nope")
    tg.press_button(42, menu, "confirm:7")
    [edited] = await tg.wait_for(method="editMessageText")
    assert edited["message_id"] == menu["message_id"] and edited["text"] == "已确认 confirm:7"
    assert "reply_markup" not in tg.message(42, menu["message_id"])  # type: ignore[operator]
    [answer] = [p for name, p in tg.calls if name == "answerCallbackQuery"]
    assert answer["text"] == "收到" and answer["callback_query_id"] in tg.answered_callbacks


async def test_error_injection_and_real_errors(
    tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    bot = app.bot
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    with pytest.raises(RetryAfter) as retry:
        await bot.send_message(42, "x")
    assert "Retry in 1 seconds" in str(retry.value)
    tg.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=43)
    await bot.send_message(42, "other chat unaffected")
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(43, "x")
    uid = tg.send_document(42, b"big", "huge.zip", "application/zip", declared_size=25 << 20)
    file_id = tg.update(uid)["message"]["document"]["file_id"]
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(file_id)
    new = await tg.wait_for(lambda msgs: any("无法下载" in m["text"] for m in msgs))
    assert [m["text"] for m in new] == ["other chat unaffected", "无法下载: File is too big"]
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: Unsupported start tag \"任务\""):
        await bot.send_message(42, "a <任务> b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="reserved"):
        await bot.send_message(42, "1. 任务", parse_mode=ParseMode.MARKDOWN_V2)
    sent = await bot.send_message(42, "同样")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("同样", chat_id=42, message_id=sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(42, "长" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(
            42, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="确" * 22)]])
        )
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.root}/bot999:WRONG/getMe") as resp:
            assert resp.status == 401 and (await resp.json())["description"] == "Unauthorized"
    assert ("sendMessage", 403, "Forbidden: bot was blocked by the user") in tg.errors


async def test_invalid_token_and_conflict(tg: FakeTelegram) -> None:
    wrong = ApplicationBuilder().token("999:WRONG").base_url(f"{tg.root}/bot").build()
    with pytest.raises(InvalidToken):
        await wrong.bot.get_me()
    bot = ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot").build().bot
    async with bot:
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret")
        assert tg.webhook is not None and tg.webhook["secret_token"] == "s3cret"
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
        await bot.delete_webhook()
        assert tg.webhook is None


async def test_set_my_commands_with_scopes(tg: FakeTelegram, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    bot = app.bot
    await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("help", "帮助")])
    await bot.set_my_commands([BotCommand("mytasks", "我的任务")], scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands([BotCommand("digest", "本周汇总")], scope=BotCommandScopeAllGroupChats())
    assert [c["command"] for c in tg.commands["default"]] == ["start", "help"]
    assert tg.commands["all_private_chats"] == [{"command": "mytasks", "description": "我的任务"}]
    assert tg.commands["all_group_chats"][0]["command"] == "digest"
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())] == ["digest"]
    await bot.delete_my_commands(scope=BotCommandScopeAllGroupChats())
    assert "all_group_chats" not in tg.commands
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    tg.user(42, "张三")
    chat = await bot.get_chat(42)
    assert chat.type == "private"


async def test_long_poll_waits_and_returns_early(tg: FakeTelegram) -> None:
    url = f"{tg.root}/bot{tg.token}/getUpdates"
    async with aiohttp.ClientSession() as http:
        t0 = time.monotonic()
        async with http.post(url, data={"timeout": "0.3"}) as resp:
            assert (await resp.json()) == {"ok": True, "result": []}
        assert 0.25 <= time.monotonic() - t0 < 1.0

        async def later() -> None:
            await asyncio.sleep(0.1)
            tg.send_text(7, "hi")

        task = asyncio.create_task(later())
        t0 = time.monotonic()
        async with http.post(url, data={"timeout": "5"}) as resp:
            [update] = (await resp.json())["result"]
        await task
        assert time.monotonic() - t0 < 1.0 and update["message"]["text"] == "hi"
        tg.send_text(7, "second")
        async with http.post(url, data={"offset": str(update["update_id"] + 1), "limit": "1"}) as resp:
            [nxt] = (await resp.json())["result"]
        assert nxt["message"]["text"] == "second" and len(tg.pending_updates) == 1


async def test_webhook_delivery_with_secret(tg: FakeTelegram) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        got.set()
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        bot = ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot").build().bot
        async with bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            tg.send_text(42, "via webhook")
            await asyncio.wait_for(got.wait(), 5)
            assert received[0][0] == "s3cret" and received[0][1]["message"]["text"] == "via webhook"
            assert (await bot.get_webhook_info()).pending_update_count == 0
            await bot.delete_webhook()
    finally:
        await runner.cleanup()



async def test_flood_limits_answer_429_with_the_seconds_to_wait() -> None:
    """With flood_limits: 1 a second in a private chat, 30 a second overall, 20 a minute in a group."""
    from telegram import Bot

    now = [100.0]  # the fake's clock, moved by hand: what counts is which second a message falls in
    async with FakeTelegram(flood_limits=True, monotonic=lambda: now[0]) as fake, \
            Bot(fake.token, base_url=fake.base_url) as bot:
        await bot.send_message(42, "第一条")
        with pytest.raises(RetryAfter) as private:
            await bot.send_message(42, "同一私聊紧接着的第二条")
        for n in range(29):
            await bot.send_message(1000 + n, "别的私聊")
        with pytest.raises(RetryAfter) as overall:
            await bot.send_message(2000, "这一秒的第三十一条")
        now[0] += 1.0
        await bot.send_message(42, "一秒以后")
        now[0] += 1.0
        for n in range(19):
            await bot.send_message(-100, f"群消息{n}")
        now[0] += 30.0
        await bot.send_message(-100, "一分钟内的第二十条")
        with pytest.raises(RetryAfter) as group:
            await bot.send_message(-100, "一分钟内的第二十一条")
    assert (private.value.retry_after, overall.value.retry_after, group.value.retry_after) == (1, 1, 30)
    assert [e[1] for e in fake.errors] == [429, 429, 429]
