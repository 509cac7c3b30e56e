"""The escalation ladder: every 催办 recorded and counted, the numbered 督办单, the unit's 分管领导."""

from __future__ import annotations

import asyncio
import datetime as dt
import zipfile
from pathlib import Path

import docx
import openpyxl
from conftest import Chat

from bot.app import App
from bot.core.clock import Clock
from bot.exports.bundle import export_bundle
from bot.exports.ledger import HEADERS, export_ledger
from bot.store.store import open_store


async def test_every_urge_is_recorded_and_the_reply_says_how_often_before(chat: Chat, app: App, clock: Clock) -> None:
    await chat.bind("li", "教育局")
    first = await chat.text("admin", "/urge 教育局 40")
    assert "任务40此前未催办过" in first
    clock.advance(dt.timedelta(days=1))
    listed = await chat.text("admin", "/urge 教育局")  # counts for each task it lists: 40 (overdue) and 41 (10月)
    assert "任务40此前已催办1次" in listed and "任务41此前未催办过" in listed
    plan = await app.store.plans.plan()
    counts = await app.store.urges.counts(plan.id)
    assert (counts[40].times, counts[41].times) == (2, 1) and 42 not in counts
    again = await chat.text("admin", "/urge 教育局 40")
    assert "任务40此前已催办2次" in again and "最近一次10月21日" in again
    history = await app.store.urges.history(plan.id, 40)
    assert [(u.by, u.channel, u.kind) for u in history] == [("console:admin", "console", k)
                                                            for k in ("notice", "urge", "notice")]
    assert history[0].at < history[1].at


def docx_text(path: Path) -> str:
    """Return every paragraph and table cell of a .docx, the way a reader sees it."""
    doc = docx.Document(str(path))
    cells = [c.text for table in doc.tables for row in table.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


async def test_urging_one_task_sends_a_numbered_notice_with_both_deadlines(chat: Chat, app: App,
                                                                          tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "40-1", files=[("通知.pdf", b"notice")])
    await chat.text("li", "/delay 40 2023-11-15 学校暑期停课")
    await chat.text("admin", "/delay approve 40")
    await chat.text("admin", "/urge 教育局 42")
    await chat.text("admin", "/urge 教育局")  # a plain urge of 40 and 41: the notice lists it
    replies = await chat.say("admin", "/urge 教育局 40")
    [sent] = [r.file for r in replies if r.file is not None]
    assert sent.file_name == "督办通知单〔2023〕第2号（任务40）.docx"
    assert "〔2023〕第2号" in "\n".join(r.text for r in replies) and "任务40此前已催办1次" in replies[0].text
    text = docx_text(sent.path)
    assert "督办通知单" in text and "〔2023〕第2号" in text and "区教育局" in text
    assert "10月20日 催办" in text  # the urge history
    assert "节水型学校创建" in text  # the task
    assert "2023年9月底" in text and "2023年11月15日" in text  # the plan's deadline and the extended one
    assert "节水型学校创建材料（3家）" in text and "辖区学校用水量排名统计表" in text  # missing items
    assert "关于开展2023年度深圳市节水载体创建工作的通知" not in text  # received: not listed as missing
    assert "坪山区节水办" in text
    rows = [r for r in await app.store.outbox.rows() if r["chat_id"] == "li" and r["payload"]["file"]]
    assert [r["payload"]["file"][0] for r in rows] == ["督办通知单〔2023〕第1号（任务42）.docx", sent.file_name]
    plan = await app.store.plans.plan()
    assert [u.kind for u in await app.store.urges.history(plan.id, 40)] == ["urge", "notice"]  # a notice counts

    out = tmp_path / "bundle.zip"
    await export_bundle(app.store, None, out)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        [inside] = [n for n in names if n.endswith(sent.file_name)]
        assert inside.startswith("40-") and "督办通知单" in docx_text_bytes(zf.read(inside), tmp_path)


def docx_text_bytes(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "inside.docx"
    path.write_bytes(data)
    return docx_text(path)


async def test_notice_numbers_have_no_gaps_when_two_processes_issue_at_once(app: App, db_url: str,
                                                                            tmp_path: Path) -> None:
    other = await open_store(db_url, tmp_path / "other", run_migrations=False)  # another process's connections
    plan = await app.store.plans.plan()
    now = dt.datetime(2023, 10, 20, 2, tzinfo=dt.UTC)
    try:
        issued = await asyncio.gather(*(store.notices.issue(plan.id, "区教育局", 40, {"task": 40}, by="console:admin",
                                                            channel="console", now=now)
                                        for _ in range(8) for store in (app.store, other)))
    finally:
        await other.close()
    assert sorted(n.number for n, _ in issued) == list(range(1, 17))
    assert {n.label for n, _ in issued} >= {"〔2023〕第1号", "〔2023〕第16号"}


async def bind_leader(chat: Chat, user: str, unit: str) -> str:
    """Make `user` the 分管领导 of `unit` the way it is done: a coordinator's leader code, then /bind."""
    reply = await chat.text("admin", f"/invite {unit} 领导")
    assert "分管领导" in reply
    code = next(w for w in reply.replace("：", " ").split() if len(w) == 8 and w.isalnum() and w.isupper())
    return await chat.text(user, f"/bind {code}")


async def test_a_leader_binds_sees_the_units_tasks_and_may_only_write_instructions(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "40-1", files=[("通知.pdf", b"notice")])
    assert "区教育局的分管领导" in await bind_leader(chat, "wang", "教育局")
    assert "节水型学校创建" in await chat.text("wang", "/task 40")
    assert "任务40" in await chat.text("wang", "我单位有哪些任务")
    assert "通知.pdf" in await chat.text("wang", "/files 40")
    assert [p.key for p in await app.store.people.liaisons("区教育局")] == ["console:li"]  # a leader is no liaison
    assert [p.key for p in await app.store.people.leaders("区教育局")] == ["console:wang"]
    plan = await app.store.plans.plan()
    before = (await app.store.plans.task(plan.id, 40), len(await app.store.chats.audit(limit=1000)))
    for message in ("/done 40", "/progress 40 2", "/note 40 已完成", "任务40进展：已完成", "/delay 40 2023-11-15 原因",
                    "/withdraw 1", "40-2", "/approve 40", "/return 40 不全", "/return 40-1 不对", "/urge 教育局",
                    "/invite 教育局", "/export"):
        reply = await chat.text("wang", message)
        assert "分管领导" in reply and "只有节水办" not in reply, message
    assert "分管领导" in await chat.text("wang", "", files=[("a.pdf", b"pdf")])
    assert (await app.store.plans.task(plan.id, 40), len(await app.store.chats.audit(limit=1000))) == before
    assert "只有节水办" not in await chat.text("wang", "/help") and "/批示" in await chat.text("wang", "/help")

    answer = await chat.text("wang", "/批示 40 请抓紧落实，月底前完成")
    assert "已将批示转给区教育局联络员和节水办" in answer
    assert "请抓紧落实，月底前完成" in await chat.text("wang", "/task 40")
    for who in ("li", "admin"):
        rows = [r for r in await app.store.outbox.rows() if r["chat_id"] == who and "批示" in r["payload"]["text"]]
        assert len(rows) == 1 and "请抓紧落实" in rows[0]["payload"]["text"], who
    assert "已将批示" in await chat.text("wang", "/instruct 40 再催一下")
    assert [a["detail"]["text"] for a in await app.store.chats.audit(task_no=40)
            if a["action"] == "task.instruction"] == ["再催一下", "请抓紧落实，月底前完成"]
    assert "分管领导" in await chat.text("li", "/批示 40 我来批")  # a liaison writes no instructions
    assert "分管领导" in await chat.text("wang", "/批示 43 不是本单位的")  # nor a leader on another unit's task


async def test_the_ledger_counts_returns_and_urges(chat: Chat, app: App, clock: Clock, tmp_path: Path) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "40-2", files=[("创建材料.pdf", b"schools")])
    await chat.text("admin", "/return 40-2 缺少盖章页")
    await chat.say("li", "40-2", files=[("创建材料-盖章.pdf", b"schools, stamped")])
    [confirm] = await chat.say("li", "/done 40")
    await chat.say("li", callback=confirm.choices[0].data)
    await chat.text("admin", "/return 40 材料不全")
    await chat.text("admin", "/urge 教育局 41")
    clock.advance(dt.timedelta(days=1))
    await chat.text("admin", "/urge 教育局")
    out = tmp_path / "台账.xlsx"
    await export_ledger(app.store, None, out, clock.today())
    ws = openpyxl.load_workbook(out)["台账"]
    rows = {r[0].value: dict(zip(HEADERS, (c.value for c in r), strict=True)) for r in ws.iter_rows(min_row=2)}
    assert (rows[40]["退回次数"], rows[41]["退回次数"]) == (2, None)
    assert (rows[41]["催办次数"], rows[42]["催办次数"]) == (2, None)
    assert rows[41]["最近催办"] == dt.datetime(2023, 10, 21, 10, 0)


async def test_a_task_waiting_for_review_is_not_urged(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [confirm] = await chat.say("li", "/done 42")
    await chat.say("li", callback=confirm.choices[0].data)
    assert "任务42待审核，无需催办" in await chat.text("admin", "/urge 教育局 42")
    plan = await app.store.plans.plan()
    assert await app.store.notices.notices(plan.id) == [] and await app.store.urges.history(plan.id, 42) == []
