"""Databases of their own on a PostgreSQL server, for a test run or a bench: created empty, dropped after.

Two runs against one server (two developers, CI beside a session, a bench beside the tests) must not empty
each other's tables, so each makes its own database, named after its process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def create_database(server: str, name: str) -> str:
    """Create (or re-create) database `name` on the server `server` points at; return its URL."""
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def drop_databases(server: str, names: Iterable[str]) -> None:
    """Drop these databases, ending any connection still open to them."""
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        for name in names:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


async def end_connections(url: str) -> None:
    """End every other connection to the database at `url`, as a server restart would, and wait until it has."""
    admin = create_async_engine(url)
    try:
        async with admin.connect() as conn:
            pids = (await conn.execute(text(BACKENDS))).scalars().all()
            assert pids, "no connection to end"
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(200):  # until the server has ended them (each look is a round trip, not a sleep)
                if not set(pids) & set((await conn.execute(text(BACKENDS))).scalars().all()):
                    break
                await asyncio.sleep(0.01)
    finally:
        await admin.dispose()
