"""Exports built once per state of their data: the 台账 and the evidence bundle are rebuilt only when what they show
changed.

Every download on the desk and every /export in chat used to build the file anew, so a signed-in user could keep a
worker thread writing spreadsheets and zips by asking in a loop. Now each request reads what the export shows (the
plan, its tasks with their progress, the evidence files: a few queries, as any page does) and compares it with what
the last build of the same export — same plan, unit and day — was made from; when nothing differs, the file already
built is served. Requests for the same export wait for one another (a lock per export), so those arriving during a
build share it instead of starting their own.

The data itself is the revision here rather than the read model's generation: that counter also moves when the read
model merely re-checks (a write of this very process is seen twice, at its commit and at the next revision check,
which would build again for nothing), and PostgreSQL's revision sequence moves before the writing transaction
commits, so a build could carry the new revision number with the old data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

D = TypeVar("D")
T = TypeVar("T")
Key = tuple[str, str, str | None, dt.date]  # (export, plan, unit, day)


class Builds:
    """The last build of each export, by key, with the data it was built from."""

    def __init__(self) -> None:
        self._built: dict[Key, tuple[Any, Path, Any]] = {}  # key -> (data, file, what the build returned)
        self._locks: dict[Key, asyncio.Lock] = {}

    async def once(self, key: Key, read: Callable[[], Awaitable[D]], path: Path,
                   build: Callable[[D], Awaitable[T]]) -> T:
        """Read the export's data; return the last build's result if it was made from equal data, else build now."""
        self._forget_other_days(key[-1])
        async with self._locks.setdefault(key, asyncio.Lock()):
            data = await read()
            done = self._built.get(key)
            if done is not None and done[0] == data and done[1].is_file():
                return cast(T, done[2])  # what this key's build returned: a T
            value = await build(data)
            self._built[key] = (data, path, value)
            return value

    def _forget_other_days(self, today: dt.date) -> None:
        """Drop the builds of other days: the day is in the key, they are not asked for again."""
        for key in [k for k, lock in self._locks.items() if k[-1] != today and not lock.locked()]:
            del self._locks[key]
            self._built.pop(key, None)
