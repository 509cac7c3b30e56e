"""WeComApi and WeComRobot over real HTTP against the fake WeCom server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fakes.wecom_api import FakeWeCom

from bot.channels.pipeline import split_text, utf8_len
from bot.channels.wecom.api import (
    TOKEN_MARGIN,
    WeComApi,
    WeComApiError,
    WeComRobot,
    content_disposition_filename,
)
from bot.channels.wecom.errcodes import Verdict

AGENT_ID = 1000002


class StepClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(users={"zhangsan", "lisi"}, robot_keys={"robot-key"}) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def api(fake: FakeWeCom, session: aiohttp.ClientSession, clock: StepClock) -> WeComApi:
    return WeComApi(session, fake.corp_id, fake.secret, AGENT_ID, base_url=fake.base_url, clock=clock)


@pytest.fixture
def robot(fake: FakeWeCom, session: aiohttp.ClientSession) -> WeComRobot:
    return WeComRobot(session, "robot-key", base_url=fake.base_url)


async def test_token_is_fetched_once_for_several_sends(api: WeComApi, fake: FakeWeCom) -> None:
    for n in range(3):
        await api.send_text("zhangsan", f"第{n}条")
    assert len(fake.calls_to("cgi-bin/gettoken")) == 1
    assert {body["access_token"] for body in fake.sent} == {fake.tokens[0]}


async def test_concurrent_callers_share_one_token_fetch(api: WeComApi, fake: FakeWeCom) -> None:
    tokens = await asyncio.gather(*(api.access_token() for _ in range(10)))
    assert set(tokens) == {fake.tokens[0]}
    assert len(fake.calls_to("cgi-bin/gettoken")) == 1


async def test_token_is_renewed_before_it_expires(api: WeComApi, fake: FakeWeCom, clock: StepClock) -> None:
    first = await api.access_token()
    clock.now += fake.expires_in - TOKEN_MARGIN - 1
    assert await api.access_token() == first
    clock.now += 2
    assert await api.access_token() != first
    assert len(fake.tokens) == 2


async def test_expired_token_is_refreshed_and_the_call_retried(api: WeComApi, fake: FakeWeCom) -> None:
    await api.send_text("zhangsan", "一")
    fake.expire_tokens()
    result = await api.send_text("zhangsan", "二")
    assert result["errcode"] == 0
    assert len(fake.tokens) == 2
    assert [body["access_token"] for body in fake.sent] == fake.tokens
    assert len(fake.calls_to("cgi-bin/message/send")) == 3


async def test_invalid_token_errcode_40014_also_triggers_one_refresh(api: WeComApi, fake: FakeWeCom) -> None:
    await api.access_token()
    fake.fail_next("cgi-bin/message/send", 40014, "invalid access_token")
    await api.send_markdown("zhangsan", "**督办**")
    assert len(fake.tokens) == 2
    assert fake.sent[0]["markdown"] == {"content": "**督办**"}


async def test_token_error_is_retried_only_once(api: WeComApi, fake: FakeWeCom) -> None:
    fake.fail_next("cgi-bin/message/send", 42001, times=2)
    with pytest.raises(WeComApiError) as caught:
        await api.send_text("zhangsan", "x")
    assert caught.value.errcode == 42001
    assert len(fake.calls_to("cgi-bin/message/send")) == 2
    assert fake.sent == []


async def test_rate_limit_surfaces_as_error_without_retry(api: WeComApi, fake: FakeWeCom) -> None:
    fake.fail_next("cgi-bin/message/send", 45009, "api freq out of limit")
    with pytest.raises(WeComApiError) as caught:
        await api.send_text("zhangsan", "x")
    assert caught.value.verdict is Verdict.TRANSIENT
    assert caught.value.errcode == 45009
    assert caught.value.errmsg == "api freq out of limit"
    assert len(fake.calls_to("cgi-bin/message/send")) == 1


async def test_unknown_user_is_unreachable(api: WeComApi, fake: FakeWeCom) -> None:
    with pytest.raises(WeComApiError) as caught:
        await api.send_text("ghost", "x")
    assert caught.value.errcode == 81013
    assert caught.value.verdict is Verdict.UNREACHABLE


async def test_partly_unknown_recipients_are_reported_in_invaliduser(api: WeComApi, fake: FakeWeCom) -> None:
    result = await api.send_text("zhangsan|ghost", "x")
    assert result["invaliduser"] == "ghost"
    assert result["msgid"]


async def test_wrong_secret_is_refused(fake: FakeWeCom, session: aiohttp.ClientSession) -> None:
    api = WeComApi(session, fake.corp_id, "wrong", AGENT_ID, base_url=fake.base_url)
    with pytest.raises(WeComApiError) as caught:
        await api.send_text("zhangsan", "x")
    assert caught.value.errcode == 40001
    assert fake.calls_to("cgi-bin/message/send") == []


async def test_message_envelope_asks_for_server_side_dedupe(api: WeComApi, fake: FakeWeCom) -> None:
    await api.send_textcard("lisi", "逾期提醒", "<div>任务 3 已逾期</div>", "https://example.invalid/t/3")
    (body,) = fake.sent
    assert body["touser"] == "lisi"
    assert body["agentid"] == AGENT_ID
    assert body["msgtype"] == "textcard"
    assert body["textcard"] == {
        "title": "逾期提醒",
        "description": "<div>任务 3 已逾期</div>",
        "url": "https://example.invalid/t/3",
        "btntxt": "详情",
    }
    assert body["enable_duplicate_check"] == 1
    assert body["duplicate_check_interval"] == 1800


async def test_send_file_uploads_then_sends_media_id(api: WeComApi, fake: FakeWeCom, tmp_path: Path) -> None:
    source = tmp_path / "ledger.xlsx"
    source.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    await api.send_file("zhangsan", source, "节水台账.xlsx")
    (upload,) = fake.calls_to("cgi-bin/media/upload")
    assert upload["type"] == "file"
    (body,) = fake.sent
    assert body["msgtype"] == "file"
    assert fake.uploaded[body["file"]["media_id"]] == ("节水台账.xlsx", source.read_bytes())


async def test_send_image_uploads_as_image(api: WeComApi, fake: FakeWeCom) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(500)
    await api.send_image("zhangsan", png)
    assert fake.calls_to("cgi-bin/media/upload")[0]["type"] == "image"
    (body,) = fake.sent
    assert fake.media[body["image"]["media_id"]] == ("chart.png", png, "image/png")


async def test_download_of_chinese_named_file_is_byte_identical(api: WeComApi, fake: FakeWeCom, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    media_id = fake.add_media('2023年 节水"宣传"总结.pdf', data, "application/pdf")
    dest = tmp_path / "evidence.bin"
    name, size = await api.download_media(media_id, dest)
    assert name == '2023年 节水"宣传"总结.pdf'
    assert size == len(data)
    assert dest.read_bytes() == data
    assert _names(tmp_path) == ["evidence.bin"]


async def test_download_after_token_expiry_refreshes(api: WeComApi, fake: FakeWeCom, tmp_path: Path) -> None:
    media_id = fake.add_media("photo.jpg", b"\xff\xd8\xff" + os.urandom(100), "image/jpeg")
    await api.access_token()
    fake.expire_tokens()
    name, size = await api.download_media(media_id, tmp_path / "p.jpg")
    assert (name, size) == ("photo.jpg", 103)
    assert len(fake.tokens) == 2


async def test_download_of_unknown_media_raises_and_writes_nothing(
    api: WeComApi, fake: FakeWeCom, tmp_path: Path
) -> None:
    with pytest.raises(WeComApiError) as caught:
        await api.download_media("no-such-media", tmp_path / "x")
    assert caught.value.errcode == 40007
    assert _names(tmp_path) == []


async def test_http_error_without_json_is_an_api_error(fake: FakeWeCom, session: aiohttp.ClientSession) -> None:
    api = WeComApi(session, fake.corp_id, fake.secret, AGENT_ID, base_url=fake.base_url + "/nowhere")
    with pytest.raises(WeComApiError) as caught:
        await api.access_token()
    assert caught.value.errcode == -1
    assert "404" in caught.value.errmsg


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="MEDIA_ID.jpg"', "MEDIA_ID.jpg"),
        ("attachment; filename=\"a.pdf\"; filename*=UTF-8''%E4%B8%AD%E6%96%87.pdf", "中文.pdf"),
        ("attachment; filename*=UTF-8''%E4%B8%AD%E6%96%87.pdf; filename=\"a.pdf\"", "中文.pdf"),
        ('attachment; filename="中文.doc"', "中文.doc"),
        ('attachment; filename="ä¸\xadæ\x96\x87.doc"', "中文.doc"),  # raw UTF-8 read as Latin-1
        ('attachment; filename="\udcd6\udcd0\udcce\udcc4.doc"', "中文.doc"),  # GBK bytes, surrogate-escaped
        ('attachment; filename="café.txt"', "café.txt"),
        ('attachment; filename="%E4%B8%AD%E6%96%87.pdf"', "中文.pdf"),  # plain but percent-encoded: decoded
        ('attachment; filename="100%合格.pdf"', "100%合格.pdf"),
        ('attachment; filename="%FF%FE.pdf"', "%FF%FE.pdf"),  # not UTF-8 once decoded: kept as it came
        ('attachment; filename="..%2F..%2Fetc%2Fpasswd"', "passwd"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\temp\\\\x.txt"', "x.txt"),
        ("attachment", ""),
        ("", ""),
    ],
)
def test_content_disposition_filename(header: str, expected: str) -> None:
    assert content_disposition_filename(header) == expected


async def test_robot_sends_markdown(robot: WeComRobot, fake: FakeWeCom) -> None:
    await robot.send_markdown('## 本周汇总\n> 已完成 <font color="info">12</font>')
    assert fake.robot_sent == [
        (
            "robot-key",
            {"msgtype": "markdown", "markdown": {"content": '## 本周汇总\n> 已完成 <font color="info">12</font>'}},
        )
    ]


async def test_robot_image_carries_base64_and_md5_of_raw_bytes(robot: WeComRobot, fake: FakeWeCom) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    await robot.send_image(png)
    ((_, body),) = fake.robot_sent
    assert base64.b64decode(body["image"]["base64"]) == png
    assert body["image"]["md5"] == hashlib.md5(png).hexdigest()


async def test_robot_text_mentions(robot: WeComRobot, fake: FakeWeCom) -> None:
    await robot.send_text("请及时上传佐证材料", mentioned_list=["@all"])
    ((_, body),) = fake.robot_sent
    assert body["text"] == {"content": "请及时上传佐证材料", "mentioned_list": ["@all"]}


async def test_robot_with_unknown_key_is_refused(fake: FakeWeCom, session: aiohttp.ClientSession) -> None:
    with pytest.raises(WeComApiError) as caught:
        await WeComRobot(session, "removed", base_url=fake.base_url).send_text("x")
    assert caught.value.errcode == 93000


async def test_robot_rate_limit_is_flagged(robot: WeComRobot, fake: FakeWeCom) -> None:
    fake.fail_next("cgi-bin/webhook/send", 45009)
    with pytest.raises(WeComApiError) as caught:
        await robot.send_markdown("x")
    assert caught.value.verdict is Verdict.TRANSIENT


async def test_overlong_markdown_is_refused_but_its_split_chunks_are_accepted(
    robot: WeComRobot, fake: FakeWeCom
) -> None:
    content = "\n".join(f"{n}. 牵头单位:区水务局 —— 完成时间 2023.9,佐证材料 {n} 项" for n in range(300))
    with pytest.raises(WeComApiError) as caught:
        await robot.send_markdown(content)
    assert caught.value.errcode == 40058
    chunks = split_text(content, 4096, utf8_len)
    assert len(chunks) > 1
    for chunk in chunks:
        await robot.send_markdown(chunk)
    assert len(await fake.wait_robot_sent(len(chunks))) == len(chunks)


async def test_wait_sent_wakes_when_a_message_arrives(api: WeComApi, fake: FakeWeCom) -> None:
    waiter = asyncio.create_task(fake.wait_sent(2, timeout=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    await api.send_text("zhangsan", "一")
    await api.send_text("lisi", "二")
    sent = await waiter
    assert [body["touser"] for body in sent] == ["zhangsan", "lisi"]


async def test_wait_sent_times_out(fake: FakeWeCom) -> None:
    with pytest.raises(TimeoutError):
        await fake.wait_sent(1, timeout=0.05)
