"""Where a bench's duban keeps its data: a SQLite file by default, or a fresh PostgreSQL database of its own.

Set BENCH_DATABASE_URL=postgresql+asyncpg://user@host/db to bench on PostgreSQL: each store gets a new
database on that server (named after the bench's process and a label), dropped at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import pgdb  # shared with the tests

SERVER = os.environ.get("BENCH_DATABASE_URL", "")
BACKEND = "postgresql" if SERVER else "sqlite"


async def fresh_database(label: str, state: Path) -> str:
    """Return the URL of an empty database for one store: a file in `state`, or a new PostgreSQL database."""
    if not SERVER:
        return f"sqlite+aiosqlite:///{state / 'duban.db'}"
    return await pgdb.create_database(SERVER, f"duban_bench_{os.getpid()}_{label}")


async def drop_databases(urls: list[str]) -> None:
    """Drop the PostgreSQL databases fresh_database made (nothing to do for SQLite files)."""
    if SERVER:
        await pgdb.drop_databases(SERVER, [str(make_url(url).database) for url in urls])
