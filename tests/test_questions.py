"""The questions coordinators and liaisons ask in their own words, answered exactly."""

from __future__ import annotations

import datetime as dt
import re

from conftest import Chat

from bot.app import App
from bot.core.clock import Clock


def task_nos(reply: str) -> set[int]:
    """Return the task numbers a task list shows."""
    return {int(n) for n in re.findall(r"【任务(\d+)】", reply)}


async def test_digest_names_every_unit_before_anything_is_overdue(chat: Chat, app: App, clock: Clock) -> None:
    clock.pinned_today = dt.date(2023, 8, 20)
    reply = await chat.text("admin", "各单位进度怎么样")
    plan = await app.store.plans.plan()
    leads = {t.lead for t in await app.store.plans.tasks(plan.id)}
    assert "逾期0" in reply and all(f"{unit}：完成0/" in reply for unit in leads)
    assert "区水务局：完成0/32 · 材料0%" in reply
    assert reply == await chat.text("admin", "整体情况")


async def test_digest_puts_lagging_units_first(chat: Chat) -> None:
    await chat.bind("wei", "卫健局")
    await chat.say("wei", "43-1", files=[("合同.pdf", b"contract")])
    reply = await chat.text("admin", "/digest")
    units = re.findall(r"\d+\. (\S+)：完成", reply)
    assert units[-1] == "区卫生健康局"  # all its evidence in, nothing overdue
    assert units.index("区教育局") < units.index("区发展和改革局")  # 逾期1项 before none


async def test_lead_only_and_cooperating_only_questions_are_exact(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    assert task_nos(await chat.text("li", "我们牵头的任务")) == {40, 41, 42}
    assert task_nos(await chat.text("li", "配合的任务")) == {22, 35, 50}
    assert task_nos(await chat.text("li", "全年任务")) == {22, 50}
    assert task_nos(await chat.text("admin", "教育局牵头的任务")) == {40, 41, 42}


async def test_before_national_day_month_end_and_year_end(chat: Chat) -> None:
    await chat.bind("shui", "水务局")
    assert task_nos(await chat.text("shui", "国庆前要交的")) == {10}
    assert task_nos(await chat.text("shui", "月底前要交的")) == {11, 16, 17, 38, 41, 45, 48}
    year_end = task_nos(await chat.text("shui", "年底前要交的", limit=100_000))
    assert {1, 2, 33, 54} <= year_end


async def test_who_answers_for_a_task(chat: Chat) -> None:
    await chat.bind("shui", "水务局")
    reply = await chat.text("shui", "任务12谁负责")
    assert "任务12由区水务局牵头" in reply and "配合单位：区工业和信息化局" in reply
    assert "console:shui" not in reply  # liaisons' accounts are for coordinators
    assert "区水务局联络员：shui（console:shui）" in await chat.text("admin", "任务12谁负责")


async def test_units_missing_evidence_and_units_without_liaison(chat: Chat) -> None:
    await chat.bind("wei", "卫健局")
    await chat.say("wei", "43-1", files=[("合同.pdf", b"contract")])
    missing = await chat.text("admin", "哪些单位还没交材料")
    assert "区教育局：已交0/6项，缺6项，其中逾期任务40缺材料" in missing
    assert "区卫生健康局" not in missing
    assert "只有节水办" in await chat.text("wei", "哪些单位还没交材料")

    unbound = await chat.text("admin", "哪些单位还没有绑定联络员")
    assert "区教育局" in unbound and "区卫生健康局" not in unbound
    assert re.search(r"仅配合的单位（\d+个）：.*区财政局", unbound)
    await chat.bind("li", "教育局")
    assert "区教育局" not in await chat.text("admin", "哪些单位还没有绑定联络员")
