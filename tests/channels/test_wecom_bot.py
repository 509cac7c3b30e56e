"""Whole conversations with the WeCom 智能机器人 over the long connection, against a fake openws server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from conftest import NOW, TODAY, make_settings
from fakes.wecom_openws import BOT_ID, SECRET, Delivery, FakeOpenWs

from bot.app import App
from bot.channels.wecom.aibot import NAME, WeComBotChannel, decode_frame
from bot.channels.wecom.openws import ConnectionLost, OpenWs
from bot.channels.wecom.supervisor import DISPLACED_WAIT, Supervisor
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, Push, Reply
from bot.core.views import FileView
from bot.runner import Runtime

LIAISON = "lilaoshi"
COORD = "jieshuiban"
GROUP = "wrkSFfCgAAxxGROUP"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def bot_settings(tmp_path: Path, db_url: str, fake: FakeOpenWs, **kw: object) -> dict[str, object]:
    values: dict[str, object] = {"wecom_bot_id": BOT_ID, "wecom_bot_secret": SECRET, "wecom_bot_ws_url": fake.ws_url,
                                 "http_port": 0, "scheduler": False,
                                 "coordinators": f"console:admin,wecom-bot:{COORD}"}
    values.update(kw)
    return values


@pytest.fixture
async def running(tmp_path: Path, db_url: str, clock: Clock, ws: FakeOpenWs) -> AsyncIterator[tuple[App, Runtime]]:
    app = await App.create(make_settings(tmp_path, db_url, **bot_settings(tmp_path, db_url, ws)), clock)
    async with Runtime(app) as rt:
        await ws.until(lambda: BOT_ID in ws.conns)
        yield app, rt
    await app.close()


def channel(rt: Runtime) -> WeComBotChannel:
    return next(ch for ch in rt.channels if isinstance(ch, WeComBotChannel))


async def say(ws: FakeOpenWs, user: str, text: str, **kw: object) -> list[Delivery]:
    ws.send_text(user, text, **kw)  # type: ignore[arg-type]
    return await ws.wait_for()


async def files_of(app: App, task_no: int) -> list[FileView]:
    """Return the evidence files filed for a task of the current plan."""
    plan = await app.store.plans.plan()
    return await app.store.evidence.files(plan.id, task_no)


async def bind(app: App, ws: FakeOpenWs, user: str, unit: str) -> None:
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7)
    [reply] = await say(ws, user, f"/bind {code}")
    assert "绑定成功" in reply.text and reply.via == "respond"


async def test_bind_then_ask_my_tasks(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    [reply] = await say(ws, LIAISON, "我单位有哪些任务")
    assert reply.via == "respond" and reply.msgtype == "stream" and reply.to == LIAISON
    assert "区教育局" in reply.text and "任务40" in reply.text


async def test_file_without_caption_filed_by_button_press_byte_for_byte(running: tuple[App, Runtime],
                                                                         ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    ws.send_file(LIAISON, PDF, "学校节水宣传材料.pdf")
    question, card = await ws.wait_for(count=2)
    assert "收到「学校节水宣传材料.pdf」" in question.text and "1. 任务" in question.text  # numbered fallback too
    assert card.msgtype == "template_card" and card.card["card_type"] == "button_interaction"
    buttons = card.card["button_list"]
    assert 2 <= len(buttons) <= 6
    ws.press(LIAISON, card.card, buttons[0]["key"])
    [filed] = await ws.wait_for()
    assert filed.via == "send" and filed.chat_type == 1  # a button press is answered by an active push
    match = re.search(r"归入任务(\d+) 材料(\d+)", filed.text)
    assert match, filed.text
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, int(match[1]))
    assert f.item_no == int(match[2]) and f.sha256 == hashlib.sha256(PDF).hexdigest()
    assert app.store.files.path_for(f.sha256).read_bytes() == PDF
    ws.press(LIAISON, card.card, buttons[0]["key"])  # pressed again: refused, nothing filed twice
    [again] = await ws.wait_for()
    assert "已经按过" in again.text
    assert len(await app.store.evidence.files(plan.id, int(match[1]))) == 1


async def test_numbered_answer_files_the_image(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    ws.send_file(LIAISON, b"\xff\xd8\xff\xe0" + b"jpeg" * 500, "", image=True)
    await ws.wait_for(count=2)
    [filed] = await say(ws, LIAISON, "１")  # full-width digits count too
    assert "归入任务" in filed.text and filed.via == "respond"


async def test_next_file_goes_where_the_liaison_said_first(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    [ok] = await say(ws, LIAISON, "40-3")
    assert "下一个文件将归入任务40 材料3" in ok.text
    ws.send_file(LIAISON, PDF, "创建材料.pdf")
    [filed] = await ws.wait_for()
    assert "归入任务40 材料3" in filed.text
    assert [f.item_no for f in await files_of(app, 40)] == [3]


async def test_urge_reaches_the_liaison_as_an_active_push(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    ws.send_text(COORD, "/urge 教育局")
    sent = await ws.wait_for(lambda d: any(x.to == LIAISON for x in d) and any(x.to == COORD for x in d))
    [urge] = [d for d in sent if d.to == LIAISON]
    assert urge.via == "send" and urge.msgtype == "markdown" and urge.chat_type == 1
    assert "【督办提醒】" in urge.text and "区教育局" in urge.text


async def test_group_digest_when_mentioned_with_the_chart_uploaded(running: tuple[App, Runtime],
                                                                   ws: FakeOpenWs) -> None:
    ws.send_text(COORD, "@督办助手 /digest 图", chat=GROUP)
    sent = await ws.wait_for(lambda d: any(x.msgtype == "image" for x in d))
    text = next(d for d in sent if d.msgtype == "stream")
    image = next(d for d in sent if d.msgtype == "image")
    assert text.to == GROUP and "进度简报" in text.text
    assert image.via == "send" and image.to == GROUP and image.chat_type == 2 and image.data.startswith(b"\x89PNG")


async def test_group_subscribe_stores_the_chatid(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    [ok] = await say(ws, COORD, "@督办助手 /subscribe", chat=GROUP)
    assert "已订阅" in ok.text
    assert [c.key() for c in await app.store.chats.subscriptions()] == [f"wecom-bot:{GROUP}"]


async def test_push_to_a_chat_wecom_refuses_for_good_is_not_retried(running: tuple[App, Runtime],
                                                                    ws: FakeOpenWs) -> None:
    app, _ = running
    ws.fail_next("aibot_send_msg", 86001, "invalid chatid", times=8)
    await app.outbox.push(Push(ChatRef(NAME, "wrkGONE", ChatKind.GROUP), Reply("进度简报"), dedupe_key="digest-x"))

    async def settled() -> bool:
        return [r["status"] for r in await app.store.outbox.rows()] == ["failed"]

    await app.outbox.until(settled)
    [row] = await app.store.outbox.rows()
    assert row["attempts"] == 1 and "86001" in row["error"]
    assert sum(f.get("cmd") == "aibot_send_msg" for f in ws.frames) == 1


async def test_redelivered_msgid_is_handled_once(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    frame = ws.send_text(LIAISON, "/help")
    [first] = await ws.wait_for()
    assert "我是督办助手" in first.text
    ws.push({**frame, "headers": {"req_id": "redelivered-1"}})  # the same msgid, delivered again
    [after] = await say(ws, LIAISON, "我单位有哪些任务")  # handled after the redelivery (one chat, in order)
    assert "还没有绑定单位" in after.text
    assert sum("我是督办助手" in d.text for d in ws.deliveries) == 1


async def test_welcome_on_enter_chat(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    ws.enter_chat(LIAISON)
    [hello] = await ws.wait_for()
    assert hello.via == "welcome" and "督办助手" in hello.text


async def test_reconnects_after_the_server_closes(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    await ws.drop()
    await ws.until(lambda: len(ws.subscribes) == 2 and BOT_ID in ws.conns)
    [reply] = await say(ws, LIAISON, "/help")
    assert "/bind" in reply.text and ws.displaced == 0


async def test_a_connection_that_stops_answering_is_ended(ws: FakeOpenWs) -> None:
    """Open but dead (pings go unanswered): the connection ends, so the channel connects anew."""
    async with aiohttp.ClientSession() as session:
        conn = OpenWs(session, ws.ws_url, BOT_ID, SECRET, on_frame=lambda _frame, _raw, _conn: None, heartbeat=0.05)
        running = asyncio.create_task(conn.run())
        await ws.until(lambda: BOT_ID in ws.conns)
        ws.silent = True
        with pytest.raises(ConnectionLost, match="no answer to pings"):
            await asyncio.wait_for(running, 30)
        assert not conn.up


async def test_a_displaced_connection_gives_up_instead_of_fighting(running: tuple[App, Runtime],
                                                                   ws: FakeOpenWs) -> None:
    app, rt = running
    ch = channel(rt)
    await ws.displace()
    await ws.until(lambda: ch.state == "displaced")
    assert ws.subscribes == [(BOT_ID, 0)]  # no reconnect that would displace the newer connection in turn
    assert await app.store.leases.holder(ch.supervisor.lease, app.clock.utcnow()) is None  # another may take it


async def test_wait_after_a_displacement_starts_short_again_after_a_healthy_connection(app: App,
                                                                                    ws: FakeOpenWs) -> None:
    """Displaced at once again: the wait doubles (a fight); displaced after a healthy hour: the short wait again."""
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        """Return at once from the waits after a displacement; the lease's renewal never comes round here."""
        if seconds < DISPLACED_WAIT:
            await asyncio.Event().wait()
        waits.append(seconds)

    async with aiohttp.ClientSession() as session:
        conn = OpenWs(session, ws.ws_url, BOT_ID, SECRET, on_frame=lambda _frame, _raw, _conn: None,
                      on_up=lambda: supervisor.connected())
        supervisor = Supervisor(conn, app.store.leases, app.clock, lease=f"wecom-bot:{BOT_ID}",
                                ttl=dt.timedelta(seconds=60), on_taken=_nothing, sleep=sleep,
                                monotonic=lambda: now[0])
        running = asyncio.create_task(supervisor.run())
        try:
            await ws.until(lambda: supervisor.state == "connected")
            await ws.displace()
            await ws.until(lambda: len(waits) == 1 and supervisor.state == "connected")
            await ws.displace()  # displaced again at once: someone else keeps connecting
            await ws.until(lambda: len(waits) == 2 and supervisor.state == "connected")
            now[0] += 3600  # then an hour connected without trouble
            await ws.displace()
            await ws.until(lambda: len(waits) == 3 and supervisor.state == "connected")
            assert waits == [60.0, 120.0, 60.0]
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await supervisor.release()


async def _nothing() -> None:
    """Nothing was left by a previous holder."""


async def test_refused_secret_is_logged_once_without_a_loop(tmp_path: Path, db_url: str, clock: Clock,
                                                           ws: FakeOpenWs, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, db_url, **bot_settings(tmp_path, db_url, ws, wecom_bot_secret="wrong"))
    app = await App.create(settings, clock)
    with caplog.at_level(logging.ERROR, logger="bot.channels.wecom.aibot"):
        async with Runtime(app) as rt:
            await ws.until(lambda: channel(rt).state == "refused")
            assert len(ws.subscribes) == 1
    await app.close()
    assert "企业微信拒绝了智能机器人的 BotID 或 Secret" in caplog.text and "refused the bot id or secret" in caplog.text


async def test_frame_kept_before_a_restart_is_answered_by_push(tmp_path: Path, db_url: str, clock: Clock,
                                                               ws: FakeOpenWs) -> None:
    """A frame kept by a process that died before replying: its req_id belonged to that connection."""
    app = await App.create(make_settings(tmp_path, db_url, **bot_settings(tmp_path, db_url, ws)), clock)
    try:
        body = {"msgid": "left-1", "chattype": "single", "from": {"userid": LIAISON}, "msgtype": "text",
                "text": {"content": "/help"}}
        envelope = decode_frame({"conn": "old-connection", "received_at": clock.utcnow().isoformat(),
                                 "frame": {"cmd": "aibot_msg_callback", "headers": {"req_id": "old-req"}, "body": body}})
        assert envelope is not None
        await app.store.intake.keep([envelope], clock.utcnow())
        async with Runtime(app):
            [reply] = await ws.wait_for()
            assert reply.via == "send" and reply.to == LIAISON and "/bind" in reply.text
            await app.intake.idle()
        assert await app.store.intake.unhandled("wecom-bot") == []
    finally:
        await app.close()


async def test_a_message_being_handled_is_not_queued_again_when_the_lease_changes_hands(
        running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    """Taking the lease back resumes what is kept but unhandled; the message in hand now is not among them."""
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    ws.hold_downloads = asyncio.Event()
    ws.send_file(LIAISON, PDF, "创建材料.pdf")
    await ws.until(lambda: len(ws.downloads) == 1)
    assert await app.intake.resume("wecom-bot") == 0  # kept and unhandled, but in hand: not queued again
    ws.hold_downloads.set()
    await ws.wait_for(count=2)
    await app.intake.idle()
    assert len(ws.downloads) == 1 and len(ws.deliveries) == 3  # bind, question and card: handled once


async def test_lease_is_renewed_by_its_holder_and_taken_over_once_expired(app: App, clock: Clock) -> None:
    import datetime as dt

    ttl = dt.timedelta(seconds=20)
    assert await app.store.leases.take("wecom-bot:x", "a", clock.utcnow(), ttl)
    assert not await app.store.leases.take("wecom-bot:x", "b", clock.utcnow(), ttl)
    clock.advance(dt.timedelta(seconds=15))
    assert await app.store.leases.take("wecom-bot:x", "a", clock.utcnow(), ttl)  # renewed
    clock.advance(dt.timedelta(seconds=15))
    assert not await app.store.leases.take("wecom-bot:x", "b", clock.utcnow(), ttl)
    clock.advance(dt.timedelta(seconds=6))
    assert await app.store.leases.take("wecom-bot:x", "b", clock.utcnow(), ttl)  # a lapsed for 1 s: b takes over
    assert not await app.store.leases.take("wecom-bot:x", "a", clock.utcnow(), ttl)
    await app.store.leases.release("wecom-bot:x", "b")
    assert await app.store.leases.holder("wecom-bot:x", clock.utcnow()) is None


# ---- `duban run` processes ---------------------------------------------------------------------------
async def _bound_state(tmp_path: Path, unit: str) -> None:
    from bot.config import Settings

    app = await App.create(Settings(state_dir=tmp_path, today=TODAY, time=NOW, _env_file=None))  # type: ignore[call-arg]
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7)
    person = await app.store.people.identify("wecom-bot", LIAISON, name="李", chat_id=LIAISON, now=app.clock.utcnow())
    await app.store.people.bind(person, code, now=app.clock.utcnow())
    await app.close()


def _env(tmp_path: Path, ws: FakeOpenWs) -> dict[str, str]:
    env = dict(os.environ, DUBAN_STATE_DIR=str(tmp_path), DUBAN_TODAY=TODAY.isoformat(),
               DUBAN_TIME=NOW.isoformat(timespec="minutes"), DUBAN_WECOM_BOT_ID=BOT_ID, DUBAN_WECOM_BOT_SECRET=SECRET,
               DUBAN_WECOM_BOT_WS_URL=ws.ws_url, DUBAN_HTTP_PORT="0",
               DUBAN_WECOM_BOT_LEASE_S="3", DUBAN_SCHEDULER="false")
    env.pop("DUBAN_DATABASE_URL", None)
    return env


async def _duban_run(env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start `duban run`; its stderr goes to the state dir (a process that dies on start says why there)."""
    with (Path(env["DUBAN_STATE_DIR"]) / "stderr.log").open("ab") as err:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=err, stderr=err)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)


async def test_kill_9_between_receipt_and_reply_then_restart_still_answers(tmp_path: Path, ws: FakeOpenWs) -> None:
    """The process keeps the file's frame, starts downloading it and is killed; the next one files and answers."""
    await _bound_state(tmp_path, "区教育局")
    env = _env(tmp_path, ws)
    ws.hold_downloads = asyncio.Event()
    first = await _duban_run(env)
    try:
        await ws.until(lambda: BOT_ID in ws.conns, timeout=60)
        ws.send_text(LIAISON, "40-3")
        await ws.wait_for(timeout=30)
        ws.send_file(LIAISON, PDF, "创建材料.pdf")
        await ws.until(lambda: len(ws.downloads) == 1, timeout=30)  # kept, being handled, not answered
        first.send_signal(signal.SIGKILL)
        await first.wait()
    finally:
        await _stop(first)
    second = await _duban_run(env)
    try:
        ws.hold_downloads.set()
        [filed] = await ws.wait_for(timeout=60)
        assert filed.via == "send" and filed.to == LIAISON and "归入任务40 材料3" in filed.text
    finally:
        await _stop(second)
    app = await App.create(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/duban.db"))
    try:
        plan = await app.store.plans.plan()
        [f] = await app.store.evidence.files(plan.id, 40)
        assert app.store.files.path_for(f.sha256).read_bytes() == PDF
        assert await app.store.intake.unhandled("wecom-bot") == []
    finally:
        await app.close()


async def test_two_processes_hold_one_connection_and_the_other_takes_over(tmp_path: Path, ws: FakeOpenWs) -> None:
    await _bound_state(tmp_path, "区教育局")
    env = _env(tmp_path, ws)
    log_file = tmp_path / "logs" / "duban.log"
    procs = [await _duban_run(env), await _duban_run(env)]
    try:
        await ws.until(lambda: BOT_ID in ws.conns, timeout=60)
        for _ in range(60):  # until the other process has found the lease taken and stands by
            if log_file.exists() and "standing by" in log_file.read_text():
                break
            await asyncio.sleep(0.5)
        assert "standing by" in log_file.read_text(), (tmp_path / "stderr.log").read_text()[-3000:]
        assert ws.subscribes == [(BOT_ID, 0)] and ws.displaced == 0
        app = await App.create(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/duban.db"))
        try:
            holder = await app.store.leases.holder(f"wecom-bot:{BOT_ID}", app.clock.utcnow())
        finally:
            await app.close()
        assert holder is not None
        pid = int(holder.split(":")[1])
        [dead] = [p for p in procs if p.pid == pid]
        dead.send_signal(signal.SIGKILL)
        await dead.wait()
        await ws.until(lambda: len(ws.subscribes) == 2 and BOT_ID in ws.conns, timeout=30)
        assert ws.displaced == 0
        [reply] = await say(ws, LIAISON, "我单位有哪些任务")
        assert "任务40" in reply.text
    finally:
        for p in procs:
            await _stop(p)


# ---- frames as WeCom sends them in the field -----------------------------------------------------------
async def test_text_with_a_raw_control_character_is_answered(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    ws.send_raw_text(LIAISON, "我单位有哪些任务\x01")
    [reply] = await ws.wait_for()
    assert reply.via == "respond" and "/bind" in reply.text


async def test_video_is_filed_as_evidence(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    await say(ws, LIAISON, "40-3")
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20
    ws.send_file(LIAISON, video, "节水宣传片.mp4", kind="video")
    [filed] = await ws.wait_for()
    assert "归入任务40 材料3" in filed.text
    [f] = await files_of(app, 40)
    assert f.file_name == "节水宣传片.mp4" and app.store.files.path_for(f.sha256).read_bytes() == video


async def test_a_file_quoted_when_mentioning_the_bot_in_a_group_is_filed(running: tuple[App, Runtime],
                                                                        ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    ws.send_quote(LIAISON, "@督办助手 40-3", "file", PDF, "创建材料.pdf", chat=GROUP)
    [filed] = await ws.wait_for()
    assert filed.to == GROUP and "归入任务40 材料3" in filed.text
    [f] = await files_of(app, 40)
    assert f.file_name == "创建材料.pdf" and f.sha256 == hashlib.sha256(PDF).hexdigest()


async def test_an_image_quoted_in_a_private_chat_is_filed(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    jpeg = b"\xff\xd8\xff\xe0" + b"jpeg" * 500
    ws.send_quote(LIAISON, "40-2", "image", jpeg, "")
    [filed] = await ws.wait_for()
    assert "归入任务40 材料2" in filed.text
    assert [f.item_no for f in await files_of(app, 40)] == [2]


async def test_a_plain_percent_encoded_file_name_is_decoded(running: tuple[App, Runtime], ws: FakeOpenWs) -> None:
    app, _ = running
    await bind(app, ws, LIAISON, "区教育局")
    ws.send_file(LIAISON, PDF, "学校节水宣传材料.pdf", plain_name=True)
    question, _card = await ws.wait_for(count=2)
    assert "收到「学校节水宣传材料.pdf」" in question.text
