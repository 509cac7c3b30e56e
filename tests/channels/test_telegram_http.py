"""The aiohttp transport under python-telegram-bot's Bot: what PTB's own HTTPXRequest does, against the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from fakes.http_proxy import CountingProxy
from fakes.telegram_api import FakeTelegram, Upload
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram_http import AiohttpRequest

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def make_bot(tg: FakeTelegram, **request: object) -> Bot:
    return Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url,
               request=AiohttpRequest(**request),  # type: ignore[arg-type]
               get_updates_request=AiohttpRequest())


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(tg) as b:
        yield b


async def test_message_with_buttons_arrives_as_sent(bot: Bot, tg: FakeTelegram) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("批准", callback_data="approve:12")]])
    sent = await bot.send_message(42, "<b>任务12</b> 待审核 &amp; 退回", parse_mode="HTML", reply_markup=markup)
    assert sent.text == "任务12 待审核 & 退回"
    [message] = tg.sent_to(42)
    assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "approve:12"


async def test_updates_are_read_with_the_long_poll(bot: Bot, tg: FakeTelegram) -> None:
    tg.send_text(7, "我单位有哪些任务")
    [update] = await bot.get_updates(timeout=1)
    assert update.message is not None and update.message.text == "我单位有哪些任务"


async def test_flood_limit_raises_retry_after_with_its_seconds(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "提醒")
    assert caught.value.retry_after == 7


async def test_telegram_refusals_keep_their_ptb_exceptions(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(42, "提醒")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(42, "<b>未闭合", parse_mode="HTML")


async def test_document_and_photo_upload_byte_identical_with_chinese_names(bot: Bot, tg: FakeTelegram) -> None:
    await bot.send_document(42, PDF, filename="再生水利用调研报告.pdf", caption="任务12 材料3")
    await bot.send_photo(42, b"\xff\xd8\xff\xe0jpeg" * 100, filename="照片.jpg")
    doc = next(p for name, p in tg.calls if name == "sendDocument")
    photo = next(p for name, p in tg.calls if name == "sendPhoto")
    assert isinstance(doc["document"], Upload) and doc["document"]["file_bytes"] == PDF
    assert doc["document"]["file_name"] == "再生水利用调研报告.pdf" and doc["caption"] == "任务12 材料3"
    assert photo["photo"]["file_bytes"] == b"\xff\xd8\xff\xe0jpeg" * 100


async def test_file_download_byte_identical(bot: Bot, tg: FakeTelegram) -> None:
    update_id = tg.send_document(7, PDF, "报告.pdf", "application/pdf")
    file_id = tg.update(update_id)["message"]["document"]["file_id"]
    tg_file = await bot.get_file(file_id)
    assert bytes(await tg_file.download_as_bytearray()) == PDF


async def test_a_server_that_does_not_answer_times_out(tg: FakeTelegram) -> None:
    async with make_bot(tg, read_timeout=0.2) as bot:
        tg.stall_next("sendMessage", 2)
        with pytest.raises(TimedOut):
            await bot.send_message(42, "提醒")
        await bot.send_message(42, "再试一次")  # the transport is still usable
    assert [m["text"] for m in tg.sent_to(42)][-1] == "再试一次"


async def test_a_full_pool_times_out_without_sending(tg: FakeTelegram) -> None:
    async with make_bot(tg, connection_pool_size=1, pool_timeout=0.1) as bot:
        holding = tg.stall_next("sendMessage", 1)
        first = asyncio.create_task(bot.send_message(42, "占住连接"))
        await holding.wait()  # the first holds the only connection
        with pytest.raises(TimedOut, match="Pool timeout"):
            await bot.send_message(43, "等不到连接")
        await first
    assert not tg.sent_to(43)


async def test_an_upload_the_server_does_not_take_times_out() -> None:
    """A peer that accepts the connection but never reads: the upload stops after the write timeout."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never read: the socket buffers fill and the client's writes wait

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    root = f"http://127.0.0.1:{port}"
    bot = Bot("1:T", base_url=f"{root}/bot", request=AiohttpRequest(media_write_timeout=0.3),
              get_updates_request=AiohttpRequest())
    await bot.request.initialize()  # no getMe: the server never answers
    try:
        with pytest.raises(TimedOut):
            await bot.send_document(42, b"x" * (32 << 20), filename="大文件.zip")
    finally:
        await bot.request.shutdown()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_is_a_network_error() -> None:
    with contextlib.closing(__import__("socket").socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        bot = Bot("1:T", base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest(),
                  get_updates_request=AiohttpRequest())
        await bot.request.initialize()
        try:
            with pytest.raises(NetworkError, match="aiohttp.ClientConnectorError"):
                await bot.send_message(42, "提醒")
        finally:
            await bot.request.shutdown()


async def test_requests_go_through_the_configured_proxy(tg: FakeTelegram) -> None:
    async with CountingProxy() as proxy:
        async with make_bot(tg, proxy=proxy.url) as bot:
            await bot.send_message(42, "经代理发送")
        assert any(seen.path.endswith("/sendMessage") for seen in proxy.seen)
    assert tg.sent_to(42)[0]["text"] == "经代理发送"
