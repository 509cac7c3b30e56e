"""The durable intake's table: what a platform handed us, kept before we acknowledge it, until it is handled."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.messages import Envelope
from bot.store.db import SQLITE_BUSY_TIMEOUT, sqlite_pragmas, transaction
from bot.store.tables import IntakeRow

log = logging.getLogger(__name__)
INBOUND = IntakeRow.__table__  # type: ignore[attr-defined]
_IDS_PER_UPDATE = 200  # ids per UPDATE … IN (…): well under SQLite's bound-parameter limit
_INSERT = sqlite.insert(INBOUND).on_conflict_do_nothing(index_elements=["key"]).returning(INBOUND.c.id, INBOUND.c.key)


@dataclass(frozen=True)
class Leftover:
    """A message kept but not handled when a process stopped or died: its stored form, to be handled first."""

    id: int
    key: str
    channel: str
    payload: dict[str, Any]


class IntakeRepo:
    """Keep inbound messages (one transaction per batch, redeliveries dropped), mark them handled, list leftovers.

    Keeping and marking run for every message, so they bypass SQLAlchemy's transactions, whose bookkeeping cost
    more than the writes: on a SQLite file plain sqlite3, a whole transaction per call (`_SqliteFile`; through
    the async driver a one-statement transaction took several thread hops); on PostgreSQL one statement per
    call on a pooled asyncpg connection (`_PgStatements`).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        engine: AsyncEngine = sessions.kw["bind"]
        self._writer: _Writer = (_PgStatements(engine) if engine.dialect.name == "postgresql"
                                 else _SqliteFile.open(engine) or _Core(engine))

    async def keep(self, envelopes: Sequence[Envelope], now: dt.datetime,
                   handled: Sequence[int] = ()) -> dict[str, int]:
        """Store a batch in one transaction; return the ids of the envelopes that are new, by key (a redelivered
        key is skipped).

        `handled` marks earlier messages handled in the same transaction: the intake folds the marks that are
        due into the next keep, so a busy channel pays one commit per batch rather than two per message.
        """
        if not envelopes and not handled:
            return {}
        first: dict[str, Envelope] = {}  # a key twice in one batch is one message
        for e in envelopes:
            first.setdefault(e.key, e)
        return await self._writer.write(list(first.values()), now, handled)

    async def handled(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Mark kept messages as handled."""
        await self._writer.write([], now, ids)

    async def close(self) -> None:
        """Let a write under way finish, then close the connections kept for these writes."""
        await self._writer.close()

    async def unhandled(self, channel: str) -> list[Leftover]:
        """Return messages kept but not handled (a crash or a stop came between), in arrival order."""
        async with self._sessions() as s:
            rows = (await s.exec(select(IntakeRow).where(IntakeRow.channel == channel, col(IntakeRow.handled_at).is_(None))
                                 .order_by(col(IntakeRow.id)))).all()
            return [Leftover(r.id or 0, r.key, r.channel, dict(r.payload)) for r in rows]

    async def forget_handled(self, before: dt.datetime) -> int:
        """Delete handled messages older than `before` (they only served to recognise redeliveries)."""
        async with transaction(self._sessions) as s:
            result = await s.exec(delete(IntakeRow).where(col(IntakeRow.handled_at).is_not(None),
                                                           col(IntakeRow.handled_at) < before))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


class _Writer(Protocol):
    async def write(self, envelopes: list[Envelope], now: dt.datetime, handled: Sequence[int]) -> dict[str, int]: ...

    async def close(self) -> None: ...


class _Core:
    """An in-memory SQLite database (no second connection could see it): SQLAlchemy Core on the async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(self, envelopes: list[Envelope], now: dt.datetime, handled: Sequence[int]) -> dict[str, int]:
        """Mark `handled` and insert the envelopes in one transaction; return the new rows' ids by key."""
        async with self._engine.begin() as c:
            return await c.run_sync(self._write, envelopes, now, list(handled))

    @staticmethod
    def _write(c: Connection, envelopes: list[Envelope], now: dt.datetime, handled: list[int]) -> dict[str, int]:
        if handled:
            c.execute(update(INBOUND).where(INBOUND.c.id.in_(handled)).values(handled_at=now))
        if not envelopes:
            return {}
        rows = [{"key": e.key, "channel": e.channel, "chat": e.chat.key(), "payload": e.to_json(), "received_at": now}
                for e in envelopes]
        return {key: id_ for id_, key in c.execute(_INSERT, rows).all()}  # RETURNING's order is not promised

    async def close(self) -> None:
        """Nothing of its own to close: the engine's pool is the store's."""


class _PgStatements:
    """The intake's writes on PostgreSQL: each call one statement, in autocommit, on a connection it holds.

    Marking and inserting together are a single statement (the UPDATE in a WITH clause), so they are atomic
    without BEGIN and COMMIT: one round trip where a SQLAlchemy transaction took four and its bookkeeping, for
    every message that arrives alone (Telegram at its 30/s limit). The connection comes from the engine's pool
    (its JSON codec, its URL) and is kept between calls, one call at a time; one whose statement failed or was
    interrupted is discarded and the next call takes a new one. Values go through SQLAlchemy's own bind
    processors, so the rows are what the ORM would write.
    """

    KEEP = ("WITH marked AS (UPDATE inbound SET handled_at = $1 WHERE id = ANY($2::integer[])) "
            "INSERT INTO inbound (key, channel, chat, payload, received_at) "
            "SELECT * FROM unnest($3::varchar[], $4::varchar[], $5::varchar[], $6::json[], $7::timestamptz[]) "
            "ON CONFLICT (key) DO NOTHING RETURNING id, key")
    MARK = "UPDATE inbound SET handled_at = $1 WHERE id = ANY($2::integer[])"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._json = _bind(INBOUND.c.payload, engine.dialect)
        self._time = _bind(INBOUND.c.received_at, engine.dialect)
        self._lock = asyncio.Lock()
        self._held: AsyncConnection | None = None
        self._pg: Any = None  # the held connection's asyncpg connection

    async def write(self, envelopes: list[Envelope], now: dt.datetime, handled: Sequence[int]) -> dict[str, int]:
        """Mark `handled` and insert the envelopes in one statement; return the new rows' ids by key."""
        at, marks = self._time(now), list(handled)
        async with self._lock:
            pg = await self._connection()
            try:
                if not envelopes:
                    await pg.execute(self.MARK, at, marks)
                    return {}
                rows = await pg.fetch(self.KEEP, at, marks, [e.key for e in envelopes], [e.channel for e in envelopes],
                                      [e.chat.key() for e in envelopes], [self._json(e.to_json()) for e in envelopes],
                                      [at] * len(envelopes))
            except BaseException:
                await self._drop()  # a failed or interrupted statement leaves the connection in doubt
                raise
        return {key: id_ for id_, key in rows}

    async def _connection(self) -> Any:
        if self._held is not None and self._pg.is_closed():
            await self._drop()
        if self._held is None:
            held = await self._engine.connect()
            self._pg = (await held.get_raw_connection()).driver_connection
            self._held = held
        return self._pg

    async def _drop(self) -> None:
        held, self._held, self._pg = self._held, None, None
        if held is not None:
            with contextlib.suppress(Exception):
                await held.invalidate()
            with contextlib.suppress(Exception):
                await held.close()

    async def close(self) -> None:
        """Give the held connection back to the pool."""
        async with self._lock:
            held, self._held, self._pg = self._held, None, None
            if held is not None:
                await held.close()


class _SqliteFile:
    """The intake's writes on a SQLite file, as plain sqlite3: on the event loop when the database is free,
    in a thread of their own when another writer holds it.

    A message is kept before it is handled, so this commit sits on every message's path. In WAL mode with
    synchronous=NORMAL a commit appends to the log in the page cache and does not fsync, so it is cheapest
    done where the message is (a hop to a thread and back cost more than the write, and left the loop idle
    meanwhile). The loop's connection never waits: its busy timeout is 0, and when another writer holds the
    database the same transaction runs instead on the thread's connection, which waits (busy timeout). The
    loop's connection does not checkpoint either (that fsyncs): the thread does, every `CHECKPOINT_EVERY`
    commits. Values are stored exactly as SQLAlchemy stores them (its own bind processors for the JSON
    payload and the timestamps), so the ORM reads these rows like any other.
    """

    CHECKPOINT_EVERY = 250

    def __init__(self, path: str, dialect: Any) -> None:
        self._path = path
        self._json = _bind(INBOUND.c.payload, dialect)
        self._received = _bind(INBOUND.c.received_at, dialect)
        self._handled = _bind(INBOUND.c.handled_at, dialect)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="duban-inbound")
        self._here: sqlite3.Connection | None = None  # the event loop's: never waits
        self._there: sqlite3.Connection | None = None  # the thread's: waits for other writers, checkpoints
        self._commits = 0
        self._closed = False

    @classmethod
    def open(cls, engine: AsyncEngine) -> _SqliteFile | None:
        """The writer for a SQLite file; None for PostgreSQL or an in-memory database (a second connection
        there would see another database)."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(url.database, engine.dialect)

    async def write(self, envelopes: list[Envelope], now: dt.datetime, handled: Sequence[int]) -> dict[str, int]:
        """Mark `handled` and insert the envelopes in one transaction; return the new rows' ids by key."""
        received = self._received(now)
        rows = [(e.key, e.channel, e.chat.key(), self._json(e.to_json()), received) for e in envelopes]
        marks, at = list(handled), self._handled(now)
        try:
            new = _write(self._here or self._connect_here(), rows, marks, at)
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._write_there, rows, marks, at)
        self._commits += 1
        if self._commits % self.CHECKPOINT_EVERY == 0:
            self._thread.submit(self._checkpoint)
        return new

    def _connect_here(self) -> sqlite3.Connection:
        self._here = self._connect(timeout=0, checkpoints=False)
        return self._here

    def _write_there(self, rows: list[tuple[Any, ...]], handled: list[int], at: Any) -> dict[str, int]:
        if self._there is None:
            self._there = self._connect(timeout=SQLITE_BUSY_TIMEOUT)
        return _write(self._there, rows, handled, at)

    def _checkpoint(self) -> None:
        try:
            if self._there is None:
                self._there = self._connect(timeout=SQLITE_BUSY_TIMEOUT)
            self._there.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            log.warning("inbound: WAL checkpoint failed; the next one tries again", exc_info=True)

    def _connect(self, *, timeout: float, checkpoints: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=timeout, check_same_thread=False)
        try:
            sqlite_pragmas(conn)
            if not checkpoints:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error:
            conn.close()  # busy even for this (the loop's connection never waits): the next write tries again
            raise
        return conn

    async def close(self) -> None:
        """Close both connections (a write in the thread finishes first)."""
        if self._closed:
            return
        self._closed = True
        if self._here is not None:
            self._here.close()
            self._here = None
        self._thread.submit(self._disconnect).result()
        self._thread.shutdown(wait=True)

    def _disconnect(self) -> None:
        if self._there is not None:
            self._there.close()
            self._there = None


def _write(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], handled: list[int], at: Any) -> dict[str, int]:
    """SQLite: mark `handled`, insert the new rows; return their ids by key. One transaction."""
    new: dict[str, int] = {}
    with conn:  # commits, or rolls back on an error
        for start in range(0, len(handled), _IDS_PER_UPDATE):
            ids = handled[start:start + _IDS_PER_UPDATE]
            conn.execute(f"UPDATE inbound SET handled_at = ? WHERE id IN ({','.join('?' * len(ids))})", (at, *ids))
        for row in rows:
            found = conn.execute("INSERT INTO inbound (key, channel, chat, payload, received_at) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id", row).fetchone()
            if found is not None:
                new[row[0]] = found[0]
    return new


def _bind(column: Any, dialect: Any) -> Callable[[Any], Any]:
    """How SQLAlchemy turns a value of this column into what the driver stores (identity when it passes as is)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)
