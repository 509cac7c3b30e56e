"""`duban desk link USER_KEY` and `duban desk sessions` through the real entry point, with the HTTP server between."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from bot.app import App
from bot.cli.main import main
from bot.config import Settings
from bot.runner import Runtime

PUBLIC = "https://duban.example.gov.cn"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DUBAN_TODAY", "2023-10-20")
    monkeypatch.setenv("DUBAN_TIME", "10:00")
    monkeypatch.setenv("DUBAN_COORDINATORS", "wecom:jieshuiban")
    monkeypatch.setenv("DUBAN_PUBLIC_URL", PUBLIC)
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


async def _serve(fn: Callable[[str], Awaitable[T]]) -> T:
    """Run duban's HTTP server on the CLI's state directory while `fn(base_url)` talks to it."""
    app = await App.create(Settings())
    try:
        async with Runtime(app) as rt:
            return await fn(rt.http_url)
    finally:
        await app.close()


def _sign_in(link: str) -> str:
    """Press the button behind a sign-in link printed for https://duban.example.gov.cn; return the cookie."""

    async def go(base: str) -> str:
        async with aiohttp.ClientSession() as http:
            async with http.post(link.replace(PUBLIC, base), allow_redirects=False) as resp:
                assert resp.status == 303
                return resp.cookies["duban_desk"].value

    return asyncio.run(_serve(go))


def _status_with(cookie: str) -> int:
    async def go(base: str) -> int:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/desk/tasks", headers={"Cookie": f"duban_desk={cookie}"}) as resp:
                return resp.status

    return asyncio.run(_serve(go))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_sessions_are_listed_and_ended(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_HTTP_PORT", "0")
    monkeypatch.setenv("DUBAN_SCHEDULER", "false")
    cookies = []
    for _ in range(2):  # the office PC and the phone
        assert main(["desk", "link", "wecom:jieshuiban"]) == 0
        cookies.append(_sign_in(capsys.readouterr().out.strip().splitlines()[-1]))
    assert _status_with(cookies[0]) == 200
    listed = _json(capsys, ["desk", "sessions", "--json"])
    assert [s["person"] for s in listed] == ["wecom:jieshuiban"] * 2
    assert main(["desk", "sessions"]) == 0
    shown = capsys.readouterr()
    assert "wecom:jieshuiban" in shown.out and "共2个未结束的督办台会话" in shown.err

    phone = listed[0]["id"]  # the most recently used first
    assert _json(capsys, ["desk", "sessions", "--end", phone, "--json"]) == {"ended": 1, "who": phone}
    assert _status_with(cookies[1]) == 401 and _status_with(cookies[0]) == 200
    assert main(["desk", "sessions", "--end", "wecom:jieshuiban"]) == 0
    assert "已结束 wecom:jieshuiban 的1个督办台会话" in capsys.readouterr().err
    assert _status_with(cookies[0]) == 401
    assert _json(capsys, ["desk", "sessions", "--json"]) == []
    assert main(["desk", "sessions", "--end", "wecom:jieshuiban"]) != 0
    assert "没有找到 wecom:jieshuiban 未结束的督办台会话" in capsys.readouterr().err
