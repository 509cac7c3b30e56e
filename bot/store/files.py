"""Content-addressed evidence files: written atomically before any row points to them, read back only as written.

Reading never follows a symbolic link (neither the file nor its two-letter folder) and refuses anything but a
plain file of the size its record says; exports also check the SHA-256 (the file's name) as they copy. A file
that fails is refused in words and logged: a link planted in the store must not serve /etc/passwd.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from bot.core.errors import UserError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
INCOMING = ".incoming-"  # prefix of a copy in progress: `.incoming-<pid>-…`, so a dead writer's leftovers are known
_SHA256 = re.compile(r"[0-9a-f]{64}")
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # NONBLOCK: a FIFO planted in the store must not hang a reader


class BlobRefused(UserError):
    """A stored file is missing, a link, not a plain file, or not what its record says: it is not handed out."""

    def __init__(self, sha256: str, why: str) -> None:
        super().__init__(f"证据文件（SHA-256 {sha256[:12]}…）{why}，不能使用。请联系管理员检查状态目录中的 evidence 文件夹。")
        self.why = why


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

    def open_blob(self, sha256: str, size: int) -> BinaryIO:
        """Open a stored file to serve it: never through a link, and only a plain file of the recorded size."""
        return os.fdopen(_open_plain(self.path_for(sha256), size), "rb")

    def check(self, sha256: str, size: int) -> None:
        """Raise BlobRefused for a stored file open_blob would refuse (before handing its path to a channel)."""
        os.close(_open_plain(self.path_for(sha256), size))

    @staticmethod
    def open_verified(path: Path, size: int) -> VerifiedReader:
        """Open a stored file to export it: as open_blob, and reading it to the end checks its SHA-256 (its name)."""
        return VerifiedReader(os.fdopen(_open_plain(path, size), "rb"), path.name)


class VerifiedReader:
    """A stored file read front to back; the empty read at its end raises BlobRefused if the bytes do not hash
    to the name they are stored under."""

    def __init__(self, raw: BinaryIO, sha256: str) -> None:
        self._raw = raw
        self._sha256 = sha256
        self._digest = hashlib.sha256()

    def read(self, n: int) -> bytes:
        """Read up to n bytes; at the end, check the hash."""
        chunk = self._raw.read(n)
        if chunk:
            self._digest.update(chunk)
        elif self._digest.hexdigest() != self._sha256:
            raise _refused(self._sha256, "的内容与记录的校验值不符（可能被改动过）")
        return chunk

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._raw.close()


def _open_plain(path: Path, size: int) -> int:
    """Return a descriptor of a stored file opened without following links, refusing what is not as recorded."""
    sha = path.name
    if not _SHA256.fullmatch(sha):
        raise _refused(sha, "的名称不是校验值")
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = os.open(sha, _OPEN, dir_fd=folder)
        finally:
            os.close(folder)
    except OSError as e:
        raise _refused(sha, "在存储中找不到" if e.errno == errno.ENOENT else "是链接或不是普通文件") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        os.close(fd)
        raise _refused(sha, "不是普通文件" if not stat.S_ISREG(info.st_mode) else
                       f"的大小（{info.st_size}字节）与记录（{size}字节）不符")
    return fd


def _refused(sha256: str, why: str) -> BlobRefused:
    log.warning("evidence file %s refused: %s", sha256, why)
    return BlobRefused(sha256, why)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
