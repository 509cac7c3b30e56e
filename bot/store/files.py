"""Content-addressed evidence files: written atomically before any row points to them."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 20
INCOMING = ".incoming-"  # prefix of a copy in progress: `.incoming-<pid>-…`, so a dead writer's leftovers are known


class FileStore:
    """Keep each distinct file once, under ``<root>/<sha[:2]>/<sha>``; never overwrite, never delete."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        """Return where a file with this hash lives."""
        return self.root / sha256[:2] / sha256

    def put(self, source: Path) -> tuple[str, int]:
        """Copy `source` into the store, hashing as it streams; return (sha256, size).

        The copy is fsynced and renamed into place, so a crash leaves either the whole file or none:
        the database row is committed only after this returns.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f"{INCOMING}{os.getpid()}-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.exists():
                tmp.unlink()
                os.utime(final)  # fresh again: housekeeping never takes a blob someone is filing right now
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp.replace(final)
                _fsync_dir(final.parent)
            return sha, size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def blobs(self) -> Iterator[Path]:
        """Yield every stored file (not the copies in progress)."""
        if not self.root.is_dir():
            return
        for sub in self.root.iterdir():
            if sub.is_dir() and len(sub.name) == 2:
                yield from (p for p in sub.iterdir() if p.is_file() and len(p.name) == 64)

    def partial_copies(self) -> Iterator[Path]:
        """Yield the copies in progress (or left by a killed process) at the store's root."""
        if self.root.is_dir():
            yield from self.root.glob(f"{INCOMING}*")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds, else remove it.

    Exports and charts are written this way so a reader never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
