"""One person per WeCom UserID: the self-built app and the 智能机器人 of one 企业 know the same people.

A coordinator configured as `wecom:…` is one on the bot too, a liaison bound on one channel is bound on the
other, every answer goes back on the channel the message came on, and pushes go where the person last wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from conftest import make_settings
from fakes.wecom_api import FakeWeCom
from fakes.wecom_openws import BOT_ID, SECRET, FakeOpenWs
from test_wecom_channel import CORP, encrypted, post, text_msg, wecom_settings
from test_wecom_channel import SECRET as APP_SECRET

from bot.app import App
from bot.core.clock import Clock
from bot.core.messages import Push, Reply
from bot.runner import Runtime

LIAISON, COORD = "lilaoshi", "jieshuiban"


@pytest.fixture
async def api() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(corp_id=CORP, secret=APP_SECRET) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def bot(ws: FakeOpenWs) -> dict[str, object]:
    return {"wecom_bot_id": BOT_ID, "wecom_bot_secret": SECRET, "wecom_bot_ws_url": ws.ws_url}


@asynccontextmanager
async def running(tmp_path: Path, db_url: str, clock: Clock, *, app_api: FakeWeCom | None = None,
                  bot_ws: FakeOpenWs | None = None, **overrides: object) -> AsyncIterator[tuple[App, Runtime]]:
    """Run `duban run` with the self-built app (app_api), the 智能机器人 (bot_ws), or both."""
    values: dict[str, object] = {"http_port": 0, "scheduler": False, "coordinators": f"wecom:{COORD}", **overrides}
    if app_api is not None:
        values = {**wecom_settings(tmp_path, db_url, app_api), **values}
    if bot_ws is not None:
        values = {**bot(bot_ws), **values}
    app = await App.create(make_settings(tmp_path, db_url, **values), clock)
    try:
        async with Runtime(app) as rt:
            if bot_ws is not None:
                await bot_ws.until(lambda: BOT_ID in bot_ws.conns)
            yield app, rt
    finally:
        await app.close()


async def on_bot(ws: FakeOpenWs, user: str, text: str) -> str:
    ws.send_text(user, text)
    return "\n".join(d.text for d in await ws.wait_for())


async def on_app(http: aiohttp.ClientSession, rt: Runtime, api: FakeWeCom, user: str, text: str) -> str:
    before = len(api.sent)
    assert await post(http, rt, *encrypted(text_msg(user, text))) == 200
    sent = await api.wait_sent(before + 1)
    return "\n".join(str(m["text"]["content"]) for m in sent[before:] if m["msgtype"] == "text")


async def test_a_coordinator_configured_as_wecom_is_a_coordinator_on_the_bot(tmp_path: Path, db_url: str,
                                                                           clock: Clock, ws: FakeOpenWs) -> None:
    async with running(tmp_path, db_url, clock, bot_ws=ws, coordinators=f"wecom:{COORD}"):
        answer = await on_bot(ws, COORD, "/liaisons")
    assert "还没有绑定联络员" in answer and "您还没有绑定单位" not in answer


async def test_a_liaison_bound_on_the_bot_is_bound_on_the_app_and_answered_there(
        tmp_path: Path, db_url: str, clock: Clock, api: FakeWeCom, ws: FakeOpenWs,
        http: aiohttp.ClientSession) -> None:
    async with running(tmp_path, db_url, clock, app_api=api, bot_ws=ws) as (app, rt):
        code = await app.store.people.create_invite("区教育局", by="test", now=app.clock.utcnow(), days=7)
        assert "绑定成功" in await on_bot(ws, LIAISON, f"/bind {code}")
        bot_deliveries = len(ws.deliveries)
        answer = await on_app(http, rt, api, LIAISON, "我单位有哪些任务")
        assert "区教育局" in answer and "任务40" in answer
        assert len(ws.deliveries) == bot_deliveries  # the answer went back on the app, where it was asked
        person = await app.store.people.get(f"wecom:{LIAISON}")
        assert person is not None and person.unit == "区教育局"
        assert await app.store.people.get(f"wecom-bot:{LIAISON}") == person  # the old key names the same person


async def test_pushes_go_to_the_channel_the_person_last_wrote_on(tmp_path: Path, db_url: str, clock: Clock,
                                                               api: FakeWeCom, ws: FakeOpenWs,
                                                               http: aiohttp.ClientSession) -> None:
    async with running(tmp_path, db_url, clock, app_api=api, bot_ws=ws) as (app, rt):
        code = await app.store.people.create_invite("区教育局", by="test", now=app.clock.utcnow(), days=7)
        assert "绑定成功" in await on_bot(ws, LIAISON, f"/bind {code}")
        assert "已向区教育局" in await on_app(http, rt, api, COORD, "/urge 教育局")
        [urge] = await ws.wait_for(lambda d: any(x.to == LIAISON for x in d))
        assert urge.via == "send" and "【督办提醒】" in urge.text
        await on_app(http, rt, api, LIAISON, "/help")  # now they write on the app
        clock.advance(dt.timedelta(minutes=1))
        before = len(api.sent)
        await on_app(http, rt, api, COORD, "/urge 教育局")
        sent = await api.wait_sent(before + 2)
        assert any(m["touser"] == LIAISON and "【督办提醒】" in str(m["text"]["content"]) for m in sent[before:])


async def test_a_push_for_the_bot_goes_through_the_app_when_only_the_app_runs(tmp_path: Path, db_url: str,
                                                                            clock: Clock, api: FakeWeCom) -> None:
    async with running(tmp_path, db_url, clock, app_api=api) as (app, _):
        person = await app.store.people.identify("wecom-bot", LIAISON, name="李老师", chat_id=LIAISON,
                                                 now=app.clock.utcnow())  # last wrote on the bot, before a move
        assert person.key == f"wecom:{LIAISON}" and person.chat.channel == "wecom-bot"
        await app.outbox.push(Push(person.chat, Reply("【督办提醒】任务40将于10月31日到期。"), dedupe_key="remind-1"))
        [sent] = await api.wait_sent(1)
    assert sent["touser"] == LIAISON and "任务40" in str(sent["text"]["content"])
