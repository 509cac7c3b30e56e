"""The 台账: every task with its progress in one sheet, a sheet per lead unit, and a summary by unit."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from bot.core.atomic import atomic_path
from bot.core.clock import SHANGHAI
from bot.core.views import (
    DEFAULT_RULE,
    ExtensionView,
    PlanView,
    TaskStatus,
    TaskView,
    UrgeCount,
    WarningLevel,
    WarningRule,
)
from bot.exports.counts import UnitCount, overdue_days, unit_counts
from bot.planfiles.workbook import write_cell
from bot.store.store import Store

LEDGER_SHEET = "台账"
SUMMARY_SHEET = "汇总"
HEADERS = ("序号", "牵头单位", "工作任务", "完成时间", "配合单位", "状态", "预警", "材料(已收/应收)", "最近更新",
           "逾期天数", "延期至", "延期申请", "最新进展", "最近报送", "未报送月数", "办结日期", "退回次数", "催办次数",
           "最近催办")
_WIDTHS = (6, 18, 60, 10, 26, 8, 6, 10, 17, 8, 11, 24, 40, 40, 8, 11, 8, 8, 17)
RETURNS = ("task.returned", "evidence.return")  # the audit entries a 退回 leaves: the whole task, or an item or file
_WRAPPED = frozenset({"牵头单位", "工作任务", "配合单位", "延期申请", "最新进展", "最近报送"})
SUMMARY_HEADERS = ("牵头单位", "任务数", "已完成", "待审核", "进行中", "未开始", "已退回", "逾期", "材料已收", "材料应收")

THIN = Side(style="thin", color="A6A6A6")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_FONT = Font(bold=True)
OVERDUE_FILL = PatternFill("solid", fgColor="FFC7CE")  # Excel's "light red fill"
OVERDUE_FONT = Font(color="9C0006")
# The 预警 cell is filled in its colour and says the word (红/黄/绿), so it reads in black-and-white print too.
WARNING_STYLE = {WarningLevel.RED: (OVERDUE_FILL, OVERDUE_FONT),
                 WarningLevel.YELLOW: (PatternFill("solid", fgColor="FFEB9C"), Font(color="9C5700")),
                 WarningLevel.GREEN: (PatternFill("solid", fgColor="C6EFCE"), Font(color="006100"))}
WRAP = Alignment(wrap_text=True, vertical="top")
TOP = Alignment(vertical="top")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_NAME_MAX = 31


@dataclass(frozen=True)
class LedgerData:
    """What a 台账 shows: the plan and its tasks with their progress (with the day, which makes the overdue days)."""

    plan: PlanView
    tasks: tuple[TaskView, ...]
    returns: Mapping[int, int] = dataclasses.field(default_factory=dict)  # task no -> times returned (task, item or file)
    urges: Mapping[int, UrgeCount] = dataclasses.field(default_factory=dict)  # task no -> times urged, and when last
    pending: tuple[ExtensionView, ...] = ()  # extension requests waiting for a decision


async def ledger_data(store: Store, plan_key: str | None) -> LedgerData:
    """Read what the plan's 台账 shows."""
    plan = await store.plans.plan(plan_key)
    return LedgerData(plan, tuple(await store.plans.tasks(plan.id)), await store.chats.counts(plan.id, RETURNS),
                      await store.urges.counts(plan.id), tuple(await store.extensions.pending(plan.id)))


async def export_ledger(store: Store, plan_key: str | None, out: Path, today: dt.date,
                        tz: dt.tzinfo = SHANGHAI, data: LedgerData | None = None,
                        rule: WarningRule = DEFAULT_RULE) -> Path:
    """Write the plan's 台账 to `out` (atomically) and return the path; `data`, when given, is not read again."""
    data = data or await ledger_data(store, plan_key)
    await asyncio.to_thread(write_ledger, data.plan, data.tasks, out, today, tz, data, rule)
    return out


def write_ledger(plan: PlanView, tasks: Sequence[TaskView], out: Path, today: dt.date, tz: dt.tzinfo = SHANGHAI,
                 data: LedgerData | None = None, rule: WarningRule = DEFAULT_RULE) -> None:
    """Build the workbook: 台账, 汇总, then one sheet per lead unit in plan order (`data`: returns, urges and
    pending extension requests)."""
    data = data or LedgerData(plan, tuple(tasks))
    wb = Workbook()
    ws = wb.active
    ws.title = LEDGER_SHEET
    _task_sheet(ws, tasks, today, tz, data, rule)
    _summary_sheet(wb.create_sheet(SUMMARY_SHEET), tasks, today)
    used = {LEDGER_SHEET, SUMMARY_SHEET}
    for unit in dict.fromkeys(t.lead for t in tasks):
        _task_sheet(wb.create_sheet(sheet_name(unit, used)), [t for t in tasks if t.lead == unit], today, tz, data,
                    rule)
    wb.properties.title = f"{plan.title} 台账（{today:%Y-%m-%d}）"
    with atomic_path(out) as tmp:
        wb.save(tmp)


def sheet_name(name: str, used: set[str]) -> str:
    """Return a valid, unused worksheet name for `name` (31 characters, none of []:*?/\\)."""
    base = _SHEET_NAME_FORBIDDEN.sub("_", name)[:_SHEET_NAME_MAX] or "单位"
    candidate, n = base, 2
    while candidate.casefold() in {u.casefold() for u in used}:
        suffix = f"({n})"
        candidate, n = base[: _SHEET_NAME_MAX - len(suffix)] + suffix, n + 1
    used.add(candidate)
    return candidate


def header_row(ws: Any, headers: Sequence[str], widths: Sequence[float]) -> None:
    """Write a bold, filled, frozen header row with column widths."""
    for c, (name, width) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = write_cell(ws, 1, c, name)
        cell.font, cell.fill, cell.alignment, cell.border = HEADER_FONT, HEADER_FILL, CENTER, BORDER
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"


def _task_sheet(ws: Any, tasks: Sequence[TaskView], today: dt.date, tz: dt.tzinfo, data: LedgerData,
                rule: WarningRule) -> None:
    """Write one row per task, its pending extension request noted; overdue rows get a light red fill, the 预警 cell
    its own colour."""
    asked = {e.task_no: f"待批复：延至{e.deadline_to:%Y-%m-%d}（{e.reason}）" for e in data.pending}
    header_row(ws, HEADERS, _WIDTHS)
    for r, t in enumerate(tasks, start=2):
        late = overdue_days(t, today)
        level = t.warning(today, rule)
        updated = t.updated_at.astimezone(tz).replace(tzinfo=None, microsecond=0) if t.updated_at else None
        urged = data.urges.get(t.no)
        values: tuple[object, ...] = (
            t.no, t.lead, t.text, t.deadline_raw, "、".join(t.cooperating) or "/", t.status.label,
            level.label if level is not None else None, f"{t.evidence_done}/{len(t.items)}" if t.items else "无需",
            updated, late or None, t.deadline if t.deadline_original is not None else None, asked.get(t.no),
            t.latest_note.line(tz) if t.latest_note else None, t.last_report.line(tz) if t.last_report else None,
            t.unreported_periods(today, rule) if t.rhythm is not None else None,
            t.approved_at.astimezone(tz).date() if t.approved_at and t.status is TaskStatus.APPROVED else None,
            data.returns.get(t.no), urged.times if urged else None,
            urged.last.astimezone(tz).replace(tzinfo=None, microsecond=0) if urged else None,
        )
        for c, (name, value) in enumerate(zip(HEADERS, values, strict=True), start=1):
            cell = write_cell(ws, r, c, value)
            cell.alignment = WRAP if name in _WRAPPED else TOP
            cell.border = BORDER
            if late:
                cell.fill = OVERDUE_FILL
                cell.font = OVERDUE_FONT
            if name == "预警" and level is not None:
                cell.fill, cell.font = WARNING_STYLE[level]
                cell.alignment = CENTER
        ws.cell(row=r, column=HEADERS.index("最近更新") + 1).number_format = "yyyy-mm-dd hh:mm"
        ws.cell(row=r, column=HEADERS.index("最近催办") + 1).number_format = "yyyy-mm-dd hh:mm"
        for day in ("延期至", "办结日期"):
            ws.cell(row=r, column=HEADERS.index(day) + 1).number_format = "yyyy-mm-dd"
    if tasks:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{len(tasks) + 1}"


def _summary_sheet(ws: Any, tasks: Sequence[TaskView], today: dt.date) -> None:
    """Write the per-unit counts and a total row; units with overdue tasks are highlighted."""
    header_row(ws, SUMMARY_HEADERS, (26, *([9] * (len(SUMMARY_HEADERS) - 1))))
    counts = unit_counts(tasks, today)
    total = UnitCount("合计")
    for r, c in enumerate(counts, start=2):
        for field in ("total", "approved", "submitted", "in_progress", "not_started", "returned", "overdue",
                      "received", "required"):
            setattr(total, field, getattr(total, field) + getattr(c, field))
        _summary_row(ws, r, c.row(), highlight=c.overdue > 0)
    last = len(counts) + 2
    _summary_row(ws, last, total.row(), highlight=False)
    for cell in ws[last]:
        cell.font = HEADER_FONT


def _summary_row(ws: Any, r: int, values: tuple[object, ...], *, highlight: bool) -> None:
    for c, value in enumerate(values, start=1):
        cell = write_cell(ws, r, c, value)
        cell.border = BORDER
        cell.alignment = WRAP if c == 1 else CENTER
        if highlight and SUMMARY_HEADERS[c - 1] == "逾期":
            cell.fill, cell.font = OVERDUE_FILL, OVERDUE_FONT


