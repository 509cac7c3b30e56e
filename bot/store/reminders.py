"""The reminder ledger and snoozes: each (task, period, stage, recipient) is claimed once, together with its send.

A claim inserts the ledger rows, the buttons' pending questions and the outbox rows in one transaction.
The ledger key and the outbox dedupe key are unique, so when two duban processes compute the same
reminder, one insert fails, that whole transaction rolls back, and the loser sends nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.messages import Push
from bot.core.plan import Recurrence
from bot.core.views import TaskStatus
from bot.store.db import transaction, upsert
from bot.store.outbox import outbox_row
from bot.store.tables import Outbox, Pending, ReminderLedger, Snooze, Task, TaskUnit

CHUNK = 500  # keys per IN (...) query, well under SQLite's bound-parameter limit
# Core inserts on the tables: no ORM object per row (a first sweep over 100 plans inserts thousands).
LEDGER: Table = ReminderLedger.__table__  # type: ignore[attr-defined]
PENDING: Table = Pending.__table__  # type: ignore[attr-defined]

SENT = "sent"  # handed to the outbox in the claim's transaction (the outbox row tracks delivery)
MISSED = "missed"  # fell due while duban was down, older than the catch-up window: never sent
SKIPPED = "skipped"  # superseded (an older digest when a newer one went out)
CHECKED, CHECKED_END = "checked:", "checked;"  # marker rows: a day's look for missed reminders was done


@dataclass(frozen=True)
class LedgerEntry:
    """One reminder to claim or record: its unique key and what it is about."""

    key: str
    plan_id: int
    task_no: int  # 0 for a digest
    period: str
    stage: str
    recipient: str  # a person key, or a chat key for a digest
    due_at: dt.datetime  # aware; when it was due to go out


@dataclass(frozen=True, slots=True)
class TaskSchedule:
    """What a sweep needs of an open task: who answers for it and when it is due."""

    plan_id: int
    no: int
    lead: str
    cooperating: tuple[str, ...]
    deadline: dt.date  # in force: an approved extension's date
    recurrence: Recurrence | None
    status: TaskStatus
    deadline_original: dt.date | None = None  # the plan's deadline, once extended

    @property
    def key_part(self) -> str:
        """Return the task's part of a reminder key: an extended deadline makes new keys, so its stages go out anew."""
        return f"{self.no}@{self.deadline:%Y%m%d}" if self.deadline_original is not None else str(self.no)


@dataclass(frozen=True)
class LedgerView:
    """A ledger row as plain values (preview, tests, operations)."""

    key: str
    plan_id: int
    task_no: int
    period: str
    stage: str
    recipient: str
    due_at: dt.datetime
    status: str
    claimed_by: str
    claimed_at: dt.datetime
    outbox_key: str


@dataclass(frozen=True)
class Question:
    """A button's pending question, written in the claim's transaction so a lost claim leaves none behind."""

    token: str
    person: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class ReminderRepo:
    """Claim reminders exactly once, record missed ones, and keep liaisons' snoozes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], worker: str = "") -> None:
        self._sessions = sessions
        self.worker = worker

    async def open_tasks(self) -> list[TaskSchedule]:
        """Return every plan's open tasks (not 待审核, not 已完成) in two queries, however many plans there are."""
        closed = [TaskStatus.SUBMITTED.value, TaskStatus.APPROVED.value]
        async with self._sessions() as s:
            query = (sa_select(col(Task.id), col(Task.plan_id), col(Task.no), col(Task.lead), col(Task.deadline),
                               col(Task.recurrence), col(Task.status), col(Task.deadline_extended))
                     .where(col(Task.status).not_in(closed)).order_by(col(Task.plan_id), col(Task.no)))
            rows = (await s.exec(query)).all()  # type: ignore[call-overload]
            units = (await s.exec(select(TaskUnit.task_id, TaskUnit.unit).join(Task, col(Task.id) == TaskUnit.task_id)
                                  .where(TaskUnit.role == "cooperating", col(Task.status).not_in(closed))
                                  .order_by(col(TaskUnit.id)))).all()
        cooperating: dict[int, list[str]] = {}
        for task_id, unit in units:
            cooperating.setdefault(task_id, []).append(unit)
        return [TaskSchedule(plan_id, no, lead, tuple(cooperating.get(task_id or 0, ())), extended or deadline,
                             Recurrence(recurrence) if recurrence else None, TaskStatus(status),
                             deadline if extended else None)
                for task_id, plan_id, no, lead, deadline, recurrence, status, extended in rows]

    async def known(self, keys: Iterable[str]) -> set[str]:
        """Return which of `keys` are already in the ledger (whatever their status)."""
        return await self._present(col(ReminderLedger.key), keys)

    async def existing_pushes(self, dedupe_keys: Iterable[str]) -> set[str]:
        """Return which outbox dedupe keys exist (a person's reminder message of the day, say)."""
        return await self._present(col(Outbox.dedupe_key), dedupe_keys)

    async def _present(self, column: Any, keys: Iterable[str]) -> set[str]:
        """Return the keys found in a unique text column, asking in chunks (SQL parameter limits)."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        async with self._sessions() as s:
            for i in range(0, len(wanted), CHUNK):
                chunk = wanted[i:i + CHUNK]
                found.update((await s.exec(select(column).where(column.in_(chunk)))).all())
        return found

    async def claim_and_enqueue(self, entries: Sequence[LedgerEntry], pushes: Sequence[Push], now: dt.datetime, *,
                                questions: Sequence[Question] = (),
                                question_ttl: dt.timedelta = dt.timedelta(days=7)) -> bool:
        """Insert the ledger rows, the questions and the outbox rows atomically; False if any key was taken.

        The first push's dedupe key is recorded on every entry as the message that carried it.
        """
        outbox_key = pushes[0].dedupe_key if pushes else ""
        # Sorted, so two processes claiming overlapping keys lock them in the same order (no deadlock on PostgreSQL).
        rows = [_row(e, SENT, self.worker, now, outbox_key) for e in sorted(entries, key=lambda e: e.key)]
        try:
            async with transaction(self._sessions) as s:
                if rows:
                    await s.exec(insert(LEDGER), params=rows)
                if questions:
                    await s.exec(insert(PENDING), params=[  # type: ignore[call-overload]
                        {"token": q.token, "person": q.person, "kind": q.kind, "payload": dict(q.payload),
                         "created_at": now, "expires_at": now + question_ttl} for q in questions])
                for push in pushes:
                    s.add(outbox_row(push, now))
        except IntegrityError:
            return False
        return True

    async def record(self, entries: Sequence[LedgerEntry], status: str, now: dt.datetime) -> int:
        """Insert entries with a final status (missed, skipped), leaving keys already present alone; return how many."""
        async with transaction(self._sessions) as s:
            return await _insert_new(s, [_row(e, status, self.worker, now, "") for e in entries])

    async def record_missed(self, entries: Sequence[LedgerEntry], now: dt.datetime, *,
                            checked: dt.date | None = None) -> int:
        """Record reminders that fell due too long ago to send; return how many were new.

        With `checked`, also mark that day's look for missed reminders as done, in the same transaction.
        """
        async with transaction(self._sessions) as s:
            added = await _insert_new(s, [_row(e, MISSED, self.worker, now, "") for e in entries])
            if checked is not None:
                await _insert_new(s, [{
                    "key": f"{CHECKED}{checked.isoformat()}", "plan_id": 0, "task_no": 0, "period": checked.isoformat(),
                    "stage": "missed-check", "recipient": "", "due_at": now, "status": "checked",
                    "claimed_by": self.worker, "claimed_at": now, "outbox_key": ""}])
            return added

    async def last_checked(self) -> dt.date | None:
        """Return the last day a sweep looked for missed reminders: duban was running then."""
        async with self._sessions() as s:
            key = (await s.exec(select(ReminderLedger.key).where(
                col(ReminderLedger.key) >= CHECKED, col(ReminderLedger.key) < CHECKED_END)
                .order_by(col(ReminderLedger.key).desc()).limit(1))).first()
        return dt.date.fromisoformat(key.removeprefix(CHECKED)) if key else None

    async def entries(self, *, status: str | None = None, recipient: str | None = None,
                      plan_id: int | None = None, task_no: int | None = None) -> list[LedgerView]:
        """Return ledger rows, oldest due first (operations and tests)."""
        async with self._sessions() as s:
            q = select(ReminderLedger).order_by(col(ReminderLedger.due_at), col(ReminderLedger.id))
            if status is not None:
                q = q.where(ReminderLedger.status == status)
            if recipient is not None:
                q = q.where(ReminderLedger.recipient == recipient)
            if plan_id is not None:
                q = q.where(ReminderLedger.plan_id == plan_id)
            if task_no is not None:
                q = q.where(ReminderLedger.task_no == task_no)
            return [_view(r) for r in (await s.exec(q)).all()]

    async def sent_keys(self, *, since: dt.datetime | None = None) -> set[str]:
        """Return the keys of reminders handed to the outbox, optionally only those due since an instant."""
        async with self._sessions() as s:
            q = select(ReminderLedger.key).where(ReminderLedger.status == SENT)
            if since is not None:
                q = q.where(col(ReminderLedger.due_at) >= since)
            return set((await s.exec(q)).all())

    # ---- snoozes ----------------------------------------------------------------------------------
    async def snooze(self, person: str, plan_id: int, task_no: int, until: dt.date) -> None:
        """Hold a person's reminders about a task until `until` (set, or move the date)."""
        async with transaction(self._sessions) as s:
            stmt = upsert(s, Snooze).values(person=person, plan_id=plan_id, task_no=task_no, until=until)
            await s.exec(stmt.on_conflict_do_update(index_elements=["person", "plan_id", "task_no"],
                                                    set_={"until": until}))

    async def snoozed_until(self, person: str, plan_id: int, task_no: int) -> dt.date | None:
        """Return until when a person's reminders about a task are held, if they are."""
        async with self._sessions() as s:
            return (await s.exec(select(col(Snooze.until)).where(Snooze.person == person, Snooze.plan_id == plan_id,
                                                            Snooze.task_no == task_no))).first()

    async def snoozes(self, after: dt.date | None = None) -> dict[tuple[str, int, int], dt.date]:
        """Return every snooze as (person, plan id, task number) -> until, optionally only those ending after a day."""
        async with self._sessions() as s:
            q = select(Snooze)
            if after is not None:
                q = q.where(col(Snooze.until) > after)
            return {(r.person, r.plan_id, r.task_no): r.until for r in (await s.exec(q)).all()}


async def _insert_new(s: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert ledger rows whose key is new; return how many were inserted."""
    # ON CONFLICT DO NOTHING leaves a key another process recorded meanwhile alone, and RETURNING
    # counts only the rows really added.
    stmt = upsert(s, LEDGER).on_conflict_do_nothing(index_elements=["key"]).returning(LEDGER.c.key)
    added = 0
    for i in range(0, len(rows), CHUNK):
        added += len((await s.exec(stmt, params=rows[i:i + CHUNK])).all())
    return added


def _row(e: LedgerEntry, status: str, worker: str, now: dt.datetime, outbox_key: str) -> dict[str, Any]:
    return {"key": e.key, "plan_id": e.plan_id, "task_no": e.task_no, "period": e.period, "stage": e.stage,
            "recipient": e.recipient, "due_at": e.due_at.astimezone(dt.UTC), "status": status,
            "claimed_by": worker, "claimed_at": now, "outbox_key": outbox_key}


def _view(r: ReminderLedger) -> LedgerView:
    return LedgerView(r.key, r.plan_id, r.task_no, r.period, r.stage, r.recipient, r.due_at, r.status,
                      r.claimed_by, r.claimed_at, r.outbox_key)
