"""`duban desk link USER_KEY` through the real entry point: the link is on the last line and signs in once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
    monkeypatch.setenv("DUBAN_COORDINATORS", "wecom:jieshuiban")
    monkeypatch.setenv("DUBAN_PUBLIC_URL", "https://duban.example.gov.cn")
    monkeypatch.delenv("DUBAN_DATABASE_URL", raising=False)
    return tmp_path


def test_link_for_a_configured_coordinator_is_printed_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["desk", "link", "wecom:jieshuiban"]) == 0
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert last.startswith("https://duban.example.gov.cn/desk/login/") and "10分钟内有效" in captured.err


def test_unknown_or_unbound_person_gets_no_link(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["desk", "link", "wecom:nobody"]) != 0
    assert main(["desk", "link", "nocolon"]) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "没有找到用户 wecom:nobody" in captured.err
