"""Evidence bytes: content-addressed, written whole or not at all."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bot.store.files import BlobRefused, FileStore


def test_same_bytes_are_kept_once_under_their_hash(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "evidence")
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    a.write_bytes(b"%PDF same")
    b.write_bytes(b"%PDF same")
    sha_a, size = store.put(a)
    sha_b, _ = store.put(b)
    assert sha_a == sha_b == hashlib.sha256(b"%PDF same").hexdigest() and size == 9
    assert store.path_for(sha_a).read_bytes() == b"%PDF same"
    assert [p.name for p in (tmp_path / "evidence").rglob("*") if p.is_file()] == [sha_a]


def test_a_failed_copy_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path / "evidence")
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * (3 << 20))
    calls = 0
    real_open = Path.open

    class Exploding:
        """A source file whose second read fails, as a disk error or a killed download would."""

        def __init__(self, fh: object) -> None:
            self.fh = fh

        def __enter__(self) -> Exploding:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()  # type: ignore[attr-defined]

        def read(self, n: int) -> bytes:
            nonlocal calls
            calls += 1
            if calls > 1:
                raise OSError("read failed")
            return self.fh.read(n)  # type: ignore[attr-defined, no-any-return]

    def fake_open(self: Path, mode: str = "r", *a: object, **k: object) -> object:
        fh = real_open(self, mode, *a, **k)  # type: ignore[arg-type]
        return Exploding(fh) if self == src else fh

    monkeypatch.setattr(Path, "open", fake_open)
    with pytest.raises(OSError):
        store.put(src)
    assert [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()] == []


def test_a_stored_file_is_read_back_only_as_it_was_written(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "evidence")
    src = tmp_path / "a.pdf"
    src.write_bytes(b"%PDF kept")
    sha, size = store.put(src)
    with store.open_blob(sha, size) as fh:
        assert fh.read() == b"%PDF kept"
    with pytest.raises(BlobRefused, match="大小"):
        store.open_blob(sha, size + 1)  # the record says otherwise
    blob = store.path_for(sha)
    blob.unlink()
    os.mkfifo(blob)  # a reader must not hang waiting for a writer
    with pytest.raises(BlobRefused, match="不是普通文件"):
        store.open_blob(sha, size)
    blob.unlink()
    blob.write_bytes(b"%PDF kepT")  # same size, other bytes: the export's reader notices at the end
    with store.open_verified(blob, size) as reader:
        assert reader.read(4) == b"%PDF"
        assert reader.read(100) == b" kepT"
        with pytest.raises(BlobRefused, match="校验值不符"):
            reader.read(100)
    with pytest.raises(BlobRefused, match="找不到"):
        store.open_blob("0" * 64, 1)
