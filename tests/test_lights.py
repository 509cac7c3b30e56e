"""The traffic light's own messages on the real store: a task turning 红 tells its lead unit's liaisons once per red
spell, and each week every 分管领导 gets the unit's 红/黄 tasks; exactly once across restarts and processes."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from conftest import Chat, make_settings
from test_escalation import bind_leader
from test_reminder_engine import at, sweep

from bot.app import App
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef
from bot.reminders.engine import ReminderEngine
from bot.store.reminders import SENT, SKIPPED

JIAOYU = "console:jiaoyu"  # 区教育局 leads 40 (2023.9), 41 (2023.10), 42 (2023.11)
GROUP = ChatRef("telegram", "-100", ChatKind.GROUP)


async def red(app: App, user: str) -> list[str]:
    """Return the texts of the 红灯 messages enqueued for a user, oldest first."""
    return [r["payload"]["text"] for r in await app.store.outbox.rows()
            if r["dedupe_key"].startswith("red:") and r["chat_id"] == user]


async def weekly(app: App, user: str) -> list[str]:
    """Return the texts of the weekly 红/黄 summaries enqueued for a user."""
    return [r["payload"]["text"] for r in await app.store.outbox.rows()
            if r["dedupe_key"].startswith("leader-weekly:") and r["chat_id"] == user]


def rows_of(preview: list[dict[str, Any]], kind: str) -> list[tuple[str, int | None, str]]:
    """Return (day, task, recipient) of a preview's rows of a kind."""
    return [(r["at"][:10], r["task"], r["recipient"]) for r in preview if r["kind"] == kind]


async def test_a_task_turning_red_tells_its_lead_units_liaisons_once(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    engine = ReminderEngine.for_app(app)
    preview = await engine.preview(dt.date(2023, 10, 20), dt.date(2023, 11, 30))
    # 41 is due 10月31日; 40 has been red since October began, before the catch-up window: not told now
    assert [r for r in rows_of(preview, "red") if r[2] == JIAOYU] == [("2023-11-01", 41, JIAOYU)]
    at(clock, "2023-10-31 10:00")
    await sweep(app)
    assert await red(app, "jiaoyu") == []
    at(clock, "2023-11-01 10:00")
    assert (await sweep(app)).red == 1
    assert (await sweep(app)).red == 0  # a restarted process finds it taken
    at(clock, "2023-11-02 10:00")
    await sweep(app, engine)
    [text] = await red(app, "jiaoyu")
    assert text.startswith("【红灯预警】11月1日（周三），区教育局牵头的以下1项任务亮红灯：")
    assert "任务41" in text and "已逾期" in text and "任务40" not in text
    [entry] = [e for e in await app.store.reminders.entries(status=SENT) if e.key.startswith("red:")]
    assert (entry.task_no, entry.period, entry.stage, entry.recipient) == (41, "2023-11-01", "red", "unit:区教育局")
    assert not [r for r in rows_of(await engine.preview(dt.date(2023, 11, 1), dt.date(2023, 11, 30)), "red")
                if r[1] == 41]  # told: in the ledger


async def test_a_red_message_missed_while_down_is_sent_late_once_saying_so(app: App, chat: Chat,
                                                                          clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-31 10:00")
    await sweep(app)
    at(clock, "2023-11-03 10:00")  # down on 1 and 2 November, within the 3-day catch-up (40's older red: never)
    await sweep(app)
    await sweep(app)
    [text] = await red(app, "jiaoyu")
    assert "任务41" in text and "本条应于11月1日发送，现补发" in text


async def test_red_again_after_an_extension_tells_again(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-11-01 10:00")
    await sweep(app)
    await chat.text("jiaoyu", "/delay 41 2023-11-10 验收推迟")
    await chat.text("admin", "/delay approve 41")  # no longer overdue: back to 黄
    at(clock, "2023-11-10 10:00")
    await sweep(app)
    assert len(await red(app, "jiaoyu")) == 1
    at(clock, "2023-11-13 10:00")  # overdue again since Saturday the 11th: told on Monday
    assert (await sweep(app)).red == 1
    _, second = await red(app, "jiaoyu")
    assert "任务41" in second and "截止11月10日" in second


async def test_a_return_left_unanswered_turns_red_on_the_sixth_workday_and_tells_once(app: App, chat: Chat,
                                                                                      clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    [ask] = await chat.say("jiaoyu", "/done 42")  # 42 is due 11月30日
    await chat.say("jiaoyu", callback=ask.choices[0].data)
    await chat.text("admin", "/return 42 照片不清晰")  # Friday 20 October
    preview = await ReminderEngine.for_app(app).preview(dt.date(2023, 10, 20), dt.date(2023, 11, 10))
    [row] = [r for r in preview if r["kind"] == "red" and r["task"] == 42]
    # the 5th workday after is Friday the 27th: red from Saturday the 28th, told on Monday
    assert (row["at"][:10], row["period"], row["why"]) == ("2023-10-30", "2023-10-28", "退回后5个工作日内未重新提交")
    at(clock, "2023-10-30 10:00")
    await sweep(app)
    at(clock, "2023-10-31 10:00")
    await sweep(app)
    [text] = await red(app, "jiaoyu")
    assert "任务42" in text and "退回后5个工作日内未重新提交" in text


async def test_two_processes_send_each_red_message_and_weekly_summary_once(app: App, chat: Chat, clock: Clock,
                                                                          tmp_path: Path, db_url: str) -> None:
    await chat.bind("jiaoyu", "区教育局")
    await chat.bind("jiaoyu2", "区教育局")
    await bind_leader(chat, "wang", "教育局")
    other = await App.create(make_settings(tmp_path / "other", db_url), clock)
    try:
        now = at(clock, "2023-11-01 10:00")
        a, b = await asyncio.gather(ReminderEngine.for_app(app).sweep(now), ReminderEngine.for_app(other).sweep(now))
    finally:
        await other.close()
    assert (a.red + b.red, a.leader_weekly + b.leader_weekly) == (2, 1)  # Monday's summary, sent late within the window
    assert len(await red(app, "jiaoyu")) == len(await red(app, "jiaoyu2")) == len(await weekly(app, "wang")) == 1


async def test_a_leader_gets_the_units_red_and_yellow_once_a_week(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    assert "每周第一个工作日收到本单位红灯、黄灯任务的汇总" in await bind_leader(chat, "wang", "教育局")
    await bind_leader(chat, "zhao", "税务局")  # 区税务局's tasks are green in October: nothing for it
    engine = ReminderEngine.for_app(app)
    preview = await engine.preview(dt.date(2023, 10, 20), dt.date(2023, 11, 7))
    assert [r[0] for r in rows_of(preview, "leader-weekly") if r[2] == "console:wang"] == [
        "2023-10-23", "2023-10-30", "2023-11-06"]
    # 区税务局's one task is green until October's progress report fails to come (黄 from November)
    assert [r[0] for r in rows_of(preview, "leader-weekly") if r[2] == "console:zhao"] == ["2023-11-06"]
    at(clock, "2023-10-23 10:00")  # Monday
    assert (await sweep(app, engine)).leader_weekly == 1
    assert (await sweep(app)).leader_weekly == 0
    at(clock, "2023-10-24 10:00")
    await sweep(app, engine)
    [text] = await weekly(app, "wang")
    assert text.startswith("【每周红黄灯汇总】10月23日（周一），区教育局牵头的任务中🔴红灯1项")
    assert "🔴红 任务40" in text and "已逾期" in text and "/批示 40" in text
    assert await weekly(app, "zhao") == [] and await weekly(app, "jiaoyu") == []
    skipped = [e for e in await app.store.reminders.entries(status=SKIPPED) if e.key.startswith("leader-weekly:")]
    assert [(e.recipient, e.period) for e in skipped] == [("console:zhao", "2023-W43")]


async def test_the_next_digest_lists_the_tasks_newly_red(app: App, chat: Chat, clock: Clock) -> None:
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    at(clock, "2023-10-30 10:00")  # Monday's digest: 40 has been red since October began, nothing new
    await sweep(app)
    at(clock, "2023-11-01 10:00")  # the month's digest: 41 and the others due 10月31日 turned red today
    await sweep(app)
    first, second = [r["payload"]["text"] for r in await app.store.outbox.rows()
                     if r["dedupe_key"].startswith("digest:") and not r["dedupe_key"].endswith(":chart")]
    assert "新亮红灯" not in first
    line = next(line for line in second.splitlines() if "新亮红灯" in line)
    assert line.startswith("10月30日后新亮红灯") and "任务41（区教育局，已逾期）" in line and "任务40" not in line
    assert "新亮红灯" in await chat.text("admin", "/digest")  # on demand: the last seven days


async def test_the_digest_mentions_the_tasks_escalated_since_the_last_one(app: App, chat: Chat, clock: Clock) -> None:
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    await chat.bind("jiaoyu", "区教育局")
    await bind_leader(chat, "wang", "教育局")

    async def latest_digest() -> str:
        return [r["payload"]["text"] for r in await app.store.outbox.rows()
                if r["dedupe_key"].startswith("digest:") and not r["dedupe_key"].endswith(":chart")][-1]

    at(clock, "2023-11-03 10:00")  # 41 overdue 3 workdays: its 督办单 goes out by itself
    await sweep(app)
    at(clock, "2023-11-06 10:00")
    await sweep(app)
    assert ("11月1日后督办升级2项：任务40（区教育局）报分管领导（11月3日）；任务41（区教育局）督办单〔2023〕第1号（11月3日）"
            in await latest_digest())  # 40 has long been overdue: its leader was told at the first sweep
    at(clock, "2023-11-14 10:00")  # 41 overdue 10 workdays: 区教育局's leader is told
    await sweep(app)
    at(clock, "2023-11-20 10:00")
    await sweep(app)
    text = await latest_digest()
    assert "11月13日后督办升级1项：任务41（区教育局）报分管领导（11月14日）" in text and "督办单" not in text
    assert "督办升级1项：任务41（区教育局）报分管领导（11月14日）" in await chat.text("admin", "/digest")
