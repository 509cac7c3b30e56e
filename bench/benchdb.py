"""Where a bench's duban keeps its data: a SQLite file by default, or a fresh PostgreSQL database of its own.

Set BENCH_DATABASE_URL=postgresql+asyncpg://user@host/db to bench on PostgreSQL: each store gets a new
database on that server (named after the bench's process and a label), dropped at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

SERVER = os.environ.get("BENCH_DATABASE_URL", "")
BACKEND = "postgresql" if SERVER else "sqlite"


async def fresh_database(label: str, state: Path) -> str:
    """Return the URL of an empty database for one store: a file in `state`, or a new PostgreSQL database."""
    if not SERVER:
        return f"sqlite+aiosqlite:///{state / 'duban.db'}"
    name = f"duban_bench_{os.getpid()}_{label}"
    admin = create_async_engine(SERVER, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


async def drop_databases(urls: list[str]) -> None:
    """Drop the PostgreSQL databases fresh_database made (nothing to do for SQLite files)."""
    if not SERVER:
        return
    admin = create_async_engine(SERVER, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        for url in urls:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    await admin.dispose()
