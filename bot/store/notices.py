"""督办通知单: numbered per plan without gaps, each counted as an urge of its task."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, func, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotFound
from bot.core.views import Escalated, NoticeView, UrgeCount
from bot.store.db import transaction
from bot.store.tables import Notice, Plan, ReminderLedger
from bot.store.urges import UrgeRepo, _aware

PLAN = cast(Table, Plan.__table__)  # type: ignore[attr-defined]


class NoticeRepo:
    """Issue and list 督办通知单."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], urges: UrgeRepo) -> None:
        self._sessions = sessions
        self._urges = urges

    async def issue(self, plan_id: int, unit: str, task_no: int, content: dict[str, Any], *, by: str, channel: str,
                    now: dt.datetime) -> tuple[NoticeView, dict[int, UrgeCount]]:
        """Number a notice (the plan's next number) and keep it with its urge, in one transaction; return it with
        how often the task was urged before.

        The transaction begins with a write to the plan's row, so issuers take turns before the last number is read
        (PostgreSQL holds the row, SQLite the database: a second issuer waits, then reads the number the first
        committed); a failed transaction takes its number with it, so numbers have no gaps. The unique
        (plan, number) is the database's own guarantee behind it.
        """
        async with transaction(self._sessions) as s:
            await s.exec(update(PLAN).where(PLAN.c.id == plan_id).values(id=PLAN.c.id))  # type: ignore[call-overload]
            year = (await s.exec(select(Plan.year).where(Plan.id == plan_id))).one()
            last = (await s.exec(select(func.max(Notice.number)).where(Notice.plan_id == plan_id))).one()
            row = Notice(plan_id=plan_id, number=(last or 0) + 1, task_no=task_no, unit=unit, issued_by=by,
                         channel=channel, issued_at=now, content=content)
            s.add(row)
            await s.flush()
            before = await self._urges.record(plan_id, unit, [task_no], by=by, channel=channel, now=now,
                                              kind="notice", detail={"notice": row.number}, s=s)
            return _view(row, year), before

    async def notices(self, plan_id: int, task_no: int | None = None) -> list[NoticeView]:
        """Return a plan's notices (or one task's), by number."""
        async with self._sessions() as s:
            year = (await s.exec(select(Plan.year).where(Plan.id == plan_id))).one()
            q = select(Notice).where(Notice.plan_id == plan_id).order_by(col(Notice.number))
            if task_no is not None:
                q = q.where(Notice.task_no == task_no)
            return [_view(r, year) for r in (await s.exec(q)).all()]

    async def escalated(self, plan_id: int, since: dt.datetime) -> list[Escalated]:
        """Return the plan's steps up the ladder since `since`: 督办单 issued (by hand or by the sweep) and
        escalations sent to 分管领导 (read from the reminder ledger by their key prefix), oldest first."""
        prefix = f"escalation:{plan_id}:"  # bot.reminders.escalation's keys
        led = ReminderLedger
        async with self._sessions() as s:
            year = (await s.exec(select(Plan.year).where(Plan.id == plan_id))).one()
            notices = (await s.exec(select(Notice.number, Notice.task_no, Notice.issued_at).where(
                Notice.plan_id == plan_id, col(Notice.issued_at) >= since))).all()
            told = (await s.exec(select(led.task_no, led.claimed_at).where(
                col(led.key) >= prefix, col(led.key) < prefix[:-1] + ";", led.status == "sent",
                col(led.claimed_at) >= since))).all()
        steps = [Escalated(no, f"督办单〔{year}〕第{number}号", _aware(at)) for number, no, at in notices]
        steps += [Escalated(no, "报分管领导", _aware(at)) for no, at in told]
        return sorted(steps, key=lambda e: (e.at, e.task_no))

    async def notice(self, notice_id: int) -> NoticeView:
        """Return one notice by its id, or refuse: there is no such notice."""
        async with self._sessions() as s:
            row = await s.get(Notice, notice_id)
            if row is None:
                raise NotFound("没有这份督办通知单。")
            year = (await s.exec(select(Plan.year).where(Plan.id == row.plan_id))).one()
            return _view(row, year)


def _view(r: Notice, year: int) -> NoticeView:
    assert r.id is not None
    return NoticeView(r.id, r.plan_id, year, r.number, r.task_no, r.unit, r.issued_by, r.issued_at, dict(r.content))
