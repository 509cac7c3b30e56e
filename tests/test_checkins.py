"""Monthly progress check-ins (进展报送) on the real store: asked on the 25th, nudged on the month's last workday,
exactly once across restarts and processes, only for what a unit has not reported yet."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from conftest import Chat, make_settings
from openpyxl import load_workbook
from test_reminder_engine import at, sweep

from bot.app import App
from bot.core.clock import Clock
from bot.core.errors import PlanFileError
from bot.core.plan import PlanSpec, Recurrence
from bot.core.units import UnitRegistry
from bot.planfiles.excel import load_plan_sheet, read_plan_sheet, write_plan_sheet
from bot.planfiles.yamlfile import load_plan_file, plan_to_yaml
from bot.reminders.engine import ReminderEngine
from bot.store.reminders import MISSED, SENT

SHUI = "console:shui"  # 区水务局 leads most of the 全年 tasks
JIAOYU = "console:jiaoyu"  # 区教育局 leads 40 (2023.9), 41 (2023.10), 42 (2023.11)


async def checkins(app: App, person: str) -> list[dict[str, Any]]:
    """Return the check-in messages enqueued for a person, oldest first."""
    return [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith(f"checkin:{person}:")]


def listed(row: dict[str, Any]) -> set[int]:
    """Return the task numbers a check-in message lists."""
    text = row["payload"]["text"]
    return {int(line.split("任务", 1)[1].split(" ", 1)[0]) for line in text.splitlines()
            if line[:1].isdigit() and "任务" in line}


async def test_every_yearlong_task_is_asked_every_month_until_november(app: App, seed: PlanSpec) -> None:
    rows = await ReminderEngine.for_app(app).preview(dt.date(2023, 1, 1), dt.date(2023, 11, 30))
    asked: dict[int, set[str]] = {}
    for r in rows:
        if r["kind"] == "checkin" and r["stage"] == "checkin":
            asked.setdefault(r["task"], set()).add(r["period"])
    yearlong = {t.no for t in seed.tasks if t.deadline_raw == "全年" and t.recurrence is None}
    assert len(yearlong) == 27
    months = {f"2023-{m:02d}" for m in range(1, 12)}
    assert {no for no, periods in asked.items() if periods == months} == yearlong
    recurring = {t.no for t in seed.tasks if t.recurrence is not None}  # 14, 21, 60: their recurrence is their rhythm
    assert recurring and not recurring & asked.keys()
    january = next(r for r in rows if r["kind"] == "checkin" and r["period"] == "2023-01")
    assert january["at"].startswith("2023-01-20T09:00")  # the 25th is in the Spring Festival: the workday before
    assert not [r for r in rows if r["kind"] == "checkin" and r["period"] == "2023-12"]


async def test_check_in_day_asks_what_is_unreported_and_the_last_workday_asks_again(app: App, chat: Chat,
                                                                                   clock: Clock) -> None:
    await chat.bind("shui", "区水务局")
    at(clock, "2023-10-25 10:00")  # Wednesday, the check-in day
    assert (await sweep(app)).checkins == 1
    [first] = await checkins(app, SHUI)
    text = first["payload"]["text"]
    assert text.startswith("【进展报送】10月25日（周三），区水务局以下26项任务本月（10月）还没有报送进展：")
    assert {1, 2, 3} <= listed(first) and 14 not in listed(first)  # task 14 reports monthly on its own
    assert "任务1进展：" in text and "10月31日" in text and "……另有11项" in text
    assert (await sweep(app)).checkins == 0  # once

    await chat.text("shui", "任务2进展：已完成重点单位用水计划下达")
    at(clock, "2023-10-31 10:00")  # Tuesday, the month's last workday
    await sweep(app)
    _, second = await checkins(app, SHUI)
    assert second["payload"]["text"].startswith("【进展报送·再次提醒】")
    assert 2 not in listed(second) and "以下25项任务" in second["payload"]["text"]
    entries = [e for e in await app.store.reminders.entries(recipient=SHUI, status=SENT) if e.key.startswith("checkin:")]
    assert [(e.period, e.stage, e.outbox_key) for e in entries] == [  # a message each, claimed once
        ("2023-10", "checkin", first["dedupe_key"]), ("2023-10", "checkin-2", second["dedupe_key"])]


async def test_a_unit_that_reported_everything_gets_no_check_in(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    await chat.text("jiaoyu", "任务42进展：已与两所学校洽谈合同节水")  # the one task it owes a report on
    at(clock, "2023-10-25 10:00")
    await sweep(app)
    at(clock, "2023-10-31 10:00")
    await sweep(app)
    assert await checkins(app, JIAOYU) == []


async def test_a_check_in_missed_while_down_is_sent_late_once_saying_so(app: App, chat: Chat, clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-24 10:00")
    await sweep(app)
    at(clock, "2023-10-26 10:00")  # down on the 25th
    await sweep(app)
    await sweep(app)  # a restarted process (a fresh engine) finds it taken
    [late] = await checkins(app, JIAOYU)
    assert "应于10月25日发送" in late["payload"]["text"] and listed(late) == {42}


async def test_a_check_in_missed_for_longer_than_the_catch_up_is_recorded_not_sent(app: App, chat: Chat,
                                                                                  clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    at(clock, "2023-10-20 10:00")
    await sweep(app)
    at(clock, "2023-10-30 10:00")  # five days after the 25th
    await sweep(app)
    assert await checkins(app, JIAOYU) == []
    missed = await app.store.reminders.entries(recipient=JIAOYU, status=MISSED)
    assert [(e.period, e.stage) for e in missed if e.key.startswith("checkin:")] == [("2023-10", "checkin")]


async def test_two_processes_send_each_check_in_once(app: App, chat: Chat, clock: Clock, tmp_path: Path,
                                                     db_url: str) -> None:
    for user, unit in (("shui", "区水务局"), ("shui2", "区水务局"), ("jiaoyu", "区教育局")):
        await chat.bind(user, unit)
    other = await App.create(make_settings(tmp_path / "other", db_url), clock)
    try:
        first, second = ReminderEngine.for_app(app), ReminderEngine.for_app(other)
        total = 0
        for when in ("2023-10-25 10:00", "2023-10-25 10:01", "2023-10-31 10:00"):
            now = at(clock, when)
            a, b = await asyncio.gather(first.sweep(now), second.sweep(now))
            total += a.checkins + b.checkins
    finally:
        await other.close()
    rows = [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith("checkin:")]
    assert total == len(rows) == 6  # three liaisons, the check-in day and the last workday
    entries = [e for e in await app.store.reminders.entries(status=SENT) if e.key.startswith("checkin:")]
    assert len({e.key for e in entries}) == len(entries) and {e.outbox_key for e in entries} == {
        r["dedupe_key"] for r in rows}


async def test_a_quarterly_plan_asks_once_a_quarter(app: App, seed: PlanSpec, tmp_path: Path) -> None:
    yaml = tmp_path / "quarterly.yaml"
    yaml.write_text(plan_to_yaml(dataclasses.replace(seed, checkin=Recurrence.QUARTERLY)), encoding="utf-8")
    assert "\ncheckin: quarterly\n" in yaml.read_text(encoding="utf-8")
    await app.import_plan(yaml, actor="test")
    rows = await ReminderEngine.for_app(app).preview(dt.date(2023, 1, 1), dt.date(2023, 11, 30))
    periods = {r["period"] for r in rows if r["kind"] == "checkin" and r["task"] == 2}
    assert periods == {"2023-Q1", "2023-Q2", "2023-Q3"}  # Q4's check-in day (25 December) is 6 days before 全年's end
    first = next(r for r in rows if r["kind"] == "checkin" and r["period"] == "2023-Q1")
    assert first["at"].startswith("2023-03-24T09:00")  # 25 March 2023 is a Saturday


@pytest.mark.parametrize("written, cadence", [("进展报送：每季度", Recurrence.QUARTERLY), ("（进展报送：不报送）", None),
                                              (None, Recurrence.MONTHLY)])
def test_the_excel_table_says_the_cadence_above_its_header(seed: PlanSpec, tmp_path: Path, units: UnitRegistry,
                                                            written: str | None, cadence: Recurrence | None) -> None:
    path = tmp_path / "分工表.xlsx"
    write_plan_sheet(seed, path)
    wb = load_workbook(path)
    wb.active.cell(row=1, column=4).value = written
    wb.save(path)
    assert load_plan_sheet(path, units).checkin is cadence
    assert read_plan_sheet(path, units).checkin_said is (written is not None)  # silent: a new year keeps the old one
    write_plan_sheet(dataclasses.replace(seed, checkin=cadence), path)  # and the table written says it back
    assert load_plan_sheet(path, units).checkin is cadence


def test_an_unknown_cadence_in_the_plan_file_is_refused_in_chinese(seed: PlanSpec, tmp_path: Path,
                                                                    units: UnitRegistry) -> None:
    yaml = tmp_path / "bad.yaml"
    yaml.write_text(plan_to_yaml(seed).replace("tasks:\n", "checkin: weekly\ntasks:\n", 1), encoding="utf-8")
    with pytest.raises(PlanFileError, match="「进展报送」无法识别：“weekly”"):
        load_plan_file(yaml, units)


async def test_a_liaison_asks_what_is_still_to_report_this_month(chat: Chat) -> None:
    await chat.bind("shui", "区水务局")
    before = await chat.text("shui", "这个月要报什么")
    assert "本期还没有报送进展" in before and "【任务2】" in before and "【任务14】" not in before
    assert "任务12进展：" in before  # how to report
    await chat.text("shui", "任务2进展：已完成重点单位用水计划下达")
    after = await chat.text("shui", "还有哪些没报进展")
    assert "【任务2】" not in after and "【任务3】" in after
    await chat.bind("jiaoyu", "区教育局")
    await chat.text("jiaoyu", "任务42进展：已与两所学校洽谈")
    assert "区教育局没有牵头、本期还没有报送进展的任务" in await chat.text("jiaoyu", "这个月要报什么")


async def test_a_coordinator_asks_which_units_have_not_reported(chat: Chat) -> None:
    await chat.bind("jiaoyu", "区教育局")
    await chat.text("jiaoyu", "任务42进展：已与两所学校洽谈")
    answer = await chat.text("admin", "哪些单位没报进展")
    assert answer.startswith("本期还没有报送进展的单位")
    assert "· 区水务局：" in answer and "区教育局" not in answer
    assert answer.index("区水务局") < answer.index("区住房和城乡建设局")  # most unreported first
    assert "只有节水办统筹人员可以使用" in await chat.text("jiaoyu", "哪些单位没报进展")
