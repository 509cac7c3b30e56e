"""Several plans at once: next year's table served beside this year's, without binding again; a number in both is
asked back or named with its year; archived plans go quiet; last year's files are one step away."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from conftest import Chat

from bot.app import App
from bot.core.clock import Clock
from bot.core.plan import PlanSpec, TaskSpec
from bot.planfiles.yamlfile import plan_to_yaml
from bot.reminders.engine import ReminderEngine

NEXT_YEAR = "pingshan-2024"


def next_year(seed: PlanSpec) -> PlanSpec:
    """The 2023 table as the office would receive it for 2024: the same tasks a year on, task 40 reworded."""
    def moved(t: TaskSpec) -> TaskSpec:
        raw = t.deadline_raw.replace("2023", "2024")
        text = t.text.replace("2023", "2024") + ("（2024年重点推进）" if t.no == 40 else "")
        return dataclasses.replace(t, text=text, deadline_raw=raw, deadline=t.deadline.replace(year=2024))

    return dataclasses.replace(seed, key=NEXT_YEAR, year=2024, title=seed.title.replace("2023", "2024"),
                               tasks=tuple(moved(t) for t in seed.tasks))


async def import_next_year(app: App, seed: PlanSpec, tmp_path: Path) -> None:
    """Import next year's table the way an operator does: from a file, compared with the plans already stored."""
    path = tmp_path / "2024.yaml"
    path.write_text(plan_to_yaml(next_year(seed)), encoding="utf-8")
    preview = await app.preview_import(path)
    assert preview.comparison is not None and preview.comparison.earlier.key == "pingshan-2023"
    await app.store.plans.import_plan(preview.read.plan, "test", app.clock.utcnow(), continues=preview.continues)


async def test_a_liaison_of_2023_sees_2024_tasks_without_binding_again(app: App, chat: Chat, seed: PlanSpec,
                                                                        tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await import_next_year(app, seed, tmp_path)
    reply = await chat.text("li", "我单位有哪些任务")
    assert "【2023年节水典范城市建设】" in reply and "【2024年节水典范城市建设】" in reply
    assert reply.count("【任务40】") == 2
    assert "2024-12" in reply  # how to name a plan before a number


async def test_a_number_in_both_plans_is_asked_back_and_the_year_names_it(app: App, chat: Chat, seed: PlanSpec,
                                                                         tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await import_next_year(app, seed, tmp_path)
    [ask] = await chat.say("li", "任务40还差哪些材料")
    assert "2份计划中都有" in ask.text
    assert [c.label for c in ask.choices] == ["2024年节水典范城市建设", "2023年节水典范城市建设"]
    [detail] = await chat.say("li", callback=ask.choices[0].data)
    assert "2024年重点推进" in detail.text
    assert "2024年重点推进" not in await chat.text("li", "任务2023-40")
    assert "2024年重点推进" in await chat.text("li", "/task 2024-40")
    # a file captioned with the year goes to that year's task, and only there
    assert "任务40 材料1" in await chat.text("li", "2024-40-1", files=[("名单.pdf", b"%PDF 2024")])
    plans = {p.key: p for p in await app.store.plans.list_plans()}
    assert len(await app.store.evidence.files(plans[NEXT_YEAR].id, 40)) == 1
    assert await app.store.evidence.files(plans["pingshan-2023"].id, 40) == []


async def test_a_file_captioned_with_a_number_in_both_plans_asks_which_item(app: App, chat: Chat, seed: PlanSpec,
                                                                           tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await import_next_year(app, seed, tmp_path)
    [ask] = await chat.say("li", "40-1", files=[("名单.pdf", b"%PDF both")])
    assert any(c.label.startswith("2023-任务40-1") for c in ask.choices)
    pick = next(c for c in ask.choices if c.label.startswith("2023-任务40-1"))
    assert "任务40 材料1" in await chat.text("li", callback=pick.data)
    plans = {p.key: p for p in await app.store.plans.list_plans()}
    assert len(await app.store.evidence.files(plans["pingshan-2023"].id, 40)) == 1


async def test_buttons_and_the_next_file_stay_in_the_plan_named_before_them(app: App, chat: Chat, seed: PlanSpec,
                                                                            tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await import_next_year(app, seed, tmp_path)
    assert "下一个文件将归入任务40 材料1" in await chat.text("li", "2024-40-1")
    assert "任务40 材料1" in await chat.text("li", files=[("名单.pdf", b"%PDF next")])  # no caption, not asked
    [ask] = await chat.say("li", "/done 2024-40")
    assert "仍然提交审核" in [c.label for c in ask.choices]
    assert "已提交节水办审核" in await chat.text("li", callback=ask.choices[0].data)
    plans = {p.key: p for p in await app.store.plans.list_plans()}
    assert len(await app.store.evidence.files(plans[NEXT_YEAR].id, 40)) == 1
    assert (await app.store.plans.task(plans[NEXT_YEAR].id, 40)).status.value == "submitted"
    assert (await app.store.plans.task(plans["pingshan-2023"].id, 40)).status.value == "not_started"


async def test_an_archived_plan_reminds_no_one_and_leaves_chat(app: App, chat: Chat, seed: PlanSpec,
                                                               tmp_path: Path, clock: Clock) -> None:
    await chat.bind("li", "教育局")
    await import_next_year(app, seed, tmp_path)
    engine = ReminderEngine.for_app(app)
    day = dt.date(2023, 11, 27)  # a week before task 42's 2023.11: the 2023 plan's reminder is due
    rows = await engine.preview(day, day)
    assert any(r["plan"] == "pingshan-2023" for r in rows)
    await app.store.plans.set_active("pingshan-2023", False, actor="test", now=clock.utcnow())
    assert not [r for r in await engine.preview(day, day) if r["plan"] == "pingshan-2023"]
    reply = await chat.text("li", "我单位有哪些任务")
    assert "共6项" in reply and "【2023年" not in reply  # 区教育局's six tasks of the plan still active
    assert "2024年重点推进" in await chat.text("li", "任务40")  # one plan active again: no question


async def test_last_years_files_are_one_step_away_and_not_counted(app: App, chat: Chat, seed: PlanSpec,
                                                                  tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    assert "材料1" in await chat.text("li", "40-1", files=[("2023年名单.pdf", b"%PDF last year")])
    await import_next_year(app, seed, tmp_path)
    [detail] = await chat.say("li", "任务2024-40")
    assert "材料 0/" in detail.text or "0/" in detail.text  # last year's file is not this year's evidence
    [button] = [c for c in detail.choices if c.label == "去年同项材料"]
    reply = await chat.text("li", callback=button.data)
    assert "2023年节水典范城市建设的任务40" in reply and "「2023年名单.pdf」" in reply
    assert "不计入今年" in reply
    assert "「2023年名单.pdf」" in await chat.text("li", "/lastyear 2024-40")


@pytest.mark.parametrize("text", ["任务40申请延期到2024-11-15，因为合同未签", "/delay 40 2024-11-15 合同未签"])
async def test_a_date_is_never_read_as_a_plan(app: App, chat: Chat, seed: PlanSpec, tmp_path: Path,
                                              text: str) -> None:
    await chat.bind("li", "教育局")
    await import_next_year(app, seed, tmp_path)
    reply = await chat.text("li", text)
    assert "2份计划中都有" in reply  # task 40 is asked about, the date is left a date


async def test_a_long_list_over_two_plans_shows_what_is_due_now_and_one_plan_on_request(
        app: App, chat: Chat, seed: PlanSpec, tmp_path: Path) -> None:
    await chat.bind("shui", "水务局")  # the unit with most tasks: both years' lists would fill pages
    await import_next_year(app, seed, tmp_path)
    [reply] = await chat.say("shui", "我单位有哪些任务")
    assert "【2023年节水典范城市建设】" in reply.text and "【2024年节水典范城市建设】" in reply.text
    assert "发送「/due 2024」查看这份计划的全部任务" in reply.text and not reply.choices  # one page, no 下一页
    only = await chat.text("shui", "/due 2024")
    assert "【2023年" not in only and "2024.11" in only and "2023.11" not in only
