"""Whole Telegram conversations through `duban run`'s startup path, against a fake Bot API server."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import make_settings
from fakes.telegram_api import FakeTelegram

from bot.app import App
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, Envelope, Push, Reply
from bot.runner import Runtime

LIAISON = 2001
COORD = 1000  # configured coordinator (telegram:1000)
GROUP = -100777
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-body" * 300


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(bot_username="duban_bot")
    await fake.start()
    yield fake
    await fake.close()


async def telegram_app(tmp_path: Path, db_url: str, clock: Clock, tg: FakeTelegram, **overrides: object) -> App:
    """Build the App with Telegram pointed at the fake server (the Runtime is started by the caller)."""
    settings = make_settings(tmp_path, db_url, telegram_token=tg.token, telegram_api_url=tg.root, http_port=0,
                             scheduler=False, **overrides)
    return await App.create(settings, clock)


@pytest.fixture
async def running(tmp_path: Path, db_url: str, clock: Clock, tg: FakeTelegram) -> AsyncIterator[tuple[App, Runtime]]:
    app = await telegram_app(tmp_path, db_url, clock, tg)
    async with Runtime(app) as rt:
        yield app, rt
    await app.close()


async def say(tg: FakeTelegram, user: int, text: str, **kw: object) -> list[dict[str, object]]:
    tg.send_text(user, text, **kw)  # type: ignore[arg-type]
    return await tg.wait_for()


async def bind(app: App, tg: FakeTelegram, user: int, unit: str) -> None:
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7)
    [reply] = await say(tg, user, f"/bind {code}")
    assert "绑定成功" in str(reply["text"])


async def test_commands_registered_in_chinese_per_scope(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    private = {c["command"]: c["description"] for c in tg.commands["all_private_chats"]}
    group = {c["command"] for c in tg.commands["all_group_chats"]}
    assert "查看任务详情" in private["task"]
    assert group == {"digest", "subscribe", "unsubscribe", "help"}


async def test_bind_then_ask_my_tasks(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区教育局")
    [reply] = await say(tg, LIAISON, "我单位有哪些任务")
    assert "区教育局" in str(reply["text"]) and "任务40" in str(reply["text"])


async def test_pdf_with_caption_is_stored_byte_identical(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区水务局")
    tg.send_document(LIAISON, PDF, "再生水利用调研报告.pdf", "application/pdf", caption="12-3")
    [reply] = await tg.wait_for()
    assert "任务12 材料3" in str(reply["text"])
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 12)
    assert f.sha256 == hashlib.sha256(PDF).hexdigest()
    assert app.store.files.path_for(f.sha256).read_bytes() == PDF


async def test_photo_without_caption_is_filed_through_buttons(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区教育局")
    tg.send_photo(LIAISON, JPEG)
    [question] = await tg.wait_for()
    buttons = question["reply_markup"]["inline_keyboard"]  # type: ignore[index]
    assert len(buttons) >= 2 and all(len(b[0]["callback_data"].encode()) <= 64 for b in buttons)
    tg.press_button(LIAISON, question, buttons[0][0]["callback_data"])
    [edited] = await tg.wait_for(method="editMessageText")
    match = re.search(r"归入任务(\d+) 材料(\d+)", str(edited["text"]))
    assert match, edited["text"]
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, int(match[1]))
    assert f.item_no == int(match[2]) and app.store.files.path_for(f.sha256).read_bytes() == JPEG


async def test_done_then_coordinator_approves_in_group(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区卫生健康局")  # leads task 43 (one evidence item)
    tg.send_document(LIAISON, PDF, "合同.pdf", "application/pdf", caption="43-1")
    await tg.wait_for()
    tg.send_text(LIAISON, "/done 43")
    # The liaison's answer and the coordinator's notice (an outbox push) may arrive in either order.
    sent = await tg.wait_for(lambda s: any(m["chat_id"] == LIAISON for m in s) and any(m["chat_id"] == COORD for m in s))
    assert any("待审核" in str(m["text"]) for m in sent if m["chat_id"] == LIAISON)
    assert any("待审核" in str(m["text"]) for m in sent if m["chat_id"] == COORD)
    tg.send_text(COORD, "/approve@duban_bot 43", chat_id=GROUP, chat_type="supergroup", chat_title="节水办")
    sent = await tg.wait_for(lambda s: any(m["chat_id"] == LIAISON for m in s) and any(m["chat_id"] == GROUP for m in s))
    assert any("审核通过" in str(m["text"]) for m in sent if m["chat_id"] == GROUP)
    assert any("已通过节水办审核" in str(m["text"]) for m in sent if m["chat_id"] == LIAISON)


async def test_group_digest_and_other_bots_commands_ignored(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    tg.send_text(COORD, "/digest@other_bot", chat_id=GROUP, chat_type="supergroup", chat_title="节水办")
    tg.send_text(COORD, "/digest@duban_bot", chat_id=GROUP, chat_type="supergroup", chat_title="节水办")
    [reply] = await tg.wait_for()
    assert reply["chat_id"] == GROUP and "进度简报" in str(reply["text"])
    assert len(tg.sent_to(GROUP)) == 1


async def test_liaison_cannot_subscribe_a_group(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区教育局")
    [reply] = await say(tg, LIAISON, "/subscribe", chat_id=GROUP, chat_type="supergroup", chat_title="群")
    assert "只有节水办" in str(reply["text"])
    [ok] = await say(tg, COORD, "/subscribe", chat_id=GROUP, chat_type="supergroup", chat_title="群")
    assert "已订阅" in str(ok["text"])
    assert await app.store.chats.subscriptions() == [ChatRef("telegram", str(GROUP), ChatKind.GROUP)]


async def test_push_after_429_is_retried_and_403_recorded(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区教育局")
    await bind(app, tg, 2002, "区教育局")
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=LIAISON)
    tg.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=2002)
    for user in (LIAISON, 2002):
        await app.outbox.push(Push(ChatRef("telegram", str(user)), Reply("【提醒】任务40已逾期"), dedupe_key=f"t:{user}"))

    async def settled() -> bool:
        return not [r for r in await app.store.outbox.rows() if r["status"] in ("pending", "sending")]

    await app.outbox.until(settled, within=15)
    rows = {r["dedupe_key"]: r for r in await app.store.outbox.rows()}
    assert rows[f"t:{LIAISON}"]["status"] == "sent"
    assert rows["t:2002"]["status"] == "unreachable"
    assert [p.user_id for p in await app.store.people.unreachable()] == ["2002"]
    assert any(e[1] == 429 for e in tg.errors)


async def test_a_push_burst_keeps_within_telegram_flood_limits(tmp_path: Path, db_url: str, clock: Clock) -> None:
    """More pushes than Telegram takes in a second, three to one liaison: all go out, none refused, in order."""
    async with FakeTelegram(flood_limits=True) as tg:
        app = await telegram_app(tmp_path, db_url, clock, tg)
        async with Runtime(app):
            for n in range(3):
                await app.outbox.push(Push(ChatRef("telegram", str(LIAISON)), Reply(f"第{n + 1}条提醒"), f"mine:{n}"))
            for user in range(5000, 5040):
                await app.outbox.push(Push(ChatRef("telegram", str(user)), Reply("【提醒】任务40即将到期"), f"t:{user}"))
            await tg.wait_for(count=43, timeout=30)
        await app.close()
    assert tg.errors == []
    assert [m["text"] for m in tg.sent_to(LIAISON)] == ["第1条提醒", "第2条提醒", "第3条提醒"]


async def test_forged_and_foreign_buttons_change_nothing(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区卫生健康局")
    [ask] = await say(tg, LIAISON, "/done 43")
    button = ask["reply_markup"]["inline_keyboard"][0][0]["callback_data"]  # type: ignore[index]
    tg.press_button(2099, ask, button)  # someone else presses it
    [answer] = await tg.wait_for(method="answerCallbackQuery")
    assert "其他人" in str(answer["text"])
    tg.press_button(LIAISON, ask, "forged:yes", forged=True)
    [answer] = await tg.wait_for(method="answerCallbackQuery")
    assert "失效" in str(answer["text"])
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 43)).status.label == "未开始"


async def test_user_text_is_html_escaped(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区卫生健康局")
    tg.send_document(LIAISON, PDF, "合同<b>&终稿.pdf", "application/pdf", caption="43-1")
    [reply] = await tg.wait_for()
    assert "合同<b>&终稿.pdf" in str(reply["text"])  # shown literally, not as bold markup
    assert "&lt;b&gt;&amp;" in str(reply["raw_text"])


async def test_too_big_document_gets_a_chinese_explanation(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区水务局")
    tg.send_document(LIAISON, b"small", "大文件.zip", "application/zip", caption="12-1", declared_size=30 << 20)
    [reply] = await tg.wait_for()
    assert "超过了" in str(reply["text"]) and "上传页面" in str(reply["text"])
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []


async def test_webhook_mode_checks_the_secret(tmp_path: Path, db_url: str, clock: Clock, tg: FakeTelegram) -> None:
    import socket

    import aiohttp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = f"http://127.0.0.1:{port}/telegram/webhook"
    settings = make_settings(tmp_path, db_url, telegram_token=tg.token, telegram_api_url=tg.root, http_port=port,
                             telegram_webhook_url=hook, scheduler=False)
    app = await App.create(settings, clock)
    async with Runtime(app):
        assert tg.webhook is not None and tg.webhook["url"] == hook and tg.webhook["secret_token"]
        [reply] = await say(tg, COORD, "/digest")
        assert "进度简报" in str(reply["text"])
        update = {"update_id": 999, "message": {"message_id": 1, "date": 1700000000, "text": "/approve 1",
                                                "chat": {"id": COORD, "type": "private"},
                                                "from": {"id": COORD, "is_bot": False, "first_name": "x"}}}
        async with aiohttp.ClientSession() as http:
            forged = await http.post(hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
            missing = await http.post(hook, json=update)
        assert (forged.status, missing.status) == (403, 403)
    await app.close()


async def test_duban_run_process_answers_and_stops_cleanly(tmp_path: Path, tg: FakeTelegram) -> None:
    """`duban run` itself, as deployed: a separate process, configured only through the environment."""
    import asyncio
    import os
    import signal
    import sys

    env = dict(os.environ, DUBAN_STATE_DIR=str(tmp_path), DUBAN_TODAY="2023-10-20", DUBAN_TIME="10:00",
               DUBAN_TELEGRAM_TOKEN=tg.token, DUBAN_TELEGRAM_API_URL=tg.root, DUBAN_HTTP_PORT="0",
               DUBAN_COORDINATORS=f"telegram:{COORD}")
    env.pop("DUBAN_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        tg.send_text(COORD, "/digest")
        [reply] = await tg.wait_for(timeout=30)
        assert "进度简报" in str(reply["text"])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "已启动" in err.decode() and "Traceback" not in err.decode()


async def test_remind_run_once_from_cron_delivers_through_telegram(tmp_path: Path, tg: FakeTelegram) -> None:
    """A cron-style deployment: no `duban run`; `duban remind run-once` sweeps and sends itself."""
    import asyncio
    import datetime as dt
    import os
    import sys

    from bot.config import Settings

    settings = Settings(state_dir=tmp_path, today=dt.date(2023, 10, 23), time=dt.time(10, 0),
                        _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings)
    code = await app.store.people.create_invite("区教育局", by="test", now=app.clock.utcnow(), days=7)
    person = await app.store.people.identify("telegram", str(LIAISON), name="李", chat_id=str(LIAISON),
                                             now=app.clock.utcnow())
    await app.store.people.bind(person, code, now=app.clock.utcnow())
    await app.close()
    # the time of day is pinned too: reminders go out from 09:00, and CI runs at any hour
    env = dict(os.environ, DUBAN_STATE_DIR=str(tmp_path), DUBAN_TODAY="2023-10-23", DUBAN_TIME="10:00",
               DUBAN_TELEGRAM_TOKEN=tg.token, DUBAN_TELEGRAM_API_URL=tg.root)
    env.pop("DUBAN_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "remind", "run-once", env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    [reminder] = tg.sent_to(LIAISON)  # task 40's 督办单 fell due (10月10日) before the catch-up window: not sent
    assert "【督办提醒】" in str(reminder["text"]) and "任务40" in str(reminder["text"])
    assert "本次发送1条消息" in err.decode()
    assert not [c for c in tg.calls if c[0] == "getUpdates"]  # it sends, it does not receive


async def _bound_state(tmp_path: Path, unit: str) -> None:
    """Prepare a state directory where LIAISON is already bound to `unit` (for `duban run` processes)."""
    import datetime as dt

    from bot.config import Settings

    settings = Settings(state_dir=tmp_path, today=dt.date(2023, 10, 20), time=dt.time(10, 0),
                        _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings)
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7)
    person = await app.store.people.identify("telegram", str(LIAISON), name="李", chat_id=str(LIAISON),
                                             now=app.clock.utcnow())
    await app.store.people.bind(person, code, now=app.clock.utcnow())
    await app.close()


async def test_kill_9_during_uploads_loses_none_and_files_none_twice(tmp_path: Path, tg: FakeTelegram) -> None:
    """Uploads fetched by a process that is then killed are handled by the next one, each once.

    PTB's updater confirmed a fetched batch at once (the next getUpdates carried the new offset), so the queued
    updates died with the process. The process is killed while it downloads the fifth file: nothing of that
    message was filed or answered yet.
    """
    import asyncio
    import os
    import signal
    import sys

    await _bound_state(tmp_path, "区水务局")
    names = [f"节水报告{i:02d}.pdf" for i in range(12)]
    for i, name in enumerate(names):
        tg.send_document(LIAISON, PDF + bytes([i]), name, "application/pdf", caption="12-3")
    env = dict(os.environ, DUBAN_STATE_DIR=str(tmp_path), DUBAN_TODAY="2023-10-20", DUBAN_TIME="10:00",
               DUBAN_TELEGRAM_TOKEN=tg.token, DUBAN_TELEGRAM_API_URL=tg.root, DUBAN_HTTP_PORT="0",
               DUBAN_TELEGRAM_RATE_LIMIT="false")
    env.pop("DUBAN_DATABASE_URL", None)

    async def duban_run() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)

    first = await duban_run()
    await tg.wait_for(method="getFile", count=5, timeout=60)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    second = await duban_run()
    try:
        await tg.wait_for(lambda sent: sum("已收到" in str(m.get("text")) for m in tg.sent_to(LIAISON))
                          >= len(names), timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    answers = [str(m["text"]) for m in tg.sent_to(LIAISON)]
    assert sorted(n for n in names for a in answers if f"「{n}」" in a) == names  # each answered, once
    app = await App.create(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/duban.db"))
    try:
        plan = await app.store.plans.plan()
        filed = [f.file_name for f in await app.store.evidence.files(plan.id, 12)]
        assert sorted(filed) == names  # each filed, once
        assert await app.store.intake.unhandled("telegram") == []
    finally:
        await app.close()


def _help_update(update_id: int) -> dict[str, object]:
    """Return a raw Telegram update: LIAISON sends /help in the private chat."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1700000000, "text": "/help", "chat": {"id": LIAISON, "type": "private"},
        "from": {"id": LIAISON, "is_bot": False, "first_name": "李"}}}


def kept_by_the_dead(app: App, update: dict[str, object]) -> Envelope:
    """The envelope a process that died had decoded and kept from an update."""
    from bot.channels.telegram import TelegramChannel

    envelope = TelegramChannel(app.pipeline, app.settings).decode(update)  # the Runtime's own replaces it
    assert envelope is not None
    return envelope


async def test_update_kept_before_a_crash_is_answered_on_start(tmp_path: Path, db_url: str, clock: Clock,
                                                              tg: FakeTelegram) -> None:
    """An update fetched and kept (its offset confirmed) by a process that died is handled by the next start."""
    app = await telegram_app(tmp_path, db_url, clock, tg)
    try:
        await app.store.intake.keep([kept_by_the_dead(app, _help_update(4242))], clock.utcnow())
        async with Runtime(app):
            [reply] = await tg.wait_for()
            assert reply["chat_id"] == LIAISON and "/bind" in str(reply["text"])
            await app.intake.idle()
        assert await app.store.intake.unhandled("telegram") == []
    finally:
        await app.close()


async def test_a_leftover_is_handled_once_and_before_what_came_after_it(tmp_path: Path, db_url: str, clock: Clock,
                                                                        tg: FakeTelegram) -> None:
    """A dead process kept an update but never confirmed it: Telegram hands it over again with a newer one."""
    app = await telegram_app(tmp_path, db_url, clock, tg)
    try:
        first = tg.send_text(LIAISON, "/help")
        await app.store.intake.keep([kept_by_the_dead(app, tg.update(first))], clock.utcnow())
        tg.send_text(LIAISON, "/units")
        async with Runtime(app):
            await tg.wait_for(count=2)
            await app.intake.idle()
        texts = [str(m["text"]) for m in tg.sent_to(LIAISON)]
        assert len(texts) == 2, texts
        assert "/bind" in texts[0] and "单位名称" in texts[1]
    finally:
        await app.close()


async def test_a_new_bot_token_on_the_same_database_is_heard(tmp_path: Path, db_url: str, clock: Clock,
                                                             tg: FakeTelegram) -> None:
    """Update ids count per bot: a new bot's first updates are not taken for the old bot's handled ones."""
    app = await telegram_app(tmp_path, db_url, clock, tg)
    try:
        async with Runtime(app):
            [reply] = await say(tg, LIAISON, "/help")
        async with FakeTelegram(token="987654:NEWBOT", bot_username="duban_new_bot") as new_bot:
            app.settings.telegram_token, app.settings.telegram_api_url = new_bot.token, new_bot.root
            async with Runtime(app):
                [again] = await say(new_bot, LIAISON, "/help")  # update_id 1 again, from another bot
        assert "/bind" in str(reply["text"]) and "/bind" in str(again["text"])
    finally:
        await app.close()


async def test_webhook_update_is_kept_before_the_200(tmp_path: Path, db_url: str, clock: Clock,
                                                     tg: FakeTelegram) -> None:
    import aiohttp

    app = await telegram_app(tmp_path, db_url, clock, tg, telegram_webhook_url="https://duban.example/telegram/webhook")
    try:
        async with Runtime(app) as rt:
            hook = f"{rt.http_url}/telegram/webhook"
            secret = next(ch for ch in rt.channels if ch.name == "telegram").webhook_secret  # type: ignore[attr-defined]
            update = _help_update(31337)
            await app.intake.stop()  # handling paused: what the 200 promises is only that the update is kept
            async with aiohttp.ClientSession() as http:
                first = await http.post(hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                again = await http.post(hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            assert (first.status, again.status) == (200, 200)
            [kept] = await app.store.intake.unhandled("telegram")  # the redelivery was recognised
            assert kept.key == f"telegram:{tg.bot_user['id']}:31337"
            await app.intake.start()  # resumes what is kept
            [reply] = await tg.wait_for()
            assert "/bind" in str(reply["text"])
    finally:
        await app.close()


async def test_failed_download_is_answered_in_chinese(running: tuple[App, Runtime], tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区水务局")
    tg.fail_next("getFile", 400, "Bad Request: wrong file_id or the file is temporarily unavailable")
    tg.send_document(LIAISON, PDF, "过期的文件.pdf", "application/pdf", caption="12-3")
    [reply] = await tg.wait_for()
    assert "没能从 Telegram 取到文件「过期的文件.pdf」" in str(reply["text"]) and "重新发送" in str(reply["text"])
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []


async def test_extension_request_answered_with_the_coordinators_button(running: tuple[App, Runtime],
                                                                       tg: FakeTelegram) -> None:
    import datetime as dt

    app, _ = running
    await bind(app, tg, LIAISON, "区卫生健康局")  # leads task 43, due 2023.11
    tg.send_text(LIAISON, "任务43申请延期到12月15日，因为合同尚未签订，预计12月初签约")
    sent = await tg.wait_for(lambda s: {m["chat_id"] for m in s} >= {LIAISON, COORD})
    [asked] = [m for m in sent if m["chat_id"] == LIAISON]
    assert "已提交任务43的延期申请" in str(asked["text"])
    [notice] = [m for m in sent if m["chat_id"] == COORD]
    assert "【延期申请】区卫生健康局" in str(notice["text"]) and "合同尚未签订，预计12月初签约" in str(notice["text"])
    approve = next(b[0]["callback_data"] for b in notice["reply_markup"]["inline_keyboard"]  # type: ignore[index]
                   if b[0]["text"] == "批准")
    tg.press_button(COORD, notice, approve)
    [edited] = await tg.wait_for(method="editMessageText")
    assert "已批准任务43延期" in str(edited["text"])
    [told] = await tg.wait_for(lambda sent: any(m["chat_id"] == LIAISON for m in sent))
    assert "截止日期由2023年11月30日改为2023年12月15日" in str(told["text"])
    plan = await app.store.plans.plan()
    task = await app.store.plans.task(plan.id, 43)
    assert (task.deadline, task.deadline_original) == (dt.date(2023, 12, 15), dt.date(2023, 11, 30))
    [ext] = await app.store.extensions.of_task(plan.id, 43)
    assert (ext.status, ext.requested_by, ext.decided_by) == ("approved", f"telegram:{LIAISON}", f"telegram:{COORD}")
    assert [a["action"] for a in await app.store.chats.audit(task_no=43)][:2] == ["extension.approved",
                                                                                 "extension.request"]


async def test_review_sends_the_tasks_documents_to_the_coordinator(running: tuple[App, Runtime],
                                                                   tg: FakeTelegram) -> None:
    app, _ = running
    await bind(app, tg, LIAISON, "区卫生健康局")
    tg.send_document(LIAISON, PDF, "节水改造合同.pdf", "application/pdf", caption="43-1")
    await tg.wait_for()
    [note] = await say(tg, LIAISON, "/note 43 合同已签订，改造下月开工")
    assert "已记录任务43的阶段性进展" in str(note["text"])
    tg.send_text(LIAISON, "/done 43")
    await tg.wait_for(lambda s: {m["chat_id"] for m in s} >= {LIAISON, COORD})
    [queue] = await say(tg, COORD, "/review")
    assert "任务43（区卫生健康局）" in str(queue["text"]) and "材料 1/1" in str(queue["text"])
    tg.send_text(COORD, "/review 43")
    [document] = await tg.wait_for(method="sendDocument")
    assert document["file_bytes"] == PDF and document["document"]["file_name"] == "节水改造合同.pdf"  # type: ignore[index]
    last = await tg.wait_for(lambda sent: any(m.get("reply_markup") for m in sent))
    buttons = last[-1]["reply_markup"]["inline_keyboard"]  # type: ignore[index]
    tg.press_button(COORD, last[-1], buttons[0][0]["callback_data"])
    [edited] = await tg.wait_for(method="editMessageText")
    assert "已审核通过" in str(edited["text"])
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 43)).status.label == "已完成"
    [n] = await app.store.notes.latest(plan.id, 43)
    assert (n.text, n.author) == ("合同已签订，改造下月开工", f"telegram:{LIAISON}")
