"""Progress notes (阶段性进展): kept with time and author, shown in the detail, the unit's digest and the 台账."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import TODAY, Chat
from openpyxl import load_workbook

from bot.app import App
from bot.core.clock import Clock
from bot.exports.ledger import HEADERS, export_ledger


async def test_note_is_kept_with_author_and_shown_in_detail_digest_and_ledger(chat: Chat, app: App, clock: Clock,
                                                                              tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "/note 41 已完成2所学校的节水型单位申报")
    assert "已记录任务41的阶段性进展" in reply and "10月20日 区教育局 li：已完成2所学校的节水型单位申报" in reply
    clock.advance(dt.timedelta(days=1))
    assert "已记录" in await chat.text("li", "任务41进展：第3所学校材料已报市水务局，等待验收")

    plan = await app.store.plans.plan()
    newest, first = await app.store.notes.latest(plan.id, 41)
    assert (first.text, first.author, first.unit, first.at) == (
        "已完成2所学校的节水型单位申报", "console:li", "区教育局", dt.datetime(2023, 10, 20, 2, 0, tzinfo=dt.UTC))
    assert newest.text == "第3所学校材料已报市水务局，等待验收"  # the free text keeps its full-width comma
    assert [a["action"] for a in await app.store.chats.audit(task_no=41)][:2] == ["task.note", "task.note"]
    assert (await app.store.plans.task(plan.id, 41)).status.label == "进行中"

    detail = await chat.text("li", "任务41")
    assert "阶段性进展（最近2条）：\n· 10月21日 区教育局 li：第3所" in detail
    assert detail.index("第3所") < detail.index("已完成2所")
    digest = await chat.text("li", "/digest")
    assert "最新进展：\n· 任务41 10月21日 区教育局 li：第3所学校材料已报市水务局，等待验收" in digest

    out = await export_ledger(app.store, None, tmp_path / "台账.xlsx", TODAY)
    ws = load_workbook(out)["台账"]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value == 41)
    assert ws.cell(row=row, column=HEADERS.index("最新进展") + 1).value == (
        "10月21日 区教育局 li：第3所学校材料已报市水务局，等待验收")


async def test_cooperating_unit_may_note_a_stranger_may_not(chat: Chat, app: App) -> None:
    await chat.bind("shui", "水务局")  # cooperates on 41
    await chat.bind("wei", "卫健局")
    assert "已记录" in await chat.text("shui", "/note 41 已配合完成现场核查")
    assert "不是贵单位牵头或配合的任务" in await chat.text("wei", "/note 41 随便写写")
    assert "请写上" not in await chat.text("shui", "/note 41")  # no words: the task's notes are listed
    assert "已配合完成现场核查" in await chat.text("shui", "/note 41")
    plan = await app.store.plans.plan()
    assert [n.unit for n in await app.store.notes.latest(plan.id, 41)] == ["区水务局"]
