"""Hostile or odd input gets a clear Chinese answer and changes nothing: numbers, progress, empty files, long replies."""

from __future__ import annotations

import json

import pytest
from conftest import Chat
from sqlalchemy import text

from bot.app import App
from bot.handlers.router import APOLOGY


async def audit_details(app: App) -> list[str]:
    """Return the audit log's detail column as stored text."""
    async with app.store.engine.connect() as c:
        return [str(r[0]) for r in await c.execute(text("SELECT CAST(detail AS TEXT) FROM audit ORDER BY id"))]


@pytest.mark.parametrize("arg", ["²", "99999999999999999999", "٣", "①", "-1", "1.5", "#"])
async def test_odd_file_numbers_are_refused_in_chinese(chat: Chat, arg: str) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", f"/withdraw {arg}")
    assert APOLOGY not in reply and "文件编号" in reply


async def test_full_width_file_number_is_read(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "42-1", files=[("签约合同.pdf", b"contract")])
    assert "已撤回文件 #1" in await chat.text("li", "/withdraw １")


async def test_odd_button_data_is_refused_in_chinese(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "", files=[("学校用水量排名统计表.xlsx", b"xlsx bytes")])
    token = ask.choices[0].data.split(":")[0]
    reply = await chat.text("li", callback=f"{token}:²")
    assert APOLOGY not in reply and "按钮无效" in reply


@pytest.mark.parametrize("arg", ["99999999999999999999", "²", "任务99999999999"])
async def test_odd_task_numbers_are_refused_in_chinese(chat: Chat, arg: str) -> None:
    await chat.bind("li", "教育局")
    for command in ("/task", "/done", "/files", "/progress"):
        reply = await chat.text("li", f"{command} {arg} 2")
        assert APOLOGY not in reply and "任务编号" in reply and "没有第999项" not in reply, command
    assert APOLOGY not in await chat.text("admin", f"/urge 教育局 {arg}")


@pytest.mark.parametrize("value", ["NaN", "nan%", "inf", "-inf", "Infinity", "-2", "1e9", "1e400", "99999999999",
                                   "2²", "0x10", "1_000"])
async def test_unreasonable_progress_is_refused_and_changes_nothing(chat: Chat, app: App, value: str) -> None:
    await chat.bind("li", "教育局")
    assert "已登记任务40的进度：2" in await chat.text("li", "/progress 40 2")
    audit = await audit_details(app)
    reply = await chat.text("li", f"/progress 40 {value}")
    assert "进度" in reply and "已登记" not in reply and APOLOGY not in reply
    assert "当前进度 2" in await chat.text("li", "任务40")
    assert await audit_details(app) == audit
    for detail in audit:
        json.loads(detail, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))


async def test_decimal_and_full_width_progress_are_accepted(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    assert "已登记任务40的进度：2.5" in await chat.text("li", "/progress 40 2.5次")
    assert "已登记任务40的进度：3" in await chat.text("li", "/progress 40 ３")


async def test_empty_file_is_not_filed_and_not_counted(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "40-2", files=[("空.pdf", b"")])
    assert "「空.pdf」未归档" in reply and "0字节" in reply
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 40) == []
    assert "材料 0/5" in await chat.text("li", "我单位有哪些任务")
    both = await chat.text("li", "40-2", files=[("空.pdf", b""), ("报告.pdf", b"%PDF report")])
    assert "「空.pdf」未归档" in both and "已收到「报告.pdf」" in both
    assert len(await app.store.evidence.files(plan.id, 40)) == 1


async def test_empty_file_without_caption_offers_no_choice(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [reply] = await chat.say("li", "", files=[("学校用水量排名统计表.xlsx", b"")])
    assert not reply.choices and "0字节" in reply.text


async def test_files_list_of_many_files_fits_the_channel_limit(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    name = "区教育局关于节水型学校创建工作的佐证材料汇编（第{n}册）含照片及会议记录.pdf"
    for n in range(66):
        await chat.say("li", f"40-{n % 5 + 1}", files=[(name.format(n=n), f"file {n}".encode())])
    replies = await chat.say("li", "/files 40")
    assert len(replies) > 1 and all(len(r.text) <= 3500 for r in replies)
    joined = "\n".join(r.text for r in replies)
    assert all(f"#{n} " in joined for n in range(1, 67))  # nothing dropped in the split
    assert "/withdraw" in replies[-1].text


async def test_many_liaisons_list_fits_a_wecom_sized_limit(chat: Chat, app: App) -> None:
    for n in range(100):
        code = await app.store.people.create_invite("区教育局", by="test", now=app.clock.utcnow(), days=7)
        await chat.text(f"liaison-with-a-long-name-{n:03d}", f"/bind {code}")
    replies = await chat.say("admin", "/liaisons", limit=600)
    assert len(replies) > 1 and all(len(r.text) <= 600 for r in replies)
    assert sum(r.text.count("liaison-with-a-long-name-") for r in replies) >= 100


async def test_one_over_long_line_is_cut_to_the_limit(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    replies = await chat.say("li", "/progress 40 2 " + "很长的备注" * 380, limit=600)
    assert len(replies) > 1 and all(len(r.text) <= 600 for r in replies)
    assert "".join(r.text for r in replies).count("很长的备注") == 380


async def test_control_characters_are_dropped_before_anything_is_stored(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "/done 42")
    await chat.say("li", callback=ask.choices[0].data)
    reply = await chat.text("admin", "/return 42 缺少\x00签约\x07合同")
    assert "原因：缺少签约合同" in reply
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 42)).status_note == "缺少签约合同"
