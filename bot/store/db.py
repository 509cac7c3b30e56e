"""The async engine, sessions and migrations (Alembic, applied on start)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT = 30  # seconds a SQLite writer waits for another to commit


def make_engine(url: str) -> AsyncEngine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout so several tasks can share it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        event.listen(engine.sync_engine, "connect", lambda dbapi_conn, _record: sqlite_pragmas(dbapi_conn))
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout. A pooled connection the server has
    # closed (restart, pg_terminate_backend, idle timeout) is known to asyncpg without asking, and is
    # replaced on checkout; one dropped silently fails its statement once and is then replaced too.
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "checkout")
    def _replace_closed(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.driver_connection is not None and record.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")  # the pool connects anew

    return engine


def is_transient(error: BaseException) -> bool:
    """Tell whether a failure came from the database being away or busy for a moment: worth trying again.

    A connection the server ended (restart, pg_terminate_backend), a network drop, a SQLite file locked past the
    busy timeout or briefly unavailable. Anything else (a constraint, a bad statement) is a bug or a refusal.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, InterfaceError | DisconnectionError | ConnectionError | TimeoutError):
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in _ASYNCPG_TRANSIENT:
            return True
        if isinstance(current, sqlite3.OperationalError | OperationalError) and _SQLITE_AWAY.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


# asyncpg's errors for a connection that is gone or going (checked by name: asyncpg is only there for PostgreSQL)
_ASYNCPG_TRANSIENT = frozenset({"ConnectionDoesNotExistError", "InterfaceError", "ConnectionFailureError",
                                "CannotConnectNowError", "AdminShutdownError", "CrashShutdownError",
                                "TooManyConnectionsError", "ConnectionRejectionError", "InternalClientError"})


# SQLite's words for a file another process holds or that is briefly unreachable (not a missing table: a bug)
_SQLITE_AWAY = re.compile(r"database is locked|database table is locked|unable to open database|disk I/O error")


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """WAL (readers never wait for the writer), foreign keys, and commits that fsync only at checkpoints."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session maker whose objects stay readable after commit (no lazy reloads in async)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(connection: Connection) -> Config:
    """Return the Alembic configuration that runs duban's migrations on `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; safe on every start)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session in a transaction that commits on success and rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session


def upsert(s: AsyncSession, table: Table | type[Any]) -> Any:
    """Return the dialect's INSERT, which has ON CONFLICT on both SQLite and PostgreSQL."""
    name = s.bind.dialect.name if s.bind is not None else ""
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for {name}")  # duban runs on SQLite and PostgreSQL
