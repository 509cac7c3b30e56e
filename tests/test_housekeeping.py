"""What a killed process leaves (downloads, partial copies, blobs without a row) is cleaned on the next start."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys

from bot.app import App
from bot.core.clock import Clock


def _dead_pid() -> int:
    """Return the pid of a process that has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True,
                          text=True)
    return int(proc.stdout)


def _age(path: os.PathLike[str], days: float) -> None:
    then = (dt.datetime.now() - dt.timedelta(days=days)).timestamp()
    os.utime(path, (then, then))


async def test_tidy_removes_dead_leftovers_and_old_unreferenced_blobs_only(app: App, clock: Clock) -> None:
    state = app.settings.state_dir
    dead = _dead_pid()
    dead_scratch = state / "tmp" / str(dead)
    dead_scratch.mkdir(parents=True)
    (dead_scratch / "tg-abc").write_bytes(b"half a download")
    legacy = state / "tmp" / "tg-old"  # from before scratch directories were per process
    legacy.write_bytes(b"x")
    live = app.scratch_file("tg-")  # this process is alive: its download stays
    app.store.files.root.mkdir(parents=True, exist_ok=True)
    partial = app.store.files.root / f".incoming-{dead}-zz"
    partial.write_bytes(b"half a copy")

    kept_src = state / "kept.pdf"
    kept_src.write_bytes(b"%PDF referenced")
    sha, size = app.store.files.put(kept_src)
    plan = await app.store.plans.plan()
    await app.store.evidence.add(plan.id, 12, 1, sha256=sha, size=size, file_name="kept.pdf",
                                 mime_type="application/pdf", unit="区水务局", by="console:admin", channel="console",
                                 now=clock.utcnow())
    _age(app.store.files.path_for(sha), days=30)
    old_src, new_src = state / "old.bin", state / "new.bin"
    old_src.write_bytes(b"orphan from a kill long ago")
    new_src.write_bytes(b"orphan a moment old")
    old_sha, _ = app.store.files.put(old_src)
    new_sha, _ = app.store.files.put(new_src)
    _age(app.store.files.path_for(old_sha), days=2)

    report = await app.tidy()

    assert not dead_scratch.exists() and not legacy.exists() and live.exists()
    assert not partial.exists()
    assert app.store.files.path_for(sha).read_bytes() == b"%PDF referenced"  # a row refers to it: never removed
    assert not app.store.files.path_for(old_sha).exists()  # no row, past the grace period
    assert app.store.files.path_for(new_sha).exists()  # no row yet, but maybe about to get one
    assert (report.removed_orphans, report.orphans) == (1, 1)
    assert hashlib.sha256(app.store.files.path_for(new_sha).read_bytes()).hexdigest() == new_sha
