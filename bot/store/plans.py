"""Plans and tasks: import a plan file, read tasks with their progress, change status and progress."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.checkins import Rhythm
from bot.core.clock import SHANGHAI
from bot.core.errors import NotFound, PlanFileError, UserError
from bot.core.plan import EvidenceItemSpec, NoteSpec, PlanSpec, Recurrence, Target, TaskSpec
from bot.core.views import ImportResult, ItemView, PlanView, TaskStatus, TaskView
from bot.store.activity import task_activity
from bot.store.db import transaction
from bot.store.notes import latest_notes
from bot.store.rows import task_row, touch_task
from bot.store.tables import (
    Audit,
    EvidenceFile,
    EvidenceItem,
    EvidenceList,
    Note,
    Plan,
    Task,
    TaskUnit,
)


@dataclass(frozen=True)
class _Structure:
    """What does not change between imports: cached per plan, keyed by its import time."""

    imported_at: dt.datetime
    tasks: dict[int, TaskView]


def _list_key(spec: TaskSpec) -> str:
    return "+".join(str(n) for n in sorted((spec.no, *spec.evidence_shared_with)))




class PlanRepo:
    """Read and change plans; returns plain values (TaskView, PlanView)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._cache: dict[int, _Structure] = {}

    # ---- import -------------------------------------------------------------------------------
    async def import_plan(self, spec: PlanSpec, actor: str, now: dt.datetime,
                          continues: Mapping[int, tuple[str, int]] | None = None, channel: str = "cli") -> ImportResult:
        """Load or update a plan; progress and evidence are kept, and a change that would orphan evidence is refused.

        `continues` maps a task number to the (plan key, task number) of an earlier plan's task it carries on
        (from comparing the two tables), so last year's files for the same item are one step away.
        """
        async with transaction(self._sessions) as s:
            earlier = await self._task_ids(s, continues or {})
            plan = (await s.exec(select(Plan).where(Plan.key == spec.key))).first()
            created = plan is None
            if plan is None:
                plan = Plan(key=spec.key, title=spec.title, attachment=spec.attachment, year=spec.year,
                            district=spec.district, imported_at=now, checkin=_checkin_text(spec.checkin))
                s.add(plan)
                await s.flush()
            else:
                plan.title, plan.attachment, plan.year, plan.district = (
                    spec.title, spec.attachment, spec.year, spec.district)
                plan.checkin = _checkin_text(spec.checkin)
                plan.imported_at = now
            assert plan.id is not None
            lists = await self._sync_evidence(s, plan.id, spec)
            added = updated = unchanged = 0
            existing = {t.no: t for t in (await s.exec(select(Task).where(Task.plan_id == plan.id))).all()}
            wanted = {t.no for t in spec.tasks}
            for no, old_row in existing.items():
                if no not in wanted:
                    if old_row.status != TaskStatus.NOT_STARTED or old_row.progress is not None:
                        raise PlanFileError(
                            f"计划文件 {spec.source or spec.key} 删去了第{no}项任务，但它已有进度，不能删除。"
                            "如确需删除，请先由统筹人员处理该任务。")
                    await s.exec(delete(TaskUnit).where(col(TaskUnit.task_id) == old_row.id))  # type: ignore[call-overload]
                    await s.delete(old_row)
            for t in spec.tasks:
                fields: dict[str, Any] = {
                    "lead": t.lead, "text": t.text, "deadline_raw": t.deadline_raw, "deadline": t.deadline,
                    "recurrence": t.recurrence.value if t.recurrence else None,
                    "targets": [_target_json(x) for x in t.targets],
                    "evidence_list_id": lists.get(_list_key(t)) if t.evidence else None,
                    "carried_from": earlier.get(t.no),
                }
                row: Task | None = existing.get(t.no)
                if row is None:
                    row = Task(plan_id=plan.id, no=t.no, **fields)
                    s.add(row)
                    await s.flush()
                    added += 1
                elif any(getattr(row, k) != v for k, v in fields.items()):
                    for k, v in fields.items():
                        setattr(row, k, v)
                    updated += 1
                else:
                    unchanged += 1
                assert row.id is not None
                await s.exec(delete(TaskUnit).where(col(TaskUnit.task_id) == row.id))  # type: ignore[call-overload]
                s.add(TaskUnit(task_id=row.id, unit=t.lead, role="lead"))
                for unit in t.cooperating:
                    if unit != t.lead:
                        s.add(TaskUnit(task_id=row.id, unit=unit, role="cooperating"))
            await s.exec(delete(Note).where(col(Note.plan_id) == plan.id))  # type: ignore[call-overload]
            for n in spec.notes:
                s.add(Note(plan_id=plan.id, no=n.no, text=n.text, task_nos=list(n.tasks)))
            s.add(Audit(at=now, actor=actor, channel=channel, action="plan.import", plan_id=plan.id,
                        detail={"key": spec.key, "added": added, "updated": updated}))
            self._cache.pop(plan.id, None)
            return ImportResult(spec.key, created, added, updated, unchanged, len(spec.notes))

    @staticmethod
    async def _task_ids(s: AsyncSession, continues: Mapping[int, tuple[str, int]]) -> dict[int, int]:
        """Return, for each task number, the row id of the earlier plan's task it continues."""
        found: dict[int, int] = {}
        for no, (key, old_no) in continues.items():
            row = (await s.exec(select(Task.id).join(Plan, col(Plan.id) == Task.plan_id)
                                .where(Plan.key == key, Task.no == old_no))).first()
            if row is not None:
                found[no] = row
        return found

    async def _sync_evidence(self, s: AsyncSession, plan_id: int, spec: PlanSpec) -> dict[str, int]:
        """Create or update evidence lists and items; refuse to drop an item that has files."""
        rows = {el.key: el for el in (await s.exec(select(EvidenceList).where(EvidenceList.plan_id == plan_id))).all()}
        wanted: dict[str, TaskSpec] = {}
        for t in spec.tasks:
            if t.evidence:
                wanted.setdefault(_list_key(t), t)
        used = await self._items_with_files(s, plan_id)
        for key, el in rows.items():
            items = (await s.exec(select(EvidenceItem).where(EvidenceItem.list_id == el.id))).all()
            keep = {i.no for i in wanted[key].evidence} if key in wanted else set()
            for item in items:
                if item.no in keep:
                    continue
                if item.id in used:
                    raise PlanFileError(
                        f"计划文件 {spec.source or spec.key} 去掉了第{key.replace('+', '、')}项任务的"
                        f"佐证材料({item.no})「{item.title}」，但已有文件提交到这一项，导入已取消，没有做任何修改。"
                        "请保留该项，或先撤回这些文件。")
                await s.delete(item)
            if key not in wanted:
                await s.flush()
                await s.delete(el)
        await s.flush()
        ids: dict[str, int] = {}
        for key, t in wanted.items():
            found = rows.get(key)
            if found is None:
                found = EvidenceList(plan_id=plan_id, key=key)
                s.add(found)
                await s.flush()
            assert found.id is not None
            ids[key] = found.id
            q = select(EvidenceItem).where(EvidenceItem.list_id == found.id)
            current = {i.no: i for i in (await s.exec(q)).all()}
            for e in t.evidence:
                have = current.get(e.no)
                if have is None:
                    s.add(EvidenceItem(list_id=found.id, no=e.no, title=e.title))
                elif have.title != e.title:
                    have.title = e.title
        await s.flush()
        return ids

    @staticmethod
    async def _items_with_files(s: AsyncSession, plan_id: int) -> set[int]:
        q = (select(EvidenceFile.item_id).join(EvidenceItem, col(EvidenceItem.id) == EvidenceFile.item_id)
             .join(EvidenceList, col(EvidenceList.id) == EvidenceItem.list_id)
             .where(EvidenceList.plan_id == plan_id).distinct())
        return set((await s.exec(q)).all())

    # ---- reading ------------------------------------------------------------------------------
    async def spec(self, key: str | None = None) -> PlanSpec:
        """Rebuild the PlanSpec of a stored plan (tasks, shared lists, notes): to write it out, or compare with it."""
        plan = await self.plan(key)
        views = await self.tasks(plan.id)
        async with self._sessions() as s:
            notes = (await s.exec(select(Note).where(Note.plan_id == plan.id).order_by(col(Note.no)))).all()
        tasks = tuple(
            TaskSpec(
                no=t.no, lead=t.lead, text=t.text, deadline_raw=t.deadline_raw, deadline=t.deadline,
                cooperating=t.cooperating, evidence=tuple(EvidenceItemSpec(no=i.no, title=i.title) for i in t.items),
                evidence_shared_with=tuple(sorted(t.shared_with)), recurrence=t.recurrence, targets=t.targets,
            )
            for t in views
        )
        return PlanSpec(
            key=plan.key, title=plan.title, attachment=plan.attachment, year=plan.year, tasks=tasks,
            notes=tuple(NoteSpec(no=n.no, text=n.text, tasks=tuple(n.task_nos)) for n in notes), district=plan.district,
            checkin=plan.checkin,
        )

    async def list_plans(self) -> list[PlanView]:
        """Return every plan with its task count, newest import first."""
        async with self._sessions() as s:
            q = (select(Plan, func.count(col(Task.id))).join(Task, col(Task.plan_id) == Plan.id, isouter=True)
                 .group_by(col(Plan.id)).order_by(col(Plan.imported_at).desc()))
            return [_plan_view(p, n) for p, n in (await s.exec(q)).all()]

    async def active_plans(self) -> list[PlanView]:
        """Return the plans being worked on (not archived), the latest year and import first (no task count).

        Asked on every message through the read model (`bot.readmodel`), which keeps the answer.
        """
        async with self._sessions() as s:
            rows = (await s.exec(select(Plan).where(col(Plan.active).is_(True))
                                 .order_by(col(Plan.year).desc(), col(Plan.imported_at).desc()))).all()
            return [_plan_view(p, 0) for p in rows]

    async def set_active(self, key: str, active: bool, *, actor: str, now: dt.datetime,
                         channel: str = "cli") -> PlanView:
        """Archive a plan (no longer served: no reminders, not in chat or on the desk) or make it active again."""
        async with transaction(self._sessions) as s:
            row = (await s.exec(select(Plan).where(Plan.key == key))).first()
            if row is None:
                raise NotFound(f"没有找到计划「{key}」。发送 duban plan list 查看现有计划。")
            row.active = active
            s.add(Audit(at=now, actor=actor, channel=channel, action="plan.activate" if active else "plan.archive",
                        plan_id=row.id, detail={"key": key}))
            return _plan_view(row, 0)

    async def plan(self, key: str | None = None) -> PlanView:
        """Return the plan with this key, or the newest active one (the newest of all when every plan is archived,
        so that what refuses can name it); task count not filled."""
        async with self._sessions() as s:
            q = select(Plan).order_by(col(Plan.year).desc(), col(Plan.imported_at).desc())
            if key:
                q = q.where(Plan.key == key)
            else:
                q = q.order_by(None).order_by(col(Plan.active).desc(), col(Plan.year).desc(),
                                              col(Plan.imported_at).desc()).limit(1)
            row = (await s.exec(q)).first()
        if row is not None:
            return _plan_view(row, 0)
        plans = await self.list_plans()
        if not plans:
            raise NotFound("还没有导入任何计划。请先运行 duban plan import 计划文件。")
        raise NotFound(f"没有找到计划「{key}」。现有计划：{'、'.join(p.key for p in plans)}")

    async def tasks(self, plan_id: int) -> list[TaskView]:
        """Return all tasks of a plan, in number order, with status and evidence counts.

        Called for nearly every chat message, so it reads with two Core queries (no ORM objects) and
        rebuilds only what progress changed; the structure is cached per import.
        """
        engine = self._sessions.kw["bind"]
        async with engine.connect() as c:
            dyn = (await c.execute(
                sa_select(col(Plan.imported_at), col(Task.no), col(Task.status), col(Task.progress),
                          col(Task.status_note), col(Task.updated_at), col(Task.deadline_extended))
                .join(Plan, col(Plan.id) == Task.plan_id).where(col(Task.plan_id) == plan_id))).all()
            notes = await latest_notes(c, plan_id)
            history = await task_activity(c, plan_id)
            counts: dict[int, int] = dict((await c.execute(  # type: ignore[arg-type]
                sa_select(col(EvidenceFile.item_id), func.count(col(EvidenceFile.id)))
                .join(EvidenceItem, col(EvidenceItem.id) == EvidenceFile.item_id)
                .join(EvidenceList, col(EvidenceList.id) == EvidenceItem.list_id)
                .where(col(EvidenceList.plan_id) == plan_id, col(EvidenceFile.withdrawn_at).is_(None))
                .group_by(col(EvidenceFile.item_id)))).all())
            returned: dict[int, str] = dict((await c.execute(  # type: ignore[arg-type]
                sa_select(col(EvidenceItem.id), col(EvidenceItem.returned_reason))
                .join(EvidenceList, col(EvidenceList.id) == EvidenceItem.list_id)
                .where(col(EvidenceList.plan_id) == plan_id, col(EvidenceItem.returned_reason) != ""))).all())
        if not dyn:
            return []
        imported_at = _aware(dyn[0][0])
        cached = self._cache.get(plan_id)
        if cached is None or cached.imported_at != imported_at:
            async with self._sessions() as s:
                cached = await self._structure(s, plan_id)
        out = []
        for _, no, status, progress, note, updated, extended in sorted(dyn, key=lambda r: r[1]):
            base = cached.tasks[no]
            items = base.items
            if (counts or returned) and any(i.id in counts or i.id in returned for i in items):
                items = tuple(replace(i, files=counts.get(i.id, 0), returned=returned.get(i.id, ""))
                              if i.id in counts or i.id in returned else i for i in items)
            if (items is base.items and status == "not_started" and progress is None and not note and updated is None
                    and extended is None and no not in notes and no not in history):
                out.append(base)
                continue
            done = history.get(no)
            out.append(replace(base, items=items, status=TaskStatus(status), progress=progress,
                               status_note=note or "", updated_at=_aware(updated) if updated else None,
                               deadline=extended or base.deadline,
                               deadline_original=base.deadline if extended else None, latest_note=notes.get(no),
                               reported=frozenset(done.months) if done else frozenset(),
                               returned_at=done.open_return if done else None,
                               submitted_at=done.submitted_at if done else None,
                               approved_at=done.approved_at if done else None,
                               last_report=done.last_report if done else None))
        return out

    async def submitted_at(self, plan_id: int) -> dict[int, dt.datetime]:
        """Return when each task was last reported done (from the audit log: later uploads do not move it)."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Audit.task_no, func.max(Audit.at)).where(
                Audit.plan_id == plan_id, Audit.action == f"task.{TaskStatus.SUBMITTED.value}")
                .group_by(col(Audit.task_no)))).all()
            return {no: _aware(at) for no, at in rows if no is not None}

    async def task(self, plan_id: int, no: int) -> TaskView:
        """Return one task, or refuse in Chinese when the number does not exist."""
        for t in await self.tasks(plan_id):
            if t.no == no:
                return t
        raise NotFound(f"没有第{no}项任务。本计划的任务编号是 1–{await self._max_no(plan_id)}。")

    async def _max_no(self, plan_id: int) -> int:
        async with self._sessions() as s:
            return int((await s.exec(select(func.max(Task.no)).where(Task.plan_id == plan_id))).one() or 0)

    async def _structure(self, s: AsyncSession, plan_id: int) -> _Structure:
        imported_at, year, every = (await s.exec(select(Plan.imported_at, Plan.year, Plan.checkin)
                                                 .where(Plan.id == plan_id))).one()
        cadence = _checkin(every)
        cached = self._cache.get(plan_id)
        if cached is not None and cached.imported_at == imported_at:
            return cached
        tasks = (await s.exec(select(Task).where(Task.plan_id == plan_id).order_by(col(Task.no)))).all()
        units = (await s.exec(select(TaskUnit).join(Task, col(Task.id) == TaskUnit.task_id)
                              .where(Task.plan_id == plan_id).order_by(col(TaskUnit.id)))).all()
        items = (await s.exec(select(EvidenceItem).join(EvidenceList, col(EvidenceList.id) == EvidenceItem.list_id)
                              .where(EvidenceList.plan_id == plan_id).order_by(col(EvidenceItem.no)))).all()
        notes = (await s.exec(select(Note).where(Note.plan_id == plan_id).order_by(col(Note.no)))).all()
        first = (await s.exec(select(func.min(Audit.at)).where(Audit.plan_id == plan_id,
                                                                Audit.action == "plan.import"))).one()
        since = _aware(first).astimezone(SHANGHAI).date() if first is not None else None
        earlier_ids = [t.carried_from for t in tasks if t.carried_from is not None]
        earlier = {i: (p, n) for i, p, n in (await s.exec(select(Task.id, Task.plan_id, Task.no)
                                                          .where(col(Task.id).in_(earlier_ids)))).all()}
        coop: dict[int, list[str]] = {}
        for u in units:
            if u.role == "cooperating":
                coop.setdefault(u.task_id, []).append(u.unit)
        by_list: dict[int, list[ItemView]] = {}
        for i in items:
            assert i.id is not None
            by_list.setdefault(i.list_id, []).append(ItemView(i.id, i.no, i.title))
        sharers: dict[int, list[int]] = {}
        for t in tasks:
            if t.evidence_list_id is not None:
                sharers.setdefault(t.evidence_list_id, []).append(t.no)
        views = {}
        for t in tasks:
            assert t.id is not None
            lid = t.evidence_list_id
            views[t.no] = TaskView(
                plan_id=plan_id, no=t.no, lead=t.lead, text=t.text, deadline_raw=t.deadline_raw,
                deadline=t.deadline, cooperating=tuple(coop.get(t.id, ())),
                items=tuple(by_list.get(lid, ())) if lid is not None else (),
                shared_with=tuple(n for n in sharers.get(lid, ()) if n != t.no) if lid is not None else (),
                notes=tuple(n.text for n in notes if t.no in n.task_nos),
                targets=tuple(Target(**x) for x in t.targets),
                recurrence=Recurrence(t.recurrence) if t.recurrence else None,
                continues=earlier.get(t.carried_from) if t.carried_from is not None else None,
                rhythm=None if t.recurrence or cadence is None else Rhythm(cadence, dt.date(year, 1, 1), since),
            )
        structure = _Structure(imported_at, views)
        self._cache[plan_id] = structure
        return structure

    # ---- changing progress --------------------------------------------------------------------
    async def set_status(self, plan_id: int, no: int, status: TaskStatus, *, actor: str, channel: str,
                         now: dt.datetime, note: str = "", expect: tuple[TaskStatus, ...] = ()) -> TaskStatus:
        """Change a task's status (optionally only from the states in `expect`) and audit it; return the old one."""
        async with transaction(self._sessions) as s:
            row = await task_row(s, plan_id, no)
            old = TaskStatus(row.status)
            if expect and old not in expect:
                raise _wrong_state(no, old)
            row.status, row.status_note, row.updated_at = status.value, note, now
            s.add(Audit(at=now, actor=actor, channel=channel, action=f"task.{status.value}", plan_id=plan_id,
                        task_no=no, detail={"from": old.value, "note": note}))
            return old

    async def set_progress(self, plan_id: int, no: int, value: float, *, remark: str, actor: str, channel: str,
                           now: dt.datetime) -> float | None:
        """Record progress toward a task's numeric target; return the previous value."""
        async with transaction(self._sessions) as s:
            row = await task_row(s, plan_id, no)
            old = row.progress
            row.progress = value
            await touch_task(s, plan_id, no, now)
            s.add(Audit(at=now, actor=actor, channel=channel, action="task.progress", plan_id=plan_id, task_no=no,
                        detail={"from": old, "to": value, "remark": remark}))
            return old


def _wrong_state(no: int, old: TaskStatus) -> UserError:
    return UserError(f"第{no}项任务当前状态是「{old.label}」，不能这样操作。")


def _aware(value: dt.datetime) -> dt.datetime:
    """Core queries bypass SQLModel's UTC type on SQLite; stored instants are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _target_json(t: Target) -> dict[str, Any]:
    return {"phrase": t.phrase, "value": t.value, "unit": t.unit, "comparison": t.comparison}


def _plan_view(p: Plan, n: int) -> PlanView:
    assert p.id is not None
    return PlanView(p.id, p.key, p.title, p.year, p.attachment, p.district, n, p.active, _checkin(p.checkin))


def _checkin(stored: str) -> Recurrence | None:
    """Read a plan's stored check-in cadence ("none": it asks for no progress reports)."""
    return None if stored == "none" else Recurrence(stored)


def _checkin_text(cadence: Recurrence | None) -> str:
    return cadence.value if cadence is not None else "none"
