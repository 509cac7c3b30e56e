"""Comparing plans: next year's Word table against the seed gives exactly the tasks added, removed and changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wordtable import REMOVED, next_year, write_seed_docx

from bot.core.plan import PlanSpec
from bot.core.units import UnitRegistry
from bot.planfiles.compare import compare_plans, most_similar_plan
from bot.planfiles.word import read_plan_docx


def test_next_years_table_gives_exactly_the_added_removed_and_changed_tasks(seed: PlanSpec, units: UnitRegistry,
                                                                           tmp_path: Path) -> None:
    path = write_seed_docx(next_year(seed), tmp_path / "2024.docx", written_units={"区教育局": "教育局"})
    read = read_plan_docx(path, units)
    c = compare_plans(read.plan, seed)
    assert [t.no for t in c.added] == [1, 5]
    assert [t.no for t in c.removed] == list(REMOVED)
    assert [(m.new.no, m.old.no, m.changed) for m in c.changed] == [(3, 2, ("text",)), (41, 40, ("text",))]
    # Everything else is the same task under a new number: years moved on (2023年 -> 2024年, 2023.9 -> 2024.9),
    # the lead 区教育局 typed as 教育局, and neither counts as a change.
    assert len(c.renumbered) == 59 and all(m.new.no != m.old.no for m in c.renumbered)
    assert {(2, 1), (6, 4), (27, 26), (42, 41), (63, 62)} <= {(m.new.no, m.old.no) for m in c.renumbered}
    assert [(i.no, i.written) for i in read.inferred if i.kind == "alias" and i.field == "lead"] == [
        (41, "教育局"), (42, "教育局"), (43, "教育局")]


def test_removing_any_one_task_is_that_removal_and_nothing_else(seed: PlanSpec) -> None:
    """Tasks that differ by a word (合同节水 for 企业, 机关, 学校, 医院) never stand in for one another."""
    for task in seed.tasks:
        fewer = dataclasses.replace(seed, tasks=tuple(t for t in seed.tasks if t.no != task.no))
        c = compare_plans(fewer, seed)
        assert ([t.no for t in c.removed], c.added, c.changed) == ([task.no], (), ()), task.no


def test_a_task_moved_to_another_unit_is_one_change_of_lead(seed: PlanSpec) -> None:
    moved = dataclasses.replace(seed, tasks=tuple(
        dataclasses.replace(t, lead="区水务局") if t.no == 43 else t for t in seed.tasks))
    c = compare_plans(moved, seed)
    assert c.added == c.removed == () and [(m.new.no, m.old.no, m.changed) for m in c.changed] == [(43, 43, ("lead",))]


def test_most_similar_plan_is_the_same_districts_closest(seed: PlanSpec) -> None:
    elsewhere = dataclasses.replace(seed, key="longgang-2023", district="龙岗区")
    other_subject = dataclasses.replace(seed, key="pingshan-hezhang-2023", title="2023年坪山区河长制工作任务分工表",
                                        tasks=seed.tasks[:3])
    later = dataclasses.replace(seed, key="pingshan-2025", year=2025)
    new = next_year(seed)
    assert most_similar_plan(new, [elsewhere, other_subject, seed, later]) == seed
    assert most_similar_plan(new, [elsewhere, later]) is None
