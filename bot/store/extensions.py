"""Extension requests (延期申请): asked by a lead unit, decided by a coordinator; an approval moves the deadline."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotFound, UserError
from bot.core.views import ExtensionView
from bot.store.db import transaction
from bot.store.tables import Audit, Extension, Task

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


class ExtensionRepo:
    """Keep requests and decisions; the approved deadline is written on the task in the same transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def request(self, plan_id: int, task_no: int, to: dt.date, reason: str, *, unit: str, by: str,
                      channel: str, now: dt.datetime) -> ExtensionView:
        """Record a request to move a task's deadline to `to`; refuse a second open one or a date not later."""
        async with transaction(self._sessions) as s:
            task = await _task(s, plan_id, task_no)
            current = task.deadline_extended or task.deadline
            if to <= current:
                raise UserError(f"任务{task_no}现在的截止日期是{current:%Y年%m月%d日}，申请的新日期要晚于它。")
            if await _open(s, plan_id, task_no) is not None:
                raise UserError(f"任务{task_no}已有一份延期申请在等待节水办批复，请等批复后再申请。")
            row = Extension(plan_id=plan_id, task_no=task_no, unit=unit, requested_by=by, requested_at=now,
                            deadline_from=current, deadline_to=to, reason=reason)
            s.add(row)
            await s.flush()
            s.add(Audit(at=now, actor=by, channel=channel, action="extension.request", plan_id=plan_id,
                        task_no=task_no, detail={"id": row.id, "from": current.isoformat(), "to": to.isoformat(),
                                                 "reason": reason}))
            return _view(row)

    async def decide(self, plan_id: int, task_no: int, approve: bool, *, note: str, by: str, channel: str,
                     now: dt.datetime) -> ExtensionView:
        """Approve (the task's deadline becomes the requested one) or reject the task's open request."""
        async with transaction(self._sessions) as s:
            row = await _open(s, plan_id, task_no)
            if row is None:
                raise NotFound(f"任务{task_no}没有待批复的延期申请。")
            row.status = APPROVED if approve else REJECTED
            row.decided_by, row.decided_at, row.decision_note = by, now, note
            if approve:
                task = await _task(s, plan_id, task_no)
                task.deadline_extended = row.deadline_to
            s.add(Audit(at=now, actor=by, channel=channel, action=f"extension.{row.status}", plan_id=plan_id,
                        task_no=task_no, detail={"id": row.id, "from": row.deadline_from.isoformat(),
                                                 "to": row.deadline_to.isoformat(), "note": note}))
            return _view(row)

    async def pending(self, plan_id: int, task_no: int | None = None) -> list[ExtensionView]:
        """Return the requests waiting for a decision (of the plan, or of one task), oldest first."""
        async with self._sessions() as s:
            q = select(Extension).where(Extension.plan_id == plan_id, Extension.status == PENDING)
            if task_no is not None:
                q = q.where(Extension.task_no == task_no)
            return [_view(r) for r in (await s.exec(q.order_by(col(Extension.id)))).all()]

    async def of_task(self, plan_id: int, task_no: int) -> list[ExtensionView]:
        """Return a task's requests, newest first."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Extension).where(Extension.plan_id == plan_id, Extension.task_no == task_no)
                                 .order_by(col(Extension.id).desc()))).all()
            return [_view(r) for r in rows]


async def _task(s: AsyncSession, plan_id: int, no: int) -> Task:
    row = (await s.exec(select(Task).where(Task.plan_id == plan_id, Task.no == no))).first()
    if row is None:
        raise NotFound(f"没有第{no}项任务。")
    return row


async def _open(s: AsyncSession, plan_id: int, task_no: int) -> Extension | None:
    return (await s.exec(select(Extension).where(Extension.plan_id == plan_id, Extension.task_no == task_no,
                                                 Extension.status == PENDING))).first()


def _view(r: Extension) -> ExtensionView:
    assert r.id is not None
    return ExtensionView(r.id, r.plan_id, r.task_no, r.unit, r.requested_by, r.requested_at, r.deadline_from,
                         r.deadline_to, r.reason, r.status, r.decided_by, r.decision_note)
