"""The 月度通报: on the first workday of each month to subscribed groups and coordinators, /digest 月报 on demand,
and the 台账's rhythm columns (最近报送, 未报送月数, 办结日期)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import TODAY, Chat
from openpyxl import load_workbook
from test_reminder_engine import GROUP, at, sweep

from bot.app import App
from bot.core.clock import Clock
from bot.exports.ledger import HEADERS, export_ledger
from bot.reminders.engine import ReminderEngine
from bot.store.reminders import SENT


async def reports(app: App) -> list[dict[str, Any]]:
    """Return the monthly-report pushes (texts and charts), oldest first."""
    return [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith("report:")]


async def test_the_first_workday_of_a_month_publishes_last_months_report_once(app: App, chat: Chat,
                                                                           clock: Clock) -> None:
    await chat.bind("jiaoyu", "区教育局")
    await chat.text("admin", "/help")  # the coordinator is known to duban
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    await chat.text("jiaoyu", "任务42进展：已与两所学校洽谈")  # October's report for 42
    at(clock, "2023-11-01 08:00")
    assert (await sweep(app)).reports == 0  # before the send time
    at(clock, "2023-11-01 10:00")  # Wednesday, the first workday of November
    assert (await sweep(app)).reports == 2  # the group and the coordinator
    assert (await sweep(app)).reports == 0  # once
    rows = await reports(app)
    assert {r["chat_id"] for r in rows} == {GROUP.chat_id, "admin"} and len(rows) == 4  # text and chart each
    text = next(r["payload"]["text"] for r in rows if r["chat_id"] == GROUP.chat_id and r["payload"]["text"] != "各单位完成情况图")
    assert text.startswith("📊 2023年坪山区节水典范城市建设工作任务分工表月度通报（2023年10月，2023-11-01发布）")
    units = [line for line in text.splitlines() if line[:1].isdigit() and "：完成" in line]
    reds = [int(line.split("红", 1)[1].split(" ", 1)[0]) for line in units]
    assert reds == sorted(reds, reverse=True) and reds[0] > 0  # the most 红 first
    [edu] = [line for line in units if "区教育局" in line]
    assert "按时完成0/2（0%）" in edu and "进展报送1/1" in edu  # 40 and 41 past due; 42 reported in October
    entries = [e for e in await app.store.reminders.entries(status=SENT) if e.key.startswith("report:")]
    assert {(e.period, e.stage) for e in entries} == {("2023-10", "report-monthly")}


async def test_the_report_is_in_the_preview(app: App, chat: Chat, clock: Clock) -> None:
    await app.store.chats.subscribe(GROUP, "节水群", by="console:admin", now=clock.utcnow())
    rows = await ReminderEngine.for_app(app).preview(TODAY, TODAY.replace(month=12, day=31))
    found = [(r["at"][:10], r["period"]) for r in rows if r["kind"] == "report"]
    assert found == [("2023-11-01", "2023-10"), ("2023-12-01", "2023-11")]


async def test_digest_monthly_on_demand_fits_the_channel(chat: Chat) -> None:
    replies = await chat.say("jieshuiban", "/digest 月报", channel="wecom", limit=600)
    texts = [r.text for r in replies if r.file is None]
    assert len(texts) > 1 and all(len(t) <= 600 for t in texts)  # split by lines, none cut
    whole = "\n".join(texts)
    assert "月度通报（2023年9月" in whole and "区水务局：完成0/" in whole
    assert any(r.file is not None and r.file.is_image for r in replies)  # the chart


async def test_the_ledger_shows_the_latest_report_the_months_unreported_and_the_completion_day(
        app: App, chat: Chat, clock: Clock, tmp_path: Path) -> None:
    await chat.bind("jiaoyu", "区教育局")
    await chat.bind("shui", "区水务局")
    await chat.text("shui", "任务2进展：已下达年度用水计划")
    [ask] = await chat.say("jiaoyu", "/done 41")
    await chat.say("jiaoyu", callback=ask.choices[0].data)
    await chat.text("admin", "/approve 41")
    at(clock, "2023-12-05 10:00")  # November's report for 2 never came
    ws = load_workbook(await export_ledger(app.store, None, tmp_path / "台账.xlsx", clock.today()))["台账"]
    row = {c.value: n for n, c in enumerate(ws["A"], start=1)}

    def cell(no: int, header: str) -> object:
        return ws.cell(row=row[no], column=HEADERS.index(header) + 1).value

    assert cell(2, "最近报送") == "10月20日 已下达年度用水计划"
    assert cell(2, "未报送月数") == 1  # November (October was reported; before October the plan was not here)
    assert cell(3, "未报送月数") == 2  # October and November
    assert cell(41, "办结日期").date().isoformat() == "2023-10-20" and cell(2, "办结日期") is None
    assert cell(41, "最近报送") == "10月20日 报告完成，提交审核"
    assert cell(14, "未报送月数") is None  # reports monthly on its own recurrence
