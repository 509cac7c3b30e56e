"""Escalations the reminder sweep sends by itself: a 督办单 for a stalled overdue task, the unit's 分管领导 at the
threshold; exactly once, and not once the task moved."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from conftest import Chat, make_settings
from test_escalation import bind_leader

from bot.app import App
from bot.core.clock import SHANGHAI, Clock
from bot.reminders.engine import ReminderEngine


async def test_a_leader_gets_one_escalation_at_the_threshold_and_none_once_the_task_moves(
        chat: Chat, app: App, clock: Clock) -> None:
    await chat.bind("li", "教育局")
    await bind_leader(chat, "wang", "教育局")
    [confirm] = await chat.say("li", "/done 40")  # 40 is overdue 12 workdays, but submitted: nobody is escalated
    await chat.say("li", callback=confirm.choices[0].data)
    engine = ReminderEngine.for_app(app)
    preview = [r for r in await engine.preview(dt.date(2023, 10, 20), dt.date(2023, 11, 30))
               if r["kind"] == "escalation" and r["task"] == 41]
    assert [(r["at"][:10], r["recipient"], r["stage"]) for r in preview] == [("2023-11-14", "console:wang", "overdue")]

    async def escalations(no: int) -> list[dict[str, object]]:
        return [r for r in await app.store.outbox.rows()
                if r["chat_id"] == "wang" and f"任务{no}" in r["payload"]["text"] and "督办升级" in r["payload"]["text"]]

    clock.pinned_today = dt.date(2023, 11, 13)
    await engine.sweep()
    assert await escalations(41) == [] and await escalations(40) == []
    clock.pinned_today = dt.date(2023, 11, 14)  # the 10th workday after 10月31日
    await engine.sweep()
    await engine.sweep()
    assert len(await escalations(41)) == 1 and await escalations(40) == []
    assert not [r for r in await app.store.outbox.rows() if r["chat_id"] == "wang" and "督办提醒" in r["payload"]["text"]]


async def test_three_urges_without_response_escalate_once_unless_the_task_moved(chat: Chat, app: App,
                                                                               clock: Clock) -> None:
    await chat.bind("li", "教育局")
    await bind_leader(chat, "wang", "教育局")
    for _ in range(3):
        clock.advance(dt.timedelta(minutes=1))
        await chat.text("admin", "/urge 教育局 42")
    clock.advance(dt.timedelta(minutes=1))
    await chat.text("li", "/note 42 合同已在走流程")  # 42 moved after the urges: no escalation
    engine = ReminderEngine.for_app(app)
    await engine.sweep()
    rows = await app.store.outbox.rows()
    assert not [r for r in rows if r["chat_id"] == "wang" and "任务42" in r["payload"]["text"]]
    for _ in range(3):
        clock.advance(dt.timedelta(minutes=1))
        await chat.text("admin", "/urge 教育局 42")
    await engine.sweep()
    await engine.sweep()
    rows = [r for r in await app.store.outbox.rows() if r["chat_id"] == "wang" and "任务42" in r["payload"]["text"]]
    assert len(rows) == 1 and "催办3次" in rows[0]["payload"]["text"]


async def test_a_task_overdue_three_workdays_with_nothing_new_gets_a_notice_by_itself(
        chat: Chat, app: App, clock: Clock) -> None:
    await chat.bind("li", "教育局")
    engine = ReminderEngine.for_app(app)
    plan = await app.store.plans.plan()
    clock.pinned_today = dt.date(2023, 11, 2)  # 41 is due 10月31日: two workdays overdue
    await engine.sweep()
    assert [n.task_no for n in await app.store.notices.notices(plan.id, 41)] == []
    clock.pinned_today = dt.date(2023, 11, 3)
    await engine.sweep()
    await engine.sweep()
    [notice] = await app.store.notices.notices(plan.id, 41)
    assert notice.issued_by == "system"
    rows = [r for r in await app.store.outbox.rows() if r["chat_id"] == "li" and r["payload"]["file"]
            and r["payload"]["file"][0] == notice.file_name]
    assert len(rows) == 1
    assert [u.kind for u in await app.store.urges.history(plan.id, 41)] == ["notice"]  # it counts as an urge
    preview = await engine.preview(dt.date(2023, 11, 3), dt.date(2023, 12, 31))
    assert [r["at"][:10] for r in preview if r["kind"] == "notice" and r["task"] == 42] == ["2023-12-05"]
    assert not [r for r in preview if r["kind"] == "notice" and r["task"] == 41]  # sent: in the ledger


async def test_two_processes_sweeping_at_once_issue_each_notice_and_escalation_once(
        chat: Chat, app: App, clock: Clock, tmp_path: Path, db_url: str) -> None:
    await chat.bind("li", "教育局")
    await bind_leader(chat, "wang", "教育局")
    clock.pinned_today = dt.date(2023, 11, 3)  # the sweeps below name their instant; issuing reads the clock's day
    other = await App.create(make_settings(tmp_path / "other", db_url), clock)
    try:
        first, second = ReminderEngine.for_app(app), ReminderEngine.for_app(other)
        for day in (dt.date(2023, 11, 3), dt.date(2023, 11, 14)):  # 41's 督办单, then its escalation
            clock.pinned_today = day
            now = dt.datetime.combine(day, dt.time(10, 0), tzinfo=SHANGHAI)
            await asyncio.gather(first.sweep(now), second.sweep(now))
    finally:
        await other.close()
    plan = await app.store.plans.plan()
    assert [n.number for n in await app.store.notices.notices(plan.id, 41)] == [1]
    rows = await app.store.outbox.rows()
    assert len([r for r in rows if r["chat_id"] == "wang" and "【督办升级】" in r["payload"]["text"]
                and "任务41" in r["payload"]["text"]]) == 1
    keys = [r["dedupe_key"] for r in rows]
    assert len(keys) == len(set(keys))
