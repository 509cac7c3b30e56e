"""Extension requests (延期申请) in chat: asked by a lead unit, answered by coordinators, followed everywhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from conftest import TODAY, Chat
from openpyxl import load_workbook

from bot.app import App
from bot.core.clock import SHANGHAI, Clock
from bot.exports.ledger import HEADERS, export_ledger
from bot.reminders.engine import ReminderEngine

D = dt.date


async def pushed(app: App, chat_id: str, marker: str) -> dict[str, Any]:
    """Return the newest outbox row to a chat whose text holds `marker`."""
    return [r for r in await app.store.outbox.rows() if r["chat_id"] == chat_id and marker in r["payload"]["text"]][-1]


def button(row: dict[str, Any], label: str) -> str:
    """Return the data of a pushed message's button by its label."""
    return next(data for text, data in row["payload"]["choices"] if text == label)


async def test_free_text_request_reaches_coordinators_and_approval_moves_the_deadline(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "任务40申请延期到11月15日，因为学校暑期停课，需顺延")
    assert "已提交任务40的延期申请" in reply and "2023年9月30日延至2023年11月15日" in reply
    notice = await pushed(app, "admin", "【延期申请】")
    assert "区教育局" in notice["payload"]["text"] and "学校暑期停课，需顺延" in notice["payload"]["text"]
    [ok] = await chat.say("admin", callback=button(notice, "批准"))
    assert "已批准任务40延期" in ok.text and "区教育局" in ok.text

    plan = await app.store.plans.plan()
    [ext] = await app.store.extensions.of_task(plan.id, 40)
    assert (ext.status, ext.deadline_from, ext.deadline_to, ext.requested_by, ext.decided_by) == (
        "approved", D(2023, 9, 30), D(2023, 11, 15), "console:li", "console:admin")
    task = await app.store.plans.task(plan.id, 40)
    assert (task.deadline, task.deadline_original, task.deadline_raw) == (D(2023, 11, 15), D(2023, 9, 30), "2023.9")
    actions = [a["action"] for a in await app.store.chats.audit(task_no=40)]
    assert actions[:2] == ["extension.approved", "extension.request"]
    assert "已获节水办批准" in (await pushed(app, "li", "延期申请"))["payload"]["text"]

    assert "任务40" not in await chat.text("li", "逾期的任务")  # 9月30日 was overdue; 11月15日 is not
    assert "任务40" in await chat.text("li", "下个月到期的")
    assert "已批准延期，原定2023.9，还剩26天" in await chat.text("li", "任务40")
    digest = await chat.text("admin", "/digest")
    [line] = [line for line in digest.splitlines() if "区教育局：" in line]
    assert line.endswith("区教育局：完成0/3 · 材料0% · 黄1")  # no longer 逾期1项 or 红: only task 41 (due 10-31) is 黄
    assert "已批准延期：任务40（原2023.9，延至11月15日）" in await chat.text("li", "/digest")


async def test_ledger_keeps_the_original_deadline_beside_the_extended_one(chat: Chat, app: App, tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await chat.text("li", "/delay 40 2023-11-15 学校暑期停课")

    async def row_40() -> dict[str, object]:
        out = await export_ledger(app.store, None, tmp_path / "台账.xlsx", TODAY)
        ws = load_workbook(out)["台账"]
        row = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value == 40)
        return dict(zip(HEADERS, (c.value for c in ws[row]), strict=True))

    asked = await row_40()  # a pending request is marked, the deadline not yet moved
    assert asked["延期申请"] == "待批复：延至2023-11-15（学校暑期停课）" and asked["延期至"] is None
    await chat.text("admin", "/delay approve 40")
    values = await row_40()
    assert values["完成时间"] == "2023.9" and values["延期至"] == dt.datetime(2023, 11, 15)
    assert values["逾期天数"] is None and values["延期申请"] is None


async def test_rejection_needs_a_reason_and_leaves_the_deadline(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.text("li", "/delay 41 2023-12-31 验收推迟")
    notice = await pushed(app, "admin", "【延期申请】")
    [ask] = await chat.say("admin", callback=button(notice, "不批准"))
    assert "/delay reject 41 原因" in ask.text
    assert "请写上不批准的原因" in await chat.text("admin", "/delay reject 41")
    assert "已不批准任务41的延期申请" in await chat.text("admin", "/delay reject 41 请按原计划完成")
    told = (await pushed(app, "li", "未获批准"))["payload"]["text"]
    assert "请按原计划完成" in told and "2023年10月31日" in told
    plan = await app.store.plans.plan()
    task = await app.store.plans.task(plan.id, 41)
    assert (task.deadline, task.deadline_original) == (D(2023, 10, 31), None)
    [ext] = await app.store.extensions.of_task(plan.id, 41)
    assert (ext.status, ext.decision_note) == ("rejected", "请按原计划完成")
    assert (await app.store.chats.audit(task_no=41))[0]["action"] == "extension.rejected"
    assert "没有待批复的延期申请" in await chat.text("admin", "/delay approve 41")


async def test_requests_are_refused_when_they_cannot_stand(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.bind("shui", "水务局")
    assert "只有牵头单位" in await chat.text("shui", "/delay 40 2023-11-15 配合单位想延期")  # 水务局 does not lead 40
    assert "要晚于它" in await chat.text("li", "/delay 41 2023-10-15 日期写早了")
    assert "请写上延期原因" in await chat.text("li", "/delay 41 2023-11-30")
    assert "请写上新的截止日期" in await chat.text("li", "/delay 41 下个月吧")
    assert "已提交" in await chat.text("li", "/delay 41 2023-11-30 验收推迟")
    assert "已有一份延期申请" in await chat.text("li", "任务41申请延期到12月15日，因为验收推迟")
    assert "只有节水办" in await chat.text("li", "/delay approve 41")
    assert "由牵头单位的联络员申请" in await chat.text("admin", "任务40申请延期到11月15日，因为统筹安排")
    assert "待批复的延期申请（1项）" in await chat.text("admin", "/delay")
    assert "待批复" in await chat.text("li", "/delay 41")
    assert "延期申请：区教育局申请延至2023年11月30日，待节水办批复" in await chat.text("admin", "任务41")
    plan = await app.store.plans.plan()
    assert len(await app.store.extensions.of_task(plan.id, 41)) == 1
    assert await app.store.extensions.of_task(plan.id, 40) == []


def at(clock: Clock, when: str) -> None:
    """Set the clock to a Shanghai wall time such as "2023-10-24 10:00"."""
    moment = dt.datetime.fromisoformat(when).replace(tzinfo=SHANGHAI)
    clock.pinned_today, clock.pinned_time, clock.offset = moment.date(), moment.time(), dt.timedelta(0)


async def test_reminders_follow_the_extended_deadline_under_new_keys(chat: Chat, app: App, clock: Clock) -> None:
    """The d7 stage already went out for 10月31日; after the extension the d7 of 11月30日 still goes out."""
    await chat.bind("jiaoyu", "教育局")
    ledger = app.store.reminders
    at(clock, "2023-10-24 10:00")  # d7 of task 41 (due 2023-10-31)
    await ReminderEngine.for_app(app).sweep()
    [before] = await ledger.entries(task_no=41, recipient="console:jiaoyu", status="sent")
    assert before.stage == "d7" and before.key.split(":")[2] == "41"

    await chat.text("jiaoyu", "/delay 41 2023-11-30 验收推迟到11月")
    await chat.text("admin", "/delay approve 41")
    at(clock, "2023-10-27 10:00")  # d3 of the old date: not sent
    await ReminderEngine.for_app(app).sweep()
    assert [e.key for e in await ledger.entries(task_no=41, recipient="console:jiaoyu")] == [before.key]

    at(clock, "2023-11-23 10:00")  # d7 of the new date
    await ReminderEngine.for_app(app).sweep()
    sent = [e for e in await ledger.entries(task_no=41, recipient="console:jiaoyu", status="sent")]
    assert [(e.stage, e.key.split(":")[2]) for e in sent] == [("d7", "41"), ("d7", "41@20231130")]
    message = [r for r in await app.store.outbox.rows() if r["dedupe_key"] == "remind:console:jiaoyu:2023-11-23"]
    assert "任务41" in message[0]["payload"]["text"] and "截止11月30日" in message[0]["payload"]["text"]
