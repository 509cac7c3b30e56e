"""Behind an office proxy: every outbound connection of `duban run` goes through it, and NO_PROXY exempts hosts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import make_settings
from fakes.http_proxy import CountingProxy
from fakes.telegram_api import FakeTelegram
from fakes.wecom_api import FakeWeCom
from fakes.wecom_openws import BOT_ID, SECRET, FakeOpenWs

from bot.app import App
from bot.channels.proxy import proxy_for
from bot.config import Settings
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, Push, Reply
from bot.runner import Runtime

CORP, APP_SECRET = "wwduban0000000001", "duban-app-secret"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
DEAD = "http://127.0.0.1:9"  # nothing listens there: a connection sent to it fails


@dataclass
class Fakes:
    """The far side of every connection `duban run` makes: openws, the WeCom API and robots, Telegram."""

    ws: FakeOpenWs
    api: FakeWeCom
    tg: FakeTelegram


@asynccontextmanager
async def fakes() -> AsyncIterator[Fakes]:
    ws = FakeOpenWs()
    await ws.start()
    try:
        async with FakeWeCom(corp_id=CORP, secret=APP_SECRET) as api, FakeTelegram() as tg:
            yield Fakes(ws, api, tg)
    finally:
        await ws.close()


def every_channel(far: Fakes) -> dict[str, object]:
    return {"wecom_corp_id": CORP, "wecom_agent_id": 1000002, "wecom_secret": APP_SECRET, "wecom_token": "t0ken",
            "wecom_aes_key": "a" * 43, "wecom_api_url": far.api.base_url, "wecom_bot_id": BOT_ID,
            "wecom_bot_secret": SECRET, "wecom_bot_ws_url": far.ws.ws_url, "telegram_token": far.tg.token,
            "telegram_api_url": far.tg.root, "http_port": 0, "scheduler": False}


async def use_every_connection(app: App, far: Fakes) -> None:
    """Make duban open each kind of connection: openws, a file download, the API, a robot, Telegram."""
    await far.ws.until(lambda: BOT_ID in far.ws.conns)
    far.ws.send_file("lilaoshi", PDF, "创建材料.pdf")
    await far.ws.wait_for()
    await app.outbox.push(Push(ChatRef("wecom", "zhangsan"), Reply("【督办提醒】任务40将于10月31日到期。")))
    await far.api.wait_sent(1)
    await app.store.chats.add_robot("节水工作群", "robot-key-1", by="test", now=app.clock.utcnow())
    await app.outbox.push(Push(ChatRef("wecom-robot", "节水工作群", ChatKind.GROUP), Reply("进度简报")))
    await far.api.wait_robot_sent(1)
    far.tg.send_text(1001, "/help")
    await far.tg.wait_for()


async def run_everything(settings: Settings, clock: Clock, far: Fakes) -> None:
    """Run `duban run` with every channel configured and make it open each kind of connection."""
    app = await App.create(settings, clock)
    try:
        async with Runtime(app):
            await use_every_connection(app, far)
    finally:
        await app.close()


@pytest.mark.parametrize("proxy_settings", [
    pytest.param(lambda proxy: {"http_proxy": proxy}, id="HTTP_PROXY"),
    pytest.param(lambda proxy: {"http_proxy": DEAD, "https_proxy": DEAD, "proxy": proxy}, id="DUBAN_PROXY"),
])
async def test_every_outbound_connection_goes_through_the_proxy(tmp_path: Path, db_url: str, clock: Clock,
                                                                proxy_settings: Callable[[str], dict[str, str]]) -> None:
    async with CountingProxy() as proxy, fakes() as far:
        await run_everything(make_settings(tmp_path, db_url, **every_channel(far), **proxy_settings(proxy.url)),
                             clock, far)
    to_ws = proxy.to(far.ws.root)
    assert [s.method for s in to_ws if s.path == "/"] == ["GET"] * len(far.ws.subscribes)  # the WebSocket
    assert len([s for s in to_ws if s.path.startswith("/files/")]) >= len(far.ws.downloads) == 1
    api_paths = [s.path.split("?")[0] for s in proxy.to(far.api.base_url)]
    assert {"/cgi-bin/gettoken", "/cgi-bin/message/send", "/cgi-bin/webhook/send"} <= set(api_paths)
    assert len(api_paths) >= len(far.api.calls)  # no call reached the API without the proxy
    tg_paths = [s.path for s in proxy.to(far.tg.root)]
    assert any(p.endswith("/getMe") for p in tg_paths) and any(p.endswith("/sendMessage") for p in tg_paths)
    assert len(tg_paths) >= len(far.tg.calls)


async def test_no_proxy_hosts_are_reached_directly(tmp_path: Path, db_url: str, clock: Clock) -> None:
    async with CountingProxy() as proxy, fakes() as far:
        await run_everything(make_settings(tmp_path, db_url, **every_channel(far), http_proxy=proxy.url,
                                           https_proxy=proxy.url, no_proxy="localhost,127.0.0.0/8"), clock, far)
    assert proxy.seen == []


def settings_with(**proxies: str) -> Settings:
    values = {"proxy": "", "https_proxy": "", "http_proxy": "", "no_proxy": "", **proxies}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(("url", "proxies", "expected"), [
    ("wss://openws.work.weixin.qq.com", {"https_proxy": "http://10.1.1.1:3128"}, "http://10.1.1.1:3128"),
    ("wss://openws.work.weixin.qq.com", {"http_proxy": "http://10.1.1.1:3128"}, None),  # https/wss: HTTPS_PROXY
    ("ws://10.8.0.5:8080/", {"http_proxy": "http://10.1.1.1:3128"}, "http://10.1.1.1:3128"),
    ("https://qyapi.weixin.qq.com/cgi-bin/gettoken", {"https_proxy": "10.1.1.1:3128"}, "http://10.1.1.1:3128"),
    ("https://api.telegram.org", {"https_proxy": "http://a:3128", "proxy": "http://duban:8080"}, "http://duban:8080"),
    ("https://qyapi.weixin.qq.com", {"proxy": "http://p:1", "no_proxy": "weixin.qq.com"}, None),  # and subdomains
    ("https://qyapi.weixin.qq.com", {"proxy": "http://p:1", "no_proxy": ".qq.com"}, None),
    ("https://qyapi.weixin.qq.com", {"proxy": "http://p:1", "no_proxy": "*.qq.com"}, None),
    ("https://notqq.com", {"proxy": "http://p:1", "no_proxy": "qq.com"}, "http://p:1"),  # not a subdomain
    ("http://10.8.0.5/", {"proxy": "http://p:1", "no_proxy": "10.0.0.0/8"}, None),
    ("http://10.8.0.5:8081/", {"proxy": "http://p:1", "no_proxy": "10.8.0.5:8080"}, "http://p:1"),  # other port
    ("https://qyapi.weixin.qq.com", {"proxy": "http://p:1", "no_proxy": "qyapi.weixin.qq.com:443"}, None),
    ("http://[::1]:8080/", {"proxy": "http://p:1", "no_proxy": "::1"}, None),
    ("https://qyapi.weixin.qq.com", {"proxy": "http://p:1", "no_proxy": "*"}, None),
])
def test_which_proxy_a_connection_takes(url: str, proxies: dict[str, str], expected: str | None) -> None:
    assert proxy_for(url, settings_with(**proxies)) == expected


def test_lower_case_proxy_variables_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("https_proxy", "http://lower:2")
    monkeypatch.setenv("NO_PROXY", "intranet.gov.cn")
    monkeypatch.delenv("no_proxy", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert proxy_for("https://qyapi.weixin.qq.com", settings) == "http://lower:2"
    assert proxy_for("https://oa.intranet.gov.cn", settings) is None
