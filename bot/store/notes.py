"""Progress notes (阶段性进展): what a unit reports it has done on a task, kept with time and author."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.views import ProgressNoteView
from bot.store.db import transaction
from bot.store.rows import touch_task
from bot.store.tables import Audit, ProgressNote

MAX_NOTE = 500  # characters kept of one note: a sentence or two, not a report


class NoteRepo:
    """Add and read progress notes; a note marks the task 进行中 like any work arriving for it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, plan_id: int, task_no: int, text: str, *, unit: str, author: str, author_name: str,
                  channel: str, now: dt.datetime) -> ProgressNoteView:
        """Keep a note for a task and audit it."""
        async with transaction(self._sessions) as s:
            await touch_task(s, plan_id, task_no, now)
            row = ProgressNote(plan_id=plan_id, task_no=task_no, unit=unit, author=author, author_name=author_name,
                               text=text[:MAX_NOTE], at=now)
            s.add(row)
            await s.flush()
            s.add(Audit(at=now, actor=author, channel=channel, action="task.note", plan_id=plan_id, task_no=task_no,
                        detail={"id": row.id, "unit": unit, "text": row.text}))
            return _view(row)

    async def latest(self, plan_id: int, task_no: int, limit: int = 3) -> list[ProgressNoteView]:
        """Return a task's newest notes, newest first."""
        async with self._sessions() as s:
            rows = (await s.exec(select(ProgressNote).where(ProgressNote.plan_id == plan_id,
                                                            ProgressNote.task_no == task_no)
                                 .order_by(col(ProgressNote.id).desc()).limit(limit))).all()
            return [_view(r) for r in rows]


async def latest_notes(c: AsyncConnection, plan_id: int) -> dict[int, ProgressNoteView]:
    """Return each task's newest note (one query, on the connection the task read uses)."""
    newest = (sa_select(func.max(col(ProgressNote.id))).where(col(ProgressNote.plan_id) == plan_id)
              .group_by(col(ProgressNote.task_no)))
    rows = (await c.execute(sa_select(ProgressNote.__table__).where(  # type: ignore[attr-defined]
        col(ProgressNote.id).in_(newest)))).all()
    return {r.task_no: _view(ProgressNote.model_validate(dict(r._mapping))) for r in rows}


def _view(r: ProgressNote) -> ProgressNoteView:
    assert r.id is not None
    at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=dt.UTC)  # Core reads skip the UTC type on SQLite
    return ProgressNoteView(r.id, r.task_no, r.unit, r.author, r.author_name, r.text, at)
