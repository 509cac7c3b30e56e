"""What a killed process leaves behind, found and removed on the next start.

A kill -9 can leave: downloads in a scratch directory (a channel fetches a file before filing it), a partial copy
in the evidence store (`.incoming-<pid>-…`), and a blob copied into the store whose row was never committed. The
first two belong to a dead process and go at once. A blob without a row is reported, and removed only after a grace
period (a live process may be between copying a blob and committing its row), and never while any row — withdrawn
ones included — refers to it.

Temporaries are per process (`<state>/tmp/<pid>/`, `.incoming-<pid>-…`): several processes may share one state
directory on one host, and one must not delete what another is writing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bot.store.files import INCOMING
from bot.store.store import Store

log = logging.getLogger(__name__)
ORPHAN_GRACE = dt.timedelta(hours=24)


@dataclass(frozen=True)
class TidyReport:
    """What one tidy-up found and did."""

    scratch_removed: int
    partial_removed: int
    orphans: int  # blobs no row refers to, still inside the grace period
    removed_orphans: int


def scratch_dir(state_dir: Path) -> Path:
    """Return this process's scratch directory."""
    return state_dir / "tmp" / str(os.getpid())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    """Return the pid a temporary's name carries, or None for a name from before temporaries carried one."""
    head = name.split("-", 1)[0]
    return int(head) if head.isascii() and head.isdigit() else None


async def tidy(state_dir: Path, store: Store) -> TidyReport:
    """Remove dead processes' temporaries; report unreferenced blobs and remove those past the grace period.

    Ages are measured on the real clock, not duban's (which a demo pins to 2023): they compare file times.
    """
    scratch = 0
    tmp_root = state_dir / "tmp"
    if tmp_root.is_dir():
        for entry in tmp_root.iterdir():
            owner = _owner(entry.name) if entry.is_dir() else None
            if owner is not None and _alive(owner):
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
            scratch += 1
    partial = 0
    for path in store.files.partial_copies():
        owner = _owner(path.name[len(INCOMING):])
        if owner is not None and _alive(owner):
            continue
        path.unlink(missing_ok=True)
        partial += 1
    blobs = list(store.files.blobs())
    referenced = await store.evidence.hashes() if blobs else set()
    orphans = removed = 0
    for blob in blobs:
        if blob.name in referenced:
            continue
        age = dt.timedelta(seconds=time.time() - blob.stat().st_mtime)
        if age < ORPHAN_GRACE:
            orphans += 1
            continue
        # Re-checked right before removing: a row committed since the listing keeps its blob.
        if blob.name not in await store.evidence.hashes():
            blob.unlink(missing_ok=True)
            removed += 1
            log.warning("removed evidence blob %s: no row referred to it for %s", blob.name, age)
    return TidyReport(scratch, partial, orphans, removed)
