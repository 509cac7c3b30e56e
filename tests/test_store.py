"""The importer on SQLite and PostgreSQL: idempotent, keeps progress, refuses to orphan evidence."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from bot.app import App
from bot.core.errors import PlanFileError
from bot.core.plan import EvidenceItemSpec, PlanSpec
from bot.core.views import TaskStatus
from bot.planfiles.yamlfile import default_plan_path, load_plan_file

NOW = dt.datetime(2023, 10, 20, 2, 0, tzinfo=dt.UTC)


def seed(app: App) -> PlanSpec:
    return load_plan_file(default_plan_path(), app.units)


async def give_file(app: App, tmp_path: Path, task_no: int, item_no: int) -> None:
    """File one piece of evidence for (task, item) as 区水务局's liaison would."""
    plan = await app.store.plans.plan()
    src = tmp_path / "f.pdf"
    src.write_bytes(b"evidence")
    sha, size = app.store.files.put(src)
    await app.store.evidence.add(plan.id, task_no, item_no, sha256=sha, size=size, file_name="f.pdf", mime_type="",
                                 unit="区水务局", by="console:x", channel="console", now=NOW)


async def test_seed_plan_loaded_on_first_start(app: App) -> None:
    [plan] = await app.store.plans.list_plans()
    assert (plan.key, plan.tasks, plan.year) == ("pingshan-2023", 63, 2023)
    t10 = await app.store.plans.task(plan.id, 10)
    assert t10.shared_with == (11,) and len(t10.items) == 4
    assert t10.cooperating == ("区工业和信息化局",)


async def test_reimport_is_idempotent_and_keeps_progress(app: App) -> None:
    plan = await app.store.plans.plan()
    await app.store.plans.set_status(plan.id, 12, TaskStatus.SUBMITTED, actor="t", channel="test", now=NOW)
    result = await app.store.plans.import_plan(seed(app), "cli", NOW)
    assert (result.created, result.tasks_added, result.tasks_updated, result.tasks_unchanged) == (False, 0, 0, 63)
    assert (await app.store.plans.task(plan.id, 12)).status is TaskStatus.SUBMITTED


async def test_corrected_text_updates_without_touching_evidence(app: App, tmp_path: Path) -> None:
    plan = await app.store.plans.plan()
    await give_file(app, tmp_path, 12, 1)
    spec = seed(app)
    tasks = tuple(dataclasses.replace(t, text=t.text + "（更正）") if t.no == 12 else t for t in spec.tasks)
    result = await app.store.plans.import_plan(dataclasses.replace(spec, tasks=tasks), "cli", NOW)
    assert result.tasks_updated == 1
    t12 = await app.store.plans.task(plan.id, 12)
    assert t12.text.endswith("（更正）") and t12.items[0].files == 1


async def test_removing_an_item_with_files_is_refused_and_nothing_changes(app: App, tmp_path: Path) -> None:
    plan = await app.store.plans.plan()
    await give_file(app, tmp_path, 12, 4)
    spec = seed(app)
    tasks = tuple(dataclasses.replace(t, evidence=t.evidence[:3], text="改") if t.no == 12 else t for t in spec.tasks)
    with pytest.raises(PlanFileError, match="佐证材料\\(4\\)"):
        await app.store.plans.import_plan(dataclasses.replace(spec, tasks=tasks), "cli", NOW)
    t12 = await app.store.plans.task(plan.id, 12)
    assert len(t12.items) == 4 and t12.text != "改"


async def test_second_plan_lives_beside_the_first(app: App) -> None:
    spec = dataclasses.replace(seed(app), key="pingshan-2024", year=2024, title="2024年任务分工表",
                               tasks=tuple(dataclasses.replace(t, evidence=(EvidenceItemSpec(1, "《材料》"),),
                                                               evidence_shared_with=()) for t in seed(app).tasks[:3]))
    await app.store.plans.import_plan(spec, "cli", NOW)
    plans = {p.key: p.tasks for p in await app.store.plans.list_plans()}
    assert plans == {"pingshan-2023": 63, "pingshan-2024": 3}
