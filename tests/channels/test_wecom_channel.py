"""WeCom conversations through `duban run`'s startup path: encrypted callbacks in, the fake WeCom API out."""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from conftest import make_settings
from fakes.wecom_api import FakeWeCom
from yarl import URL

from bot.app import App
from bot.channels.wecom.channel import decode_callback
from bot.channels.wecom.crypto import WeComCrypto, build_encrypted_xml
from bot.channels.wecom.delivery import Limiter
from bot.cli.wecom import register
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, Choice, Message, OutFile, Push, Reply
from bot.reports.digest import digest_text
from bot.runner import Runtime

CORP = "wwduban0000000001"
SECRET = "duban-app-secret"
TOKEN = "dubanToken123"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP)
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-body" * 300
PNG = b"\x89PNG\r\n\x1a\n" + b"png-body" * 100

# Set A of the WeCom doc 加解密方案说明
A_TOKEN, A_KEY, A_CORP = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
A_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
A_GET = {"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589",
         "nonce": "263014780"}

_ids = itertools.count(7_000_000_000_000_000_001)


def wecom_settings(tmp_path: Path, db_url: str, fake: FakeWeCom, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "wecom_corp_id": CORP, "wecom_agent_id": 1000002, "wecom_secret": SECRET, "wecom_token": TOKEN,
        "wecom_aes_key": AES_KEY, "wecom_api_url": fake.base_url, "http_port": 0, "wecom_replay_window_s": 0,
        "scheduler": False}
    values.update(overrides)
    return values


@asynccontextmanager
async def running_app(tmp_path: Path, db_url: str, clock: Clock, fake: FakeWeCom,
                      **overrides: object) -> AsyncIterator[tuple[App, Runtime]]:
    app = await App.create(make_settings(tmp_path, db_url, **wecom_settings(tmp_path, db_url, fake, **overrides)),
                           clock)
    try:
        async with Runtime(app) as rt:
            yield app, rt
    finally:
        await app.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(corp_id=CORP, secret=SECRET) as server:
        yield server


@pytest.fixture
async def running(tmp_path: Path, db_url: str, clock: Clock, fake: FakeWeCom) -> AsyncIterator[tuple[App, Runtime]]:
    async with running_app(tmp_path, db_url, clock, fake) as pair:
        yield pair


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def message_xml(fields: dict[str, str]) -> str:
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


def text_msg(user: str, content: str, msg_id: int | None = None) -> dict[str, str]:
    return {"ToUserName": CORP, "FromUserName": user, "CreateTime": str(int(time.time())), "MsgType": "text",
            "Content": content, "MsgId": str(msg_id or next(_ids)), "AgentID": "1000002"}


def encrypted(fields: dict[str, str], *, crypto: WeComCrypto = CRYPTO, ts: str = "1700000000",
              nonce: str = "1372623149") -> tuple[dict[str, str], bytes]:
    enc, sig = crypto.encrypt(message_xml(fields), nonce, ts)
    return {"msg_signature": sig, "timestamp": ts, "nonce": nonce}, build_encrypted_xml(enc, sig, ts, nonce, CORP,
                                                                                          "1000002")


async def post(http: aiohttp.ClientSession, rt: Runtime, query: dict[str, str], body: bytes) -> int:
    async with http.post(f"{rt.http_url}/wecom/callback", params=query, data=body) as resp:
        assert await resp.read() == b""
        return resp.status


async def say(http: aiohttp.ClientSession, rt: Runtime, fake: FakeWeCom, user: str, text: str) -> str:
    """Send one encrypted text and return the text of the next message/send."""
    before = len(fake.sent)
    assert await post(http, rt, *encrypted(text_msg(user, text))) == 200
    sent = await fake.wait_sent(before + 1)
    return "\n".join(str(m["text"]["content"]) for m in sent[before:] if m["msgtype"] == "text")


async def bind(app: App, http: aiohttp.ClientSession, rt: Runtime, fake: FakeWeCom, user: str, unit: str) -> None:
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7)
    assert "绑定成功" in await say(http, rt, fake, user, f"/bind {code}")


async def sent_with(fake: FakeWeCom, needle: str) -> list[str]:
    """Wait until a sent text contains needle; return every sent text."""

    async def found() -> bool:
        return any(needle in texts for texts in sent_texts(fake))

    await eventually(found)
    return sent_texts(fake)


def sent_texts(fake: FakeWeCom) -> list[str]:
    return [str(m["text"]["content"]) for m in fake.sent if m["msgtype"] == "text"]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll a condition on state outside the event's reach (the database, the fake's records)."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


# ---- callback security --------------------------------------------------------------------------

async def test_url_verification_with_official_vector(tmp_path: Path, db_url: str, clock: Clock, fake: FakeWeCom,
                                                     http: aiohttp.ClientSession) -> None:
    async with running_app(tmp_path, db_url, clock, fake, wecom_token=A_TOKEN, wecom_aes_key=A_KEY,
                           wecom_corp_id=A_CORP) as (_, rt):
        async with http.get(f"{rt.http_url}/wecom/callback", params={**A_GET, "echostr": A_ECHOSTR}) as resp:
            assert resp.status == 200
            assert await resp.text() == "1616140317555161061"
        # a proxy or a hand-made request may leave '+' unescaped, which decodes to a space
        raw = "&".join(f"{k}={v}" for k, v in {**A_GET, "echostr": A_ECHOSTR}.items())
        assert "+" in raw
        async with http.get(URL(f"{rt.http_url}/wecom/callback?{raw}", encoded=True)) as resp:
            assert resp.status == 200
            assert await resp.text() == "1616140317555161061"
        async with http.get(f"{rt.http_url}/wecom/callback",
                            params={**A_GET, "msg_signature": "0" * 40, "echostr": A_ECHOSTR}) as resp:
            assert resp.status == 403


async def test_tampered_signature_is_refused_and_stores_nothing(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                http: aiohttp.ClientSession) -> None:
    app, rt = running
    query, body = encrypted(text_msg("intruder", "我单位有哪些任务"))
    assert await post(http, rt, {**query, "msg_signature": "f" * 40}, body) == 403
    assert await post(http, rt, {**query, "nonce": "other"}, body) == 403
    assert await post(http, rt, query, body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[A")) == 403
    await asyncio.sleep(0.1)
    assert await app.store.people.get("wecom:intruder") is None
    assert fake.sent == []


async def test_wrong_receiveid_is_refused(running: tuple[App, Runtime], fake: FakeWeCom,
                                          http: aiohttp.ClientSession) -> None:
    app, rt = running
    other_corp = WeComCrypto(TOKEN, AES_KEY, "wwsomeothercorp01")
    assert await post(http, rt, *encrypted(text_msg("stranger", "/help"), crypto=other_corp)) == 403
    await asyncio.sleep(0.1)
    assert await app.store.people.get("wecom:stranger") is None


async def test_malformed_bodies_are_refused(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    _, rt = running
    query, _ = encrypted(text_msg("x", "hi"))
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    for body in (b"", b"not xml", b"<xml><Encrypt>", bomb, b"<xml>" + b"a" * 300_000 + b"</xml>"):
        assert await post(http, rt, query, body) == 403
    # a genuine envelope whose decrypted content lacks a sender
    assert await post(http, rt, *encrypted({"MsgType": "text", "Content": "hi"})) == 403


async def test_stale_timestamp_is_refused_when_replay_window_is_set(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                    http: aiohttp.ClientSession) -> None:
    app, rt = running
    app.settings.wecom_replay_window_s = 300
    now = int(time.time())
    assert await post(http, rt, *encrypted(text_msg("late", "/help"), ts=str(now - 3600))) == 403
    assert await post(http, rt, *encrypted(text_msg("late", "/help"), ts="not-a-number")) == 403
    assert await post(http, rt, *encrypted(text_msg("late", "/help"), ts=str(now - 10))) == 200
    [answer] = await fake.wait_sent(1)
    assert answer["touser"] == "late"


async def test_pinned_demo_date_does_not_make_current_callbacks_stale(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                       http: aiohttp.ClientSession) -> None:
    app, rt = running
    app.settings.wecom_replay_window_s = 300
    assert app.clock.today().year == 2023  # DUBAN_TODAY pins the demo's date ...
    assert await post(http, rt, *encrypted(text_msg("now", "/help"), ts=str(int(time.time())))) == 200
    [answer] = await fake.wait_sent(1)  # ... but a callback signed just now is fresh
    assert answer["touser"] == "now"
    pinned = str(int(app.clock.utcnow().timestamp()))
    assert await post(http, rt, *encrypted(text_msg("now", "/help"), ts=pinned)) == 403


# ---- messages in and out ------------------------------------------------------------------------

async def test_bound_liaison_asks_for_unit_tasks(running: tuple[App, Runtime], fake: FakeWeCom,
                                                 http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, http, rt, fake, "zhangsan", "区教育局")
    answer = await say(http, rt, fake, "zhangsan", "我单位有哪些任务")
    assert "区教育局" in answer and "任务40" in answer
    last = fake.sent[-1]
    assert last["touser"] == "zhangsan" and last["agentid"] == 1000002 and last["msgtype"] == "text"
    assert all(len(str(m["text"]["content"]).encode()) <= 2048 for m in fake.sent if m["msgtype"] == "text")


async def test_duplicate_msgid_is_handled_once(running: tuple[App, Runtime], fake: FakeWeCom,
                                               http: aiohttp.ClientSession) -> None:
    _, rt = running
    query, body = encrypted(text_msg("wangwu", "/help", msg_id=42))
    assert await post(http, rt, query, body) == 200
    assert await post(http, rt, query, body) == 200  # WeCom's retry after a slow answer
    assert await post(http, rt, *encrypted(text_msg("wangwu", "/units"))) == 200
    texts = await sent_with(fake, "括号内为可用的简称")  # handled after both, in arrival order
    assert len([t for t in texts if "我是督办助手" in t]) == 1


async def test_image_becomes_evidence_after_choosing_a_number(running: tuple[App, Runtime], fake: FakeWeCom,
                                                              http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, http, rt, fake, "lisi", "区水务局")
    media_id = fake.add_media("计划用水通知单.jpg", JPEG, "image/jpeg")
    image = {"ToUserName": CORP, "FromUserName": "lisi", "CreateTime": "1700000100", "MsgType": "image",
             "PicUrl": "http://example.invalid/p.jpg", "MediaId": media_id, "MsgId": str(next(_ids)),
             "AgentID": "1000002"}
    before = len(fake.sent)
    assert await post(http, rt, *encrypted(image)) == 200
    question = str((await fake.wait_sent(before + 1))[-1]["text"]["content"])
    assert "请回复序号选择" in question
    lines = dict(re.findall(r"^(\d+)\. (.+)$", question, re.M))
    assert lines and "取消" in lines[str(len(lines))]
    task_no, item_no = map(int, re.match(r"任务(\d+)-(\d+)", lines["1"]).groups())  # type: ignore[union-attr]
    answer = await say(http, rt, fake, "lisi", "１")  # a full-width digit counts too
    assert f"归入任务{task_no} 材料{item_no}" in answer
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, task_no)
    assert f.sha256 == hashlib.sha256(JPEG).hexdigest() and f.file_name == "计划用水通知单.jpg"
    assert app.store.files.path_for(f.sha256).read_bytes() == JPEG
    assert list(app.scratch_dir.iterdir()) == []  # the download was cleaned up
    # once other text arrives, a bare number is a task number again
    await say(http, rt, fake, "lisi", "/bind")
    assert "任务1（牵头单位：区水务局）" in await say(http, rt, fake, "lisi", "1")


async def test_number_outside_open_choices_still_means_a_task(running: tuple[App, Runtime], fake: FakeWeCom,
                                                              http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, http, rt, fake, "lisi", "区水务局")
    sent = len(fake.sent)
    await app.outbox.push(Push(ChatRef("wecom", "lisi"), Reply("请选择", choices=(Choice("甲", "t:0"),)),
                               dedupe_key="choice-2"))
    await fake.wait_sent(sent + 1)
    assert "任务40（牵头单位：区教育局）" in await say(http, rt, fake, "lisi", "40")


async def test_task_reply_carries_an_upload_textcard(running: tuple[App, Runtime], fake: FakeWeCom,
                                                     http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, http, rt, fake, "lisi", "区水务局")
    before = len(fake.sent)
    assert await post(http, rt, *encrypted(text_msg("lisi", "任务12"))) == 200
    sent = await fake.wait_sent(before + 2)
    card = next(m for m in sent[before:] if m["msgtype"] == "textcard")["textcard"]
    assert card["title"] == "上传佐证材料" and card["btntxt"] == "上传"
    assert card["url"].startswith(f"{rt.http_url}/upload/")
    async with http.get(card["url"]) as resp:
        assert resp.status == 200 and "任务12" in await resp.text()


async def test_enter_agent_greets_once_a_day_and_subscribe_greets(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                  http: aiohttp.ClientSession) -> None:
    _, rt = running

    def event(name: str, at: int) -> dict[str, str]:
        return {"ToUserName": CORP, "FromUserName": "newbie", "CreateTime": str(at), "MsgType": "event",
                "Event": name, "EventKey": "", "AgentID": "1000002"}

    assert await post(http, rt, *encrypted(event("enter_agent", 1700000000))) == 200
    assert await post(http, rt, *encrypted(event("enter_agent", 1700000500))) == 200
    assert await post(http, rt, *encrypted(event("LOCATION", 1700000600))) == 200
    assert await post(http, rt, *encrypted(event("subscribe", 1700000700))) == 200
    assert await post(http, rt, *encrypted(text_msg("newbie", "/units"))) == 200
    texts = await sent_with(fake, "括号内为可用的简称")  # handled after the events: one user's messages keep their order
    greetings = [t for t in texts if "我是督办助手" in t]
    assert len(greetings) == 2
    assert "/bind 邀请码" in greetings[0]


async def test_voice_gets_a_chinese_hint(running: tuple[App, Runtime], fake: FakeWeCom,
                                         http: aiohttp.ClientSession) -> None:
    _, rt = running
    voice = {"ToUserName": CORP, "FromUserName": "zhaoliu", "CreateTime": "1700000000", "MsgType": "voice",
             "MediaId": "m1", "Format": "amr", "MsgId": str(next(_ids)), "AgentID": "1000002"}
    assert await post(http, rt, *encrypted(voice)) == 200
    [answer] = await fake.wait_sent(1)
    assert "上传页面" in str(answer["text"]["content"])


async def test_expired_media_is_asked_again(running: tuple[App, Runtime], fake: FakeWeCom,
                                            http: aiohttp.ClientSession) -> None:
    _, rt = running
    image = {"ToUserName": CORP, "FromUserName": "zhaoliu", "CreateTime": "1700000000", "MsgType": "image",
             "MediaId": "gone-after-3-days", "MsgId": str(next(_ids)), "AgentID": "1000002"}
    assert await post(http, rt, *encrypted(image)) == 200
    [answer] = await fake.wait_sent(1)
    assert "没能取到这个图片" in str(answer["text"]["content"])


async def test_expired_token_is_renewed_and_the_answer_still_arrives(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                     http: aiohttp.ClientSession) -> None:
    _, rt = running
    await say(http, rt, fake, "wangwu", "/bind")
    fake.expire_tokens()
    assert "邀请码" in await say(http, rt, fake, "wangwu", "/bind")
    assert len(fake.tokens) == 2
    assert fake.sent[-1]["access_token"] == fake.tokens[-1]


async def test_rate_limited_reply_is_delivered_later_by_the_outbox(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                   http: aiohttp.ClientSession, clock: Clock) -> None:
    app, rt = running
    fake.fail_next("cgi-bin/message/send", 45033, times=2)  # the direct answer, then the outbox's first try
    assert await post(http, rt, *encrypted(text_msg("sunqi", "/help"))) == 200

    async def deferred() -> bool:
        return len(fake.calls_to("cgi-bin/message/send")) >= 2 and await app.store.outbox.next_due() is not None

    await eventually(deferred)
    assert fake.sent == []
    clock.advance(dt.timedelta(minutes=2))
    await app.outbox.drain()
    [answer] = await fake.wait_sent(1)
    assert answer["touser"] == "sunqi" and "我是督办助手" in str(answer["text"]["content"])


async def test_push_to_unknown_user_is_recorded_unreachable(running: tuple[App, Runtime], fake: FakeWeCom) -> None:
    app, _ = running
    fake.users = {"someone-else"}
    await app.store.people.identify("wecom", "leftcompany", name="", chat_id="leftcompany", now=app.clock.utcnow())
    await app.outbox.push(Push(ChatRef("wecom", "leftcompany"), Reply("催办提醒"), dedupe_key="urge-1"))

    async def recorded() -> bool:
        return any(p.user_id == "leftcompany" for p in await app.store.people.unreachable())

    await eventually(recorded)
    [person] = await app.store.people.unreachable()
    assert "81013" in person.unreachable_reason


async def test_choices_pushed_from_the_outbox_are_numbered(running: tuple[App, Runtime], fake: FakeWeCom) -> None:
    app, _ = running
    await app.outbox.push(Push(ChatRef("wecom", "zhouba"), Reply("请选择", choices=(Choice("甲", "t:0"),
                                                                                       Choice("乙", "t:1"))),
                               dedupe_key="choice-1"))
    [msg] = await fake.wait_sent(1)
    assert str(msg["text"]["content"]).endswith("请回复序号选择：\n1. 甲\n2. 乙")


async def test_push_wecom_refuses_for_good_is_failed_at_once(running: tuple[App, Runtime], fake: FakeWeCom,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    app, _ = running
    fake.fail_next("cgi-bin/message/send", 45002, "content size out of limit", times=8)  # sending again won't help
    await app.outbox.push(Push(ChatRef("wecom", "zhaoliu"), Reply("【督办提醒】任务40将于10月31日到期。"),
                               dedupe_key="too-long"))

    async def settled() -> bool:
        return [r["status"] for r in await app.store.outbox.rows()] == ["failed"]

    with caplog.at_level(logging.ERROR, logger="bot.outbox"):
        await eventually(settled)
    [row] = await app.store.outbox.rows()
    assert row["attempts"] == 1 and "45002" in row["error"] and "消息内容超过长度限制" in row["error"]
    assert len(fake.calls_to("cgi-bin/message/send")) == 1
    assert "refused for good" in caplog.text


async def test_reply_whose_textcard_fails_sends_only_the_textcard_again(running: tuple[App, Runtime],
                                                                         fake: FakeWeCom,
                                                                         http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, http, rt, fake, "lisi", "区水务局")
    before = len(fake.sent)
    fake.fail_next("cgi-bin/message/send", 45033, after=1)  # the task's text goes out, its upload card does not
    assert await post(http, rt, *encrypted(text_msg("lisi", "任务12"))) == 200
    sent = (await fake.wait_sent(before + 2))[before:]
    await app.outbox.until(lambda: _all_sent(app))
    assert [m["msgtype"] for m in fake.sent[before:]] == ["text", "textcard"]  # the text was not sent twice
    assert "任务12" in sent[0]["text"]["content"] and sent[1]["textcard"]["title"] == "上传佐证材料"
    [deferred] = await app.store.outbox.rows()
    assert deferred["payload"]["text"] == "" and deferred["payload"]["link"][0] == "上传佐证材料"


async def _all_sent(app: App) -> bool:
    return all(r["status"] == "sent" for r in await app.store.outbox.rows())


# ---- group robots -------------------------------------------------------------------------------

async def test_digest_reaches_a_registered_robot_as_markdown(running: tuple[App, Runtime], fake: FakeWeCom) -> None:
    app, _ = running
    await app.store.chats.add_robot("节水工作群", "robot-key-0001", by="test", now=app.clock.utcnow())
    plan = await app.store.plans.plan()
    text = digest_text(plan.title, await app.store.plans.tasks(plan.id), app.clock.today())
    chat = ChatRef("wecom-robot", "节水工作群", ChatKind.GROUP)
    chart = app.settings.state_dir / "chart.png"
    chart.write_bytes(PNG)
    await app.outbox.push(Push(chat, Reply(text), dedupe_key="digest-1"))
    await app.outbox.push(Push(chat, Reply("各单位完成情况图", file=OutFile("进度图.png", chart, is_image=True)),
                               dedupe_key="digest-1-chart"))
    sent = await fake.wait_robot_sent(3)
    assert all(key == "robot-key-0001" for key, _ in sent)
    assert sent[0][1]["msgtype"] == "markdown" and plan.title in sent[0][1]["markdown"]["content"]
    assert sent[2][1]["msgtype"] == "image"
    assert sent[2][1]["image"]["md5"] == hashlib.md5(PNG).hexdigest()


async def test_long_robot_markdown_is_split_within_4096_bytes(running: tuple[App, Runtime], fake: FakeWeCom) -> None:
    app, _ = running
    await app.store.chats.add_robot("大群", "robot-key-0002", by="test", now=app.clock.utcnow())
    text = "\n".join(f"第{n}行：各单位节水工作进展情况汇总" for n in range(300))
    await app.outbox.push(Push(ChatRef("wecom-robot", "大群", ChatKind.GROUP), Reply(text), dedupe_key="long"))
    await fake.wait_robot_sent(2)
    await asyncio.sleep(0.1)
    parts = [str(body["markdown"]["content"]) for _, body in fake.robot_sent]
    assert all(len(p.encode()) <= 4096 for p in parts)
    assert "\n".join(parts) == text


async def test_unknown_robot_is_unreachable_and_rate_limit_retries(running: tuple[App, Runtime], fake: FakeWeCom,
                                                                   clock: Clock) -> None:
    app, _ = running
    await app.outbox.push(Push(ChatRef("wecom-robot", "没有这个群", ChatKind.GROUP), Reply("x"), dedupe_key="r0"))
    await app.store.chats.add_robot("忙碌群", "robot-key-0003", by="test", now=app.clock.utcnow())
    fake.fail_next("cgi-bin/webhook/send", 45009)
    await app.outbox.push(Push(ChatRef("wecom-robot", "忙碌群", ChatKind.GROUP), Reply("简报"), dedupe_key="r1"))

    async def retried_later() -> bool:
        return len(fake.calls_to("cgi-bin/webhook/send")) == 1 and await app.store.outbox.next_due() is not None

    await eventually(retried_later)
    clock.advance(dt.timedelta(minutes=2))
    await app.outbox.drain()
    [(key, body)] = await fake.wait_robot_sent(1)
    assert key == "robot-key-0003" and body["markdown"]["content"] == "简报"


async def test_robot_limiter_waits_instead_of_dropping() -> None:
    limiter = Limiter(2, 0.3, time.monotonic)
    t0 = time.monotonic()
    for _ in range(3):
        await limiter.wait()
    assert time.monotonic() - t0 >= 0.29


async def test_robot_registered_in_chat_by_a_coordinator(running: tuple[App, Runtime], fake: FakeWeCom) -> None:
    app, _ = running

    async def say_robot(user: str, text: str) -> str:
        msg = Message(channel="wecom", user_id=user, chat=ChatRef("wecom", user), text=text)
        return "\n".join(r.text for r in await app.conversation.handle(msg))

    assert "/bind" in await say_robot("lisi", "/robot 节水群 abcdef0123456789")  # a stranger hears how to bind
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7a1b-4bc4-97a0-0ec2a1fa5aaa"
    assert "已登记群机器人「节水群」" in await say_robot("jieshuiban", f"/robot 节水群 {url}")
    assert await app.store.chats.robot_key("节水群") == "693a91f6-7a1b-4bc4-97a0-0ec2a1fa5aaa"
    assert "KEY 不对" in await say_robot("jieshuiban", "/robot 节水群 bad!key")
    [(key, body)] = await fake.wait_robot_sent(1)
    assert key == "693a91f6-7a1b-4bc4-97a0-0ec2a1fa5aaa" and "已接入本群" in body["markdown"]["content"]


async def test_cli_adds_and_lists_robots(running: tuple[App, Runtime], capsys: pytest.CaptureFixture[str]) -> None:
    app, _ = running
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register(sub, lambda name, func, help: sub.add_parser(name))
    args = parser.parse_args(["wecom", "robot", "add", "节水工作群", "abcd1234-0000-1111-2222-333344445555"])
    await args.func(app, args)
    args = parser.parse_args(["wecom", "robot", "list"])
    await args.func(app, args)
    out = capsys.readouterr().out
    assert "已登记群机器人「节水工作群」" in out and "节水工作群\tabcd…5555" in out


async def test_message_acknowledged_before_a_crash_is_handled_on_restart(tmp_path: Path, db_url: str, clock: Clock,
                                                                         fake: FakeWeCom) -> None:
    """WeCom never resends an acknowledged callback: one kept but not handled is answered on the next start."""
    app = await App.create(make_settings(tmp_path, db_url, **wecom_settings(tmp_path, db_url, fake)), clock)
    try:
        # What the callback stored before answering 200, in a process that then died.
        envelope = decode_callback(text_msg("zhaoliu", "/help", msg_id=99))
        assert envelope is not None and await app.store.intake.keep([envelope], clock.utcnow())
        async with Runtime(app):
            texts = await sent_with(fake, "我是督办助手")
            assert fake.sent[0]["touser"] == "zhaoliu" and len(texts) == 1

            async def settled() -> bool:
                return await app.store.intake.unhandled("wecom") == []

            await eventually(settled)
    finally:
        await app.close()


async def test_review_sends_the_tasks_files_to_the_coordinator(running: tuple[App, Runtime], fake: FakeWeCom,
                                                               http: aiohttp.ClientSession, tmp_path: Path) -> None:
    from conftest import Chat

    app, rt = running
    liaison = Chat(app, tmp_path)  # the unit works in the console; the coordinator reviews on WeCom
    await liaison.bind("wei", "区卫生健康局")
    pdf = b"%PDF-1.4 contract " * 50
    await liaison.say("wei", "43-1", files=[("节水改造合同.pdf", pdf)])
    assert "待审核" in await liaison.text("wei", "/done 43")
    assert await post(http, rt, *encrypted(text_msg("jieshuiban", "/review 43"))) == 200

    async def file_sent() -> bool:
        return any(m["msgtype"] == "file" for m in fake.sent)

    await eventually(file_sent)
    [file] = [m for m in fake.sent if m["msgtype"] == "file"]
    assert file["touser"] == "jieshuiban"
    assert fake.uploaded[str(file["file"]["media_id"])] == ("节水改造合同.pdf", pdf)  # type: ignore[index]
    texts = await sent_with(fake, "请回复序号选择")
    # every file has its own 退回 (numbered first, with its file); 审核通过 follows them
    [approve] = [line.split(".")[0] for line in texts[-1].splitlines() if line.endswith(". 审核通过")]
    assert approve == "2"
    assert "已审核通过" in await say(http, rt, fake, "jieshuiban", approve)
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 43)).status.label == "已完成"
