"""Row look-ups and updates several repositories make inside their own transactions."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotFound
from bot.core.views import TaskStatus
from bot.store.tables import Task


async def task_row(s: AsyncSession, plan_id: int, no: int) -> Task:
    """Return a task's row, or refuse naming the number."""
    row = (await s.exec(select(Task).where(Task.plan_id == plan_id, Task.no == no))).first()
    if row is None:
        raise NotFound(f"没有第{no}项任务。")
    return row


async def touch_task(s: AsyncSession, plan_id: int, no: int, now: dt.datetime) -> None:
    """Mark a task 进行中 when work arrives for it (not started or returned)."""
    row = await task_row(s, plan_id, no)
    if row.status in (TaskStatus.NOT_STARTED, TaskStatus.RETURNED):
        row.status = TaskStatus.IN_PROGRESS.value
    row.updated_at = now
