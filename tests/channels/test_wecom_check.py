"""`duban wecom check` as an installer runs it on the office machine: green against the fakes, red with the reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TODAY
from fakes.http_proxy import CountingProxy
from fakes.wecom_api import FakeWeCom
from fakes.wecom_openws import BOT_ID, SECRET, FakeOpenWs

from bot.app import App
from bot.config import Settings

CORP, APP_SECRET = "wwduban0000000001", "duban-app-secret"
PROXY_VARIABLES = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}


@pytest.fixture
async def api() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(corp_id=CORP, secret=APP_SECRET) as server:
        yield server


def env_for(tmp_path: Path, ws: FakeOpenWs, api: FakeWeCom | None = None, **settings: str) -> dict[str, str]:
    """The office machine's environment: the bot (and the app) configured, no proxy unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_") and k.lower() not in PROXY_VARIABLES}
    env.update(DUBAN_STATE_DIR=str(tmp_path), DUBAN_TODAY=TODAY.isoformat(), DUBAN_WECOM_BOT_ID=BOT_ID,
               DUBAN_WECOM_BOT_SECRET=SECRET, DUBAN_WECOM_BOT_WS_URL=ws.ws_url)
    if api is not None:
        env.update(DUBAN_WECOM_CORP_ID=CORP, DUBAN_WECOM_AGENT_ID="1000002", DUBAN_WECOM_SECRET=APP_SECRET,
                   DUBAN_WECOM_TOKEN="t0ken", DUBAN_WECOM_AES_KEY="a" * 43, DUBAN_WECOM_API_URL=api.base_url)
    env.update(settings)
    return env


async def check(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    """Run `duban wecom check --json`; return the exit status, the JSON and what went to stderr."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "wecom", "check", "--json", *args,
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, json.loads(out), err.decode()


def steps(report: Any) -> dict[str, tuple[bool, str]]:
    return {c["step"]: (c["ok"], c["message"]) for c in report["checks"]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_everything_reachable_and_accepted_is_green(tmp_path: Path, ws: FakeOpenWs, api: FakeWeCom) -> None:
    status, report, _ = await check(env_for(tmp_path, ws, api))
    assert status == 0 and report["ok"], report
    found = steps(report)
    assert {"openws.dns", "openws.connect", "clock", "openws.subscribe", "api.dns", "api.connect", "api.token",
            "api.agent"} <= set(found)
    assert "订阅成功" in found["openws.subscribe"][1] and ws.subscribes == [(BOT_ID, 0)]
    assert BOT_ID not in ws.conns  # it disconnected again
    assert "AgentId 1000002 可用" in found["api.agent"][1]


async def test_green_through_the_proxy_which_sees_every_connection(tmp_path: Path, ws: FakeOpenWs,
                                                                   api: FakeWeCom) -> None:
    async with CountingProxy() as proxy:
        status, report, _ = await check(env_for(tmp_path, ws, api, DUBAN_PROXY=proxy.url))
    assert status == 0 and report["ok"], report
    assert "放行" in steps(report)["openws.proxy"][1] and "openws.dns" not in steps(report)
    ws_seen = proxy.to(ws.root)
    assert [s.method for s in ws_seen if s.method == "CONNECT"] == ["CONNECT"]  # the probe of the way through
    assert len([s for s in ws_seen if s.method == "GET"]) == 2  # the server's clock, then the WebSocket
    api_paths = [s.path.split("?")[0] for s in proxy.to(api.base_url)]
    assert "/cgi-bin/gettoken" in api_paths and "/cgi-bin/agent/get" in api_paths
    assert len([p for p in api_paths if p.startswith("/cgi-bin/")]) == len(api.calls)


async def test_a_wrong_secret_is_red_with_the_errcode(tmp_path: Path, ws: FakeOpenWs) -> None:
    status, report, err = await check(env_for(tmp_path, ws, DUBAN_WECOM_BOT_SECRET="wrong"))
    assert status != 0 and not report["ok"]
    ok, message = steps(report)["openws.subscribe"]
    assert not ok and "鉴权失败" in message and "errcode 600041" in message and "DUBAN_WECOM_BOT_SECRET" in message
    assert "未通过" in err


async def test_an_unreachable_host_is_red(tmp_path: Path, ws: FakeOpenWs) -> None:
    status, report, _ = await check(env_for(tmp_path, ws, DUBAN_WECOM_BOT_WS_URL=f"ws://127.0.0.1:{closed_port()}/"))
    assert status != 0
    ok, message = steps(report)["openws.connect"]
    assert not ok and "连不上 127.0.0.1" in message and "连接被拒绝" in message
    assert "openws.subscribe" not in steps(report)  # nothing further is tried on a closed way


async def test_a_name_that_does_not_resolve_is_red(tmp_path: Path, ws: FakeOpenWs) -> None:
    status, report, _ = await check(env_for(tmp_path, ws, DUBAN_WECOM_BOT_WS_URL="wss://openws.example.invalid"))
    assert status != 0
    ok, message = steps(report)["openws.dns"]
    assert not ok and "无法解析域名 openws.example.invalid" in message


async def test_a_refusing_proxy_is_red(tmp_path: Path, ws: FakeOpenWs) -> None:
    async with CountingProxy(refuse=403) as proxy:
        status, report, _ = await check(env_for(tmp_path, ws, HTTPS_PROXY=proxy.url, HTTP_PROXY=proxy.url))
    assert status != 0
    ok, message = steps(report)["openws.proxy"]
    assert not ok and "拒绝了到 127.0.0.1" in message and "HTTP 403" in message


async def test_a_clock_an_hour_off_is_red(tmp_path: Path, ws: FakeOpenWs) -> None:
    ws.clock_offset = 3600.0  # the server is an hour ahead: this machine is an hour slow
    status, report, _ = await check(env_for(tmp_path, ws))
    assert status != 0
    ok, message = steps(report)["clock"]
    assert not ok and "慢约 60 分钟" in message and "NTP" in message
    assert steps(report)["openws.subscribe"][0]  # the rest still works


async def test_text_report_for_people(tmp_path: Path, ws: FakeOpenWs) -> None:
    env = env_for(tmp_path, ws)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "wecom", "check", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 0 and text.startswith("企业微信连接检查：") and "[通过]" in text and "[失败]" not in text


async def test_a_running_duban_is_not_displaced_by_the_check(tmp_path: Path, ws: FakeOpenWs) -> None:
    app = await App.create(Settings(state_dir=tmp_path, today=TODAY, _env_file=None))  # type: ignore[call-arg]
    try:
        await app.store.leases.take(f"wecom-bot:{BOT_ID}", "office-pc:4242:abc", app.clock.real_utcnow(),
                                    dt.timedelta(minutes=5))
    finally:
        await app.close()
    status, report, _ = await check(env_for(tmp_path, ws))
    assert status == 0
    assert "office-pc:4242:abc" in steps(report)["openws.subscribe"][1] and ws.subscribes == []
