"""Evidence bytes: content-addressed, written whole or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.store.files import FileStore


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
