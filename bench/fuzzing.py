"""What the fuzz scripts share: drive a hypothesis property over batches on one event loop, digest the rows a
refusal must leave alone, and the command line."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


def drive(runner: asyncio.Runner, batches: st.SearchStrategy[list[T]], send: Callable[[T], Awaitable[None]],
          examples: int, seed_value: int) -> tuple[str, list[str]]:
    """Send every item of `examples` generated batches through `send`; return the failure (or "") and the first few."""
    failures: list[str] = []

    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(batches)
    def prop(batch: list[T]) -> None:
        for item in batch:
            try:
                runner.run(send(item))
            except AssertionError as e:  # kept as first seen: shrinking replays on a store that moved on
                if len(failures) < 5 and str(e) not in failures:
                    failures.append(str(e)[:500])
                raise

    try:
        prop()
    except Exception as e:  # the property failed: report it rather than a traceback
        return f"{type(e).__name__}: {e}"[:2000], failures
    return "", failures


def main(doc: str, run: Callable[[Path, int, int, str], dict[str, Any]], prefix: str) -> None:
    """Parse arguments, fuzz, print JSON; exit 1 when the property failed."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--database-url", default="", help="an empty database to migrate (default: SQLite in a temp dir)")
    a = parser.parse_args()
    report = run(Path(tempfile.mkdtemp(prefix=prefix)), a.examples, a.seed, a.database_url)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(1 if report["failure"] else 0)


async def rows_digest(engine: AsyncEngine, tables: Sequence[str]) -> str:
    """Return a digest of every row of these tables (equal before and after: nothing changed)."""
    digest = hashlib.sha256()
    async with engine.connect() as c:
        for table in tables:
            for row in await c.execute(text(f"SELECT * FROM {table} ORDER BY 1")):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
