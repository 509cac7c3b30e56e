"""The 催办 record: every urge of every task, for the counts a reply, the 台账 and the escalation read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.views import UrgeCount, UrgeView
from bot.store.db import transaction
from bot.store.tables import Audit, Urge


class UrgeRepo:
    """Record urges and count them per task."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, plan_id: int, unit: str, task_nos: Sequence[int], *, by: str, channel: str,
                     now: dt.datetime, kind: str = "urge", detail: dict[str, Any] | None = None,
                     s: AsyncSession | None = None) -> dict[int, UrgeCount]:
        """Record one urge of each task (and its audit entry); return how often each was urged before.

        Given a session `s`, the rows join its transaction (a 督办单 is numbered and counted at once).
        """
        if s is None:
            async with transaction(self._sessions) as own:
                return await self.record(plan_id, unit, task_nos, by=by, channel=channel, now=now, kind=kind,
                                         detail=detail, s=own)
        before = await _counts(s, plan_id, task_nos)
        s.add_all(Urge(plan_id=plan_id, task_no=no, unit=unit, by=by, channel=channel, kind=kind, at=now)
                  for no in task_nos)
        s.add(Audit(at=now, actor=by, channel=channel, action="urge", plan_id=plan_id,
                    task_no=task_nos[0] if len(task_nos) == 1 else None,
                    detail={"unit": unit, "tasks": list(task_nos), "kind": kind, **(detail or {})}))
        return before

    async def counts(self, plan_id: int) -> dict[int, UrgeCount]:
        """Return, for each task urged at least once, how often and when last."""
        async with self._sessions() as s:
            return await _counts(s, plan_id, None)

    async def history(self, plan_id: int, task_no: int) -> list[UrgeView]:
        """Return a task's urges, oldest first."""
        return await self.all(plan_id, task_no)

    async def all(self, plan_id: int | None = None, task_no: int | None = None) -> list[UrgeView]:
        """Return every urge (of one plan, of one task), oldest first."""
        async with self._sessions() as s:
            q = select(Urge)
            if plan_id is not None:
                q = q.where(Urge.plan_id == plan_id)
            if task_no is not None:
                q = q.where(Urge.task_no == task_no)
            rows = (await s.exec(q.order_by(col(Urge.at), col(Urge.id)))).all()
        return [UrgeView(r.plan_id, r.task_no, r.unit, r.by, r.channel, r.kind, _aware(r.at)) for r in rows]


async def _counts(s: AsyncSession, plan_id: int, task_nos: Sequence[int] | None) -> dict[int, UrgeCount]:
    q = (select(Urge.task_no, func.count(col(Urge.id)), func.max(Urge.at)).where(Urge.plan_id == plan_id)
         .group_by(col(Urge.task_no)))
    if task_nos is not None:
        q = q.where(col(Urge.task_no).in_(list(task_nos)))
    return {no: UrgeCount(int(n), _aware(last)) for no, n, last in (await s.exec(q)).all()}


def _aware(at: dt.datetime) -> dt.datetime:
    """Return an instant as aware UTC (an aggregate comes back naive from SQLite)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
