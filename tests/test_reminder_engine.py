"""The reminder sweep on the real store: exactly once across restarts and processes, on Chinese workdays.

The clock is set to a Shanghai wall time for each step (no sleeping); a "restart" is a new engine,
a "second process" a second App on the same database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Chat, make_settings
from sqlmodel import select

from bot.app import App
from bot.core.clock import SHANGHAI, Clock
from bot.core.messages import ChatKind, ChatRef, Push, Reply
from bot.core.views import Question, TaskStatus
from bot.core.workdays import is_workday
from bot.planfiles.yamlfile import load_plan_file
from bot.reminders.engine import ReminderEngine
from bot.reminders.ticker import ReminderTicker
from bot.store.reminders import MISSED, SENT, SKIPPED, Claim, LedgerEntry
from bot.store.tables import QuestionRow

D = dt.date
GROUP = ChatRef("telegram", "-100", ChatKind.GROUP)
JIAOYU = "console:jiaoyu"  # a liaison of 区教育局: leads 40 (2023.9), 41 (2023.10), 42 (2023.11)
SHUI = "console:shui"  # a liaison of 区水务局: leads most tasks, cooperates on 38, 41, 45, 48


def at(clock: Clock, when: str) -> dt.datetime:
    """Set the clock to a Shanghai wall time such as "2023-10-17 10:00" and return that instant."""
    moment = dt.datetime.fromisoformat(when).replace(tzinfo=SHANGHAI)
    clock.pinned_today, clock.pinned_time, clock.offset = moment.date(), moment.time(), dt.timedelta(0)
    return moment


async def sweep(app: App, engine: ReminderEngine | None = None) -> Any:
    """Run one sweep now (a fresh engine unless one is given: a restarted process)."""
    return await (engine or ReminderEngine.for_app(app)).sweep()


async def messages(app: App, person: str) -> list[dict[str, Any]]:
    """Return the reminder messages enqueued for a person, oldest first."""
    return [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith(f"remind:{person}:")]


async def ledger(app: App, **kw: Any) -> list[Any]:
    """Return ledger entries."""
    return await app.store.reminders.entries(**kw)


def button(row: dict[str, Any], label: str) -> str:
    """Return the data of a message's button by its label."""
    return next(data for text, data in row["payload"]["choices"] if text == label)


def task_nos(entries: list[Any]) -> set[int]:
    """Return the task numbers of ledger entries."""
    return {e.task_no for e in entries}


@pytest.fixture
async def plan_id(app: App) -> int:
    """The seed plan's id."""
    return (await app.store.plans.plan()).id


# ---- grouping ---------------------------------------------------------------------------------------
async def test_liaison_with_several_tasks_due_gets_one_message_listing_them(app: App, chat: Chat,
                                                                          clock: Clock) -> None:
    await chat.bind("shui", "区水务局")
    at(clock, "2023-10-20 10:00")
    result = await sweep(app)
    [first] = await messages(app, SHUI)
    entries = await ledger(app, recipient=SHUI, status=SENT)
    assert task_nos(entries) == {11, 14, 16, 17}  # 14 days before 10-31 (10-17, caught up)
    assert result.messages >= 1 and all(e.outbox_key == first["dedupe_key"] for e in entries)
    text = first["payload"]["text"]
    assert all(f"任务{no}（牵头）" in text for no in (11, 14, 16, 17)) and "10月份报送" in text

    at(clock, "2023-10-24 10:00")  # d7 for the 10-31 tasks and the cooperating units' d7; 10-23's overdue nudge
    await sweep(app)
    rows = await messages(app, SHUI)
    assert len(rows) == 2  # one a day
    text = rows[1]["payload"]["text"]
    assert "⚠️ 任务10（牵头）" in text  # overdue since 9-30: listed first
    assert all(f"任务{no}（牵头）" in text for no in (11, 14, 16, 17))
    assert all(f"任务{no}（配合）" in text for no in (38, 41, 45, 48))
    labels = [label for label, _ in rows[1]["payload"]["choices"]]
    assert labels[:5] == ["查看任务10", "查看任务11", "查看任务14", "查看任务16", "查看任务17"]
    assert labels[5:] == ["上传材料", "稍后提醒"]


async def test_a_long_list_is_cut_and_counted(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("shui", "区水务局")
    at(clock, "2023-10-31 10:00")  # 10-31 tasks due today, 11-30 tasks 30 days ahead, cooperating d1 (10-30)
    await sweep(app)
    [row] = await messages(app, SHUI)
    listed = task_nos([e for e in await ledger(app, recipient=SHUI, status=SENT) if e.key.startswith("remind:")])
    assert len(listed) == 19  # and task 10's overdue nudge of 10-30
    assert "……另有4项" in row["payload"]["text"]
    assert row["payload"]["text"].index("任务11（") < row["payload"]["text"].index("任务1（")  # nearest deadline first


# ---- exactly once -----------------------------------------------------------------------------------
async def test_restart_mid_day_sends_nothing_twice(app: App, chat: Chat, clock: Clock, tmp_path: Path,
                                                   db_url: str) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    assert (await sweep(app)).messages == 1
    before = await app.store.outbox.rows()

    later = Clock(tz=SHANGHAI, pinned_today=D(2023, 10, 20), pinned_time=dt.time(15, 30))
    restarted = await App.create(make_settings(tmp_path / "restarted", db_url), later)
    try:
        again = await sweep(restarted)
        assert (again.claimed, again.messages, again.missed) == (0, 0, 0)
    finally:
        await restarted.close()
    assert len(await app.store.outbox.rows()) == len(before)


async def test_two_days_down_is_caught_up_once(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-15 10:00")  # Sunday: the process goes down after this sweep
    await sweep(app)
    assert await messages(app, JIAOYU) == []

    at(clock, "2023-10-17 12:00")  # up again: overdue nudge of 10-16 and 14-days-ahead of 10-17 are due
    await sweep(app)
    [row] = await messages(app, JIAOYU)
    assert "任务40" in row["payload"]["text"] and "任务41" in row["payload"]["text"]
    sent = {(e.task_no, e.stage) for e in await ledger(app, recipient=JIAOYU, status=SENT)}
    assert sent == {(40, "overdue-2"), (41, "d14")}

    for when in ("2023-10-17 15:00", "2023-10-18 10:00", "2023-10-19 10:00"):
        at(clock, when)
        await sweep(app)
    assert len(await messages(app, JIAOYU)) == 1


async def test_ten_days_down_records_missed_and_sends_nothing_late(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-05 10:00")  # National Day holiday; the process goes down after this sweep
    assert (await sweep(app)).missed == 0  # a first run ever: nothing fell due "while down"
    at(clock, "2023-10-15 10:00")  # ten days later: the 10-07 overdue nudge is past the 3-day catch-up window
    result = await sweep(app)
    assert result.missed >= 1 and result.claimed == 0
    assert await messages(app, JIAOYU) == []
    missed = await ledger(app, recipient=JIAOYU, task_no=40, status=MISSED)
    assert "overdue-1" in {e.stage for e in missed}
    assert all(e.outbox_key == "" for e in missed)


async def test_two_processes_sweeping_at_once_send_each_reminder_once(app: App, chat: Chat, clock: Clock,
                                                                       tmp_path: Path, db_url: str) -> None:
    for user, unit in (("jiaoyu", "区教育局"), ("jiaoyu2", "区教育局"), ("shui", "区水务局"),
                       ("shui2", "区水务局"), ("caizheng", "区财政局"), ("zhujian", "区住房和城乡建设局")):
        await chat.bind(user, unit)
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    other = await App.create(make_settings(tmp_path / "other", db_url), clock)
    try:
        first, second = ReminderEngine.for_app(app), ReminderEngine.for_app(other)
        claimed = digests = 0
        for when in ("2023-10-16 10:00", "2023-10-17 10:00", "2023-10-20 10:00", "2023-10-23 10:00",
                     "2023-10-24 10:00"):
            now = at(clock, when)
            a, b = await asyncio.gather(first.sweep(now), second.sweep(now))
            claimed += a.claimed + b.claimed
            digests += a.digests + b.digests
    finally:
        await other.close()

    rows = await app.store.outbox.rows()
    keys = [r["dedupe_key"] for r in rows]
    assert len(keys) == len(set(keys))
    everything = await ledger(app, status=SENT)
    sent = [e for e in everything if e.stage not in ("notice", "escalation")]
    assert claimed == len([e for e in sent if e.task_no]) > 0
    reminder_rows = {r["dedupe_key"] for r in rows if r["dedupe_key"].startswith("remind:")}
    assert {e.outbox_key for e in sent if e.task_no} == reminder_rows
    per_person_day = [k.rsplit(":", 1)[0] + k.rsplit(":", 1)[1] for k in reminder_rows]
    assert len(per_person_day) == len(set(per_person_day))
    assert digests == 2  # Monday 10-16 and Monday 10-23, once each
    # a 督办单 of an overdue task that stood still goes out once too, numbered without gaps
    plan = await app.store.plans.plan()
    notices = await app.store.notices.notices(plan.id)
    assert len(notices) == len([e for e in everything if e.stage == "notice"])
    assert [n.number for n in notices] == list(range(1, len(notices) + 1))
    assert len([k for k in keys if k.startswith("digest:")]) == 4  # text and chart


async def test_two_processes_sweeping_in_batches_at_once_send_each_reminder_once(app: App, chat: Chat, clock: Clock,
                                                                                  tmp_path: Path, db_url: str) -> None:
    liaisons = [(f"jiaoyu{n}", "区教育局") for n in range(3)] + [(f"shui{n}", "区水务局") for n in range(3)] + [
        ("jiguan", "区机关事务管理中心"), ("zhujian", "区住房和城乡建设局"), ("chengguan", "区城市管理和综合执法局")]
    for user, unit in liaisons:
        await chat.bind(user, unit)
    other = await App.create(make_settings(tmp_path / "other", db_url), clock)
    try:  # two people per transaction: the two processes' batches overlap and interleave
        first = ReminderEngine(app.store, clock, app.settings, batch=2)
        second = ReminderEngine(other.store, clock, other.settings, batch=2)
        claimed = messages = 0
        for when in ("2023-10-16 10:00", "2023-10-17 10:00", "2023-10-20 10:00", "2023-10-31 10:00"):
            now = at(clock, when)
            a, b = await asyncio.gather(first.sweep(now), second.sweep(now))
            claimed, messages = claimed + a.claimed + b.claimed, messages + a.messages + b.messages
    finally:
        await other.close()

    pushed = await app.store.outbox.rows()  # reminders, and on 10-31 the month's last check-in nudge
    rows = [r for r in pushed if r["dedupe_key"].startswith("remind:")]
    sent = [e for e in await ledger(app, status=SENT) if e.key.startswith("remind:")]
    assert claimed == len(sent) > 0 and messages == len(rows)
    assert {e.outbox_key for e in sent} == {r["dedupe_key"] for r in rows}  # no message without its reminders
    assert len({(e.plan_id, e.task_no, e.period, e.stage, e.recipient) for e in sent}) == len(sent)
    assert {r["chat_id"] for r in rows} == {user for user, _ in liaisons}
    buttons = {data.split(":")[0] for r in pushed for _, data in r["payload"]["choices"]}
    async with app.store.sessions() as s:  # a lost claim left none of its buttons' questions behind
        assert set((await s.exec(select(QuestionRow.token))).all()) == buttons


async def test_a_message_whose_reminder_was_taken_meanwhile_is_not_sent(app: App, clock: Clock) -> None:
    """A batch's claim that meets one key already in the ledger leaves nothing; the others in the batch go out."""
    repo, now = app.store.reminders, clock.utcnow()

    def claim(person: str, tasks: tuple[int, ...]) -> Claim:
        entries = [LedgerEntry(f"remind:1:{no}:2023:d7:console:{person}", 1, no, "2023", "d7", f"console:{person}",
                               now) for no in tasks]
        push = Push(ChatRef("console", person), Reply(f"任务{tasks}"), dedupe_key=f"remind:console:{person}:2023-10-20")
        return Claim(entries, [push], [Question(f"token-{person}", f"console:{person}", "reminder")])

    taken = claim("b", (2,))
    assert await repo.record_missed(taken.entries, now) == 1  # another process recorded task 2's reminder of b
    assert await repo.claim_and_enqueue([claim("a", (1, 2)), claim("b", (1, 2, 3))], now) == [True, False]

    assert [r["chat_id"] for r in await app.store.outbox.rows()] == ["a"]
    assert {(e.recipient, e.task_no, e.status) for e in await repo.entries()} == {
        ("console:a", 1, SENT), ("console:a", 2, SENT), ("console:b", 2, MISSED)}
    async with app.store.sessions() as s:
        assert set((await s.exec(select(QuestionRow.token))).all()) == {"token-a"}


# ---- who gets what ----------------------------------------------------------------------------------
async def test_submitted_and_approved_tasks_get_no_reminder(app: App, chat: Chat, clock: Clock,
                                                            plan_id: int) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-17 10:00")
    for no, status in ((40, TaskStatus.APPROVED), (41, TaskStatus.SUBMITTED)):
        await app.store.plans.set_status(plan_id, no, status, actor="console:admin", channel="console",
                                         now=clock.utcnow())
    assert (await sweep(app)).claimed == 0
    assert await messages(app, JIAOYU) == []

    await app.store.plans.set_status(plan_id, 41, TaskStatus.RETURNED, actor="console:admin", channel="console",
                                     now=clock.utcnow(), note="缺照片")
    at(clock, "2023-10-17 11:00")
    await sweep(app)
    [row] = await messages(app, JIAOYU)
    assert "任务41" in row["payload"]["text"] and "任务40" not in row["payload"]["text"]


async def test_cooperating_units_get_fewer_stages(app: App, chat: Chat) -> None:
    await chat.bind("caizheng", "区财政局")  # cooperates on 34-37, 40, 44, 47; leads nothing
    rows = await ReminderEngine.for_app(app).preview(D(2023, 9, 1), D(2023, 12, 31))
    caizheng = [r for r in rows if r["recipient"] == "console:caizheng"]
    assert caizheng and {r["role"] for r in caizheng} == {"cooperating"}
    assert {r["stage"] for r in caizheng} == {"d7", "d1"}
    lead = {r["stage"] for r in rows if r["role"] == "lead"}
    assert {"d30", "d14", "d7", "d3", "d1", "d0", "overdue-1"} <= lead
    assert {r["stage"] for r in rows if r["role"] == "cooperating"} == {"d7", "d1"}


async def test_no_reminder_on_the_national_day_holiday_but_on_the_makeup_saturday(app: App, chat: Chat,
                                                                                   clock: Clock) -> None:
    await chat.bind("shui", "区水务局")
    rows = await ReminderEngine.for_app(app).preview(D(2023, 9, 20), D(2023, 10, 12))
    days = {dt.datetime.fromisoformat(r["at"]).date() for r in rows}
    assert not days & {D(2023, 9, 29) + dt.timedelta(days=n) for n in range(8)}  # 9-29 .. 10-06 are off
    assert D(2023, 10, 7) in days  # the 调休 Saturday is a working day

    engine = ReminderEngine.for_app(app)
    for n in range(15):  # the running process sweeps every morning from 9-25 to 10-09
        at(clock, f"{D(2023, 9, 25) + dt.timedelta(days=n)} 10:00")
        await sweep(app, engine)
    sent_days = {D.fromisoformat(r["dedupe_key"].rsplit(":", 1)[1]) for r in await messages(app, SHUI)}
    assert all(is_workday(day) for day in sent_days)
    assert D(2023, 10, 7) in sent_days
    assert all(is_workday(e.due_at.astimezone(SHANGHAI).date()) for e in await ledger(app, recipient=SHUI))


# ---- buttons ----------------------------------------------------------------------------------------
async def test_snooze_button_holds_reminders_until_the_day_then_they_return(
        app: App, chat: Chat, clock: Clock, plan_id: int) -> None:
    app.settings.snooze_workdays = 5
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-17 10:00")
    await sweep(app)
    [row] = await messages(app, JIAOYU)
    answer = await chat.text("jiaoyu", callback=button(row, "稍后提醒"))
    assert "10月24日（周二）再提醒您" in answer  # 5 working days after Tuesday 10-17
    repo = app.store.reminders
    assert await repo.snoozed_until(JIAOYU, plan_id, 40) == D(2023, 10, 24)

    at(clock, "2023-10-23 10:00")  # task 40's weekly overdue nudge falls inside the snooze
    result = await sweep(app)
    assert result.snoozed >= 1
    assert len(await messages(app, JIAOYU)) == 1

    at(clock, "2023-10-24 10:00")  # the snooze ends: the held nudge comes back with today's d7
    await sweep(app)
    rows = await messages(app, JIAOYU)
    assert len(rows) == 2
    assert "任务40" in rows[1]["payload"]["text"] and "任务41" in rows[1]["payload"]["text"]
    sent = {(e.task_no, e.stage) for e in await ledger(app, recipient=JIAOYU, status=SENT)}
    assert {(40, "overdue-3"), (41, "d7")} <= sent


async def test_view_and_upload_buttons_answer_with_the_task(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    await sweep(app)
    [row] = await messages(app, JIAOYU)
    detail = await chat.text("jiaoyu", callback=button(row, "查看任务41"))
    assert detail.startswith("任务41（牵头单位：区教育局）")
    hint = await chat.text("jiaoyu", callback=button(row, "上传材料"))
    assert "41-" in hint and "直接在这里发送文件" in hint
    refused = await chat.text("shui", callback=button(row, "稍后提醒"))
    assert "其他人" in refused  # buttons belong to their recipient


async def test_upload_button_gives_the_upload_page_when_served(app: App, chat: Chat, clock: Clock) -> None:
    app.services.upload_link = lambda person, plan, no: f"https://duban.example/upload/{no}?p={person.user_id}"
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    await sweep(app)
    [row] = await messages(app, JIAOYU)
    [reply] = await chat.say("jiaoyu", callback=button(row, "上传材料"))
    assert reply.link == ("上传任务41的材料", "https://duban.example/upload/41?p=jiaoyu")


async def test_every_plan_is_reminded_and_each_button_opens_its_own_plan(app: App, chat: Chat, clock: Clock) -> None:
    spec = load_plan_file(app.settings.plan_file, app.units)
    await app.store.plans.import_plan(dataclasses.replace(spec, key="pingshan-2023-b", title="第二份计划"), "test",
                                      clock.utcnow())
    second = await app.store.plans.plan("pingshan-2023-b")
    await app.store.plans.set_status(second.id, 41, TaskStatus.RETURNED, actor="console:admin", channel="console",
                                     now=clock.utcnow(), note="缺照片")
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    await sweep(app)
    [row] = await messages(app, JIAOYU)
    assert "《第二份计划》任务41" in row["payload"]["text"]
    views = [data for label, data in row["payload"]["choices"] if label == "查看任务41"]
    assert len(views) == 2
    first, other = [await chat.text("jiaoyu", callback=data) for data in views]
    assert "状态：未开始" in first and "状态：已退回（退回原因：缺照片）" in other


# ---- digests ----------------------------------------------------------------------------------------
async def test_weekly_digest_goes_to_a_subscribed_group_with_its_chart(app: App, clock: Clock,
                                                                       plan_id: int) -> None:
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    at(clock, "2023-10-20 10:00")  # Friday: Monday 10-16 is past the catch-up window
    assert (await sweep(app)).digests == 0
    at(clock, "2023-10-23 08:30")  # Monday, before 09:00
    assert (await sweep(app)).digests == 0
    at(clock, "2023-10-23 09:01")
    assert (await sweep(app)).digests == 1
    at(clock, "2023-10-23 15:00")
    assert (await sweep(app)).digests == 0

    rows = {r["dedupe_key"]: r for r in await app.store.outbox.rows()}
    key = f"digest:{plan_id}:2023-10-23:telegram:-100"
    text, chart = rows[key], rows[f"{key}:chart"]
    assert (text["chat_id"], text["chat_kind"]) == ("-100", "group")
    assert "进度简报（2023-10-23）" in text["payload"]["text"]
    _, path, is_image = chart["payload"]["file"]
    assert is_image and Path(path).read_bytes().startswith(b"\x89PNG")
    assert text["id"] < chart["id"]  # the text goes first


async def test_monthly_digest_on_the_first_working_day_of_a_month_with_deadlines(app: App, clock: Clock,
                                                                                 plan_id: int) -> None:
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    at(clock, "2023-11-01 10:00")  # Wednesday; 11-30 deadlines this month
    result = await sweep(app)
    assert (result.digests, result.reports) == (1, 1)  # and October's 月度通报 beside it
    [entry] = [e for e in await ledger(app, recipient="telegram:-100", status=SENT) if e.key.startswith("digest:")]
    assert (entry.stage, entry.period) == ("digest-monthly", "2023-11-01")
    [older] = await ledger(app, recipient="telegram:-100", status=SKIPPED)
    assert (older.stage, older.period) == ("digest-weekly", "2023-10-30")  # superseded, not sent late


# ---- the scheduler and the command line -------------------------------------------------------------
async def test_ticker_sweeps_right_away_on_start(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    ticker = ReminderTicker(app)
    ticker.start()
    try:
        await asyncio.wait_for(ticker.ticked.wait(), timeout=10)
    finally:
        await ticker.stop()
    assert ticker.last is not None and ticker.last.messages == 1
    assert len(await messages(app, JIAOYU)) == 1


async def test_stopping_during_a_sweep_lets_it_finish_without_a_traceback(
        app: App, chat: Chat, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    """SIGTERM mid-sweep: APScheduler's shutdown cancelled the running job, which logged a CancelledError."""
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    ticker = ReminderTicker(app)
    ticker.start()
    await ticker._fire()  # what the scheduler runs on each tick: the sweep starts and is running now
    await ticker.stop()
    assert ticker.last is not None and ticker.last.messages == 1  # the sweep finished
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(await messages(app, JIAOYU)) == 1


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """The `duban` entry point on a fresh SQLite state directory."""
    import bot.cli.main as entry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUBAN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'var' / 'cli.db'}")
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
    monkeypatch.setenv("DUBAN_TIME", "10:00")
    monkeypatch.delenv("DUBAN_COORDINATORS", raising=False)
    return entry.main


def test_preview_json_lists_what_would_be_sent_and_nothing_else(cli: Callable[[list[str]], int],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["remind", "preview", "--from", "2023-09-01", "--to", "2023-10-31", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows
    for r in rows:
        when = dt.datetime.fromisoformat(r["at"])
        assert when.utcoffset() == dt.timedelta(hours=8) and is_workday(when.date())
        assert D(2023, 9, 1) <= when.date() <= D(2023, 10, 31)
        assert {"task", "stage", "unit", "recipient"} <= r.keys()
    assert {r["recipient"] for r in rows} == {""}  # nobody bound yet: each unit is listed without a recipient
    assert {(r["task"], r["stage"]) for r in rows} >= {(40, "d0"), (40, "overdue-1"), (41, "d14")}
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)


def test_run_once_reports_in_chinese_on_stderr(cli: Callable[[list[str]], int],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["remind", "run-once"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "提醒检查完成" in captured.err
    assert cli(["remind", "preview", "--from", "2023-10-31", "--to", "2023-10-01"]) == 2
    assert "不能早于" in capsys.readouterr().err


async def test_the_cycle_collector_runs_again_after_a_sweep(app: App, chat: Chat, clock: Clock) -> None:
    """A sweep holds the collector off while it runs (speed) and gives it back, also when it fails (memory)."""
    import gc

    await chat.bind("shui", "区水务局")
    at(clock, "2023-10-17 10:00")
    engine = ReminderEngine.for_app(app)
    assert (await engine.sweep()).claimed
    assert gc.isenabled()
    with pytest.raises(AttributeError):
        await engine.sweep("2023-10-18 10:00")  # type: ignore[arg-type]  # a caller's mistake, mid-sweep
    assert gc.isenabled()
