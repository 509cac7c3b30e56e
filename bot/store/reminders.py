"""The reminder ledger and snoozes: each (task, period, stage, recipient) is claimed once, together with its send.

A claim inserts the ledger rows, the buttons' pending questions and the outbox rows in one transaction,
many claims (a batch of people) at once. The ledger key and the outbox dedupe key are unique and every
insert is ON CONFLICT DO NOTHING ... RETURNING, so when two duban processes compute the same reminder,
only one gets the key back; a claim that did not get all of its keys takes out what it inserted, in the
same transaction, and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, delete, insert, text
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.messages import Push
from bot.core.plan import Recurrence
from bot.core.views import Question, TaskStatus
from bot.store.activity import report_months
from bot.store.db import transaction, upsert
from bot.store.outbox import outbox_values
from bot.store.tables import OutboxRow, QuestionRow, ReminderLedger, Snooze, Task, TaskUnit

CHUNK = 500  # keys per IN (...) query, well under SQLite's bound-parameter limit
ONE_DAY = dt.timedelta(days=1)
# Core inserts on the tables: no ORM object per row (a first sweep over 100 plans inserts thousands).
LEDGER: Table = ReminderLedger.__table__  # type: ignore[attr-defined]
QUESTIONS: Table = QuestionRow.__table__  # type: ignore[attr-defined]
OUTBOX: Table = OutboxRow.__table__  # type: ignore[attr-defined]

SENT = "sent"  # handed to the outbox in the claim's transaction (the outbox row tracks delivery)
MISSED = "missed"  # fell due while duban was down, older than the catch-up window: never sent
SKIPPED = "skipped"  # superseded (an older digest when a newer one went out)
CHECKED, CHECKED_END = "checked:", "checked;"  # marker rows: a day's look for missed reminders was done


class LedgerEntry(NamedTuple):
    """One reminder to claim or record: its unique key and what it is about (the ledger row's first columns).

    A named tuple: a first sweep at district scale builds tens of thousands.
    """

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
class Claim:
    """One message (or a few pushes) and the reminders it carries: claimed together or not at all."""

    entries: Sequence[LedgerEntry]
    pushes: Sequence[Push]
    questions: Sequence[Question] = ()


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

    async def report_months(self, start: dt.datetime) -> dict[tuple[int, int], set[str]]:
        """Return the months each task (plan id, task number) reported progress in since `start` (check-ins)."""
        async with self._sessions() as s:
            return await report_months(await s.connection(), start)

    async def known(self, keys: Collection[str], due: tuple[dt.datetime, dt.datetime] | None = None) -> set[str]:
        """Return which of `keys` are already in the ledger (whatever their status).

        Many keys due within `due` (first, last) are found with one range read of the ledger instead of
        a query per chunk of keys (a restart's sweep checks tens of thousands). The span is
        widened by a day each way: a key's due time moves if the reminder time setting was changed.
        """
        if due is None or len(keys) <= CHUNK:
            return await self._present(col(ReminderLedger.key), keys)
        first, last = due[0] - ONE_DAY, due[1] + ONE_DAY
        async with self._sessions() as s:
            found = await s.execute(sa_select(LEDGER.c.key).where(LEDGER.c.due_at.between(first, last)))
            return set(keys).intersection(found.scalars())

    async def existing_pushes(self, dedupe_keys: Iterable[str]) -> set[str]:
        """Return which outbox dedupe keys exist (a person's reminder message of the day, say)."""
        return await self._present(col(OutboxRow.dedupe_key), dedupe_keys)

    async def _present(self, column: Any, keys: Iterable[str]) -> set[str]:
        """Return the keys found in a unique text column, asking in chunks (SQL parameter limits)."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        async with self._sessions() as s:
            for i in range(0, len(wanted), CHUNK):
                chunk = wanted[i:i + CHUNK]
                found.update((await s.exec(select(column).where(column.in_(chunk)))).all())
        return found

    async def claim_and_enqueue(self, claims: Sequence[Claim], now: dt.datetime, *,
                                question_ttl: dt.timedelta = dt.timedelta(days=7)) -> list[bool]:
        """Claim messages with the reminders they carry, in one transaction for the lot; say which were won.

        A claim is won when every one of its outbox dedupe keys and ledger keys was new: its rows and its
        questions are then committed together. A claim that met a key already taken (by another process,
        committed or still in its transaction) leaves nothing behind. The first push's dedupe key is
        recorded on every entry as the message that carried it.
        """
        if not claims:
            return []
        async with transaction(self._sessions) as s:
            # Sorted, so two processes claiming overlapping keys lock them in the same order (no deadlock
            # on PostgreSQL, where an insert waits for the other transaction holding its key to finish).
            pushes = sorted((p for c in claims for p in c.pushes), key=lambda p: p.dedupe_key)
            sent = await _insert_new(s, OUTBOX, "dedupe_key", [outbox_values(p, now) for p in pushes])
            won = [all(p.dedupe_key in sent for p in c.pushes) for c in claims]
            rows = ((e, c.pushes[0].dedupe_key if c.pushes else "")
                    for c, w in zip(claims, won, strict=True) if w for e in c.entries)
            claimed = await _insert_ledger(s, rows, SENT, self.worker, now)
            won = [w and all(e.key in claimed for e in c.entries) for c, w in zip(claims, won, strict=True)]
            # A lost claim whose message (or some of its entries) did go in takes them out again, unseen.
            lost = [c for c, w in zip(claims, won, strict=True) if not w]
            await _delete(s, OUTBOX.c.dedupe_key, [p.dedupe_key for c in lost for p in c.pushes if p.dedupe_key in sent])
            await _delete(s, LEDGER.c.key, [e.key for c in lost for e in c.entries if e.key in claimed])
            questions = [{"token": q.token, "person": q.person, "kind": q.kind, "payload": dict(q.payload),
                          "created_at": now, "expires_at": now + question_ttl}
                         for c, w in zip(claims, won, strict=True) if w for q in c.questions]
            if questions:
                await s.exec(insert(QUESTIONS), params=questions)  # type: ignore[call-overload]
        return won

    async def record(self, entries: Sequence[LedgerEntry], status: str, now: dt.datetime) -> int:
        """Insert entries with a final status (missed, skipped), leaving keys already present alone; return how many."""
        async with transaction(self._sessions) as s:
            return len(await _insert_ledger(s, [(e, "") for e in entries], status, self.worker, now))

    async def record_missed(self, entries: Sequence[LedgerEntry], now: dt.datetime, *,
                            checked: dt.date | None = None) -> int:
        """Record reminders that fell due too long ago to send; return how many were new.

        With `checked`, also mark that day's look for missed reminders as done, in the same transaction.
        """
        async with transaction(self._sessions) as s:
            added = await _insert_ledger(s, [(e, "") for e in entries], MISSED, self.worker, now)
            if checked is not None:
                marker = LedgerEntry(f"{CHECKED}{checked.isoformat()}", 0, 0, checked.isoformat(), "missed-check", "", now)
                await _insert_ledger(s, [(marker, "")], "checked", self.worker, now)
            return len(added)

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


async def _insert_new(s: AsyncSession, table: Table, unique: str, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose unique column value is new; return the values inserted."""
    # ON CONFLICT DO NOTHING leaves a key another process recorded meanwhile alone, and RETURNING
    # names only the rows really added.
    stmt = upsert(s, table).on_conflict_do_nothing(index_elements=[unique]).returning(table.c[unique])
    added: set[str] = set()
    for i in range(0, len(rows), CHUNK):
        added.update((await s.exec(stmt, params=rows[i:i + CHUNK])).scalars())
    return added


async def _delete(s: AsyncSession, column: Any, keys: list[str]) -> None:
    """Delete the rows whose unique column value is one of `keys`."""
    for i in range(0, len(keys), CHUNK):
        await s.exec(delete(column.table).where(column.in_(keys[i:i + CHUNK])))  # type: ignore[call-overload]


async def _insert_ledger(s: AsyncSession, rows: Iterable[tuple[LedgerEntry, str]], status: str, worker: str,
                         now: dt.datetime) -> set[str]:
    """Insert ledger rows (an entry and the outbox key that carries it) whose key is new; return the keys inserted.

    One set-based statement: the rows travel as one JSON parameter that the database unpacks (json_each,
    jsonb_array_elements), the values common to all of them as plain parameters. A first sweep writes tens of
    thousands of rows, and binding them row by row costs several times what the database spends storing them. ON CONFLICT DO NOTHING leaves a key another process recorded (or is recording)
    alone, and RETURNING names only the rows really added.
    """
    dialect = s.bind.dialect if s.bind is not None else None
    stamp = LEDGER.c.due_at.type.dialect_impl(dialect).bind_processor(dialect) if dialect is not None else None
    stamps: dict[dt.datetime, Any] = {}

    def when(value: dt.datetime) -> Any:
        if value not in stamps:  # a handful of distinct instants among thousands of rows
            stored = stamp(value) if stamp is not None else value  # SQLite: the text it stores
            stamps[value] = stored.isoformat() if isinstance(stored, dt.datetime) else stored
        return stamps[value]

    # Sorted by key, so two processes inserting overlapping keys lock them in the same order (PostgreSQL).
    values = sorted((*e[:6], when(e.due_at), outbox_key) for e, outbox_key in rows)
    if not values:
        return set()
    data = json.dumps(values)
    stmt = text(_LEDGER_FROM_JSON[dialect.name if dialect else ""]).bindparams(
        bindparam("claimed_at", type_=LEDGER.c.claimed_at.type))
    found = await s.exec(stmt, params={"rows": data, "status": status, "claimed_by": worker,  # type: ignore[call-overload]
                                       "claimed_at": now})
    return set(found.scalars())


# Each JSON row: key, plan_id, task_no, period, stage, recipient, due_at, outbox_key.
_LEDGER_COLUMNS = "key, plan_id, task_no, period, stage, recipient, due_at, outbox_key, status, claimed_by, claimed_at"
_LEDGER_FROM_JSON = {
    # "WHERE true": SQLite's documented way to tell an INSERT ... SELECT from its upsert clause
    "sqlite": f"INSERT INTO reminderledger ({_LEDGER_COLUMNS}) SELECT "
              + ", ".join(f"value ->> {i}" for i in range(8))  # ->> : SQLite 3.38
              + ", :status, :claimed_by, :claimed_at FROM json_each(:rows) WHERE true"
              " ON CONFLICT (key) DO NOTHING RETURNING key",
    "postgresql": f"INSERT INTO reminderledger ({_LEDGER_COLUMNS}) SELECT "
                  + ", ".join(f"(r->>{i})::{t}" for i, t in enumerate(
                      ("text", "int", "int", "text", "text", "text", "timestamptz", "text")))
                  + ", :status, :claimed_by, :claimed_at FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r"
                  " ON CONFLICT (key) DO NOTHING RETURNING key",
}


def _view(r: ReminderLedger) -> LedgerView:
    return LedgerView(r.key, r.plan_id, r.task_no, r.period, r.stage, r.recipient, r.due_at, r.status,
                      r.claimed_by, r.claimed_at, r.outbox_key)
