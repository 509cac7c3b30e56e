"""Plan spreadsheets: read a task-division table as staff keep it in Excel, and write a plan back in that form.

The table has the seed's columns 牵头单位, 工作任务, 完成时间, 配合单位, 佐证材料; the task number leads the
task text ("12.…"); a merged 牵头单位 cell (or an empty one) carries the unit above down; a 佐证材料 cell
merged over several task rows is one evidence list those tasks share; evidence is written
"(1)《…》；(2)《…》"; 备注 rows close the table. Three optional columns carry what the printed table does
not: 周期 (how often the work repeats), 量化目标 (targets) and 备注 (which notes explain the task).
`write_plan_sheet` writes them hidden (grouped), so the sheet prints like the original.

Whatever the file holds, reading it is bounded: its size, parts, rows, cells and merges are checked before openpyxl
reads a value (`bot.planfiles.sheetlimits`), and a plan has at most MAX_TASKS tasks of MAX_CELL_CHARS characters a cell.
"""

from __future__ import annotations

import bisect
import math
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.properties import PageSetupProperties

from bot.core.atomic import atomic_path
from bot.core.checkins import cadence_from, cadence_name
from bot.core.errors import PlanFileError
from bot.core.plan import (
    NoteSpec,
    PlanSpec,
    Recurrence,
    Target,
    TaskSpec,
)
from bot.core.units import UnitRegistry

# Shared with the Word reader; imported under the names this module always used, so its own lines stay as they were.
from bot.planfiles.cells import ATTACHMENT as _ATTACHMENT
from bot.planfiles.cells import (
    COOPERATING,
    DEADLINE,
    EVIDENCE,
    LEAD,
    NOTES,
    NUMBER,
    OPTIONAL_COLUMNS,
    RECURRENCE,
    REQUIRED_COLUMNS,
    TARGETS,
    TEXT,
    CellError,
    build_tasks,
    checkin_said,
    cooperating_units,
    evidence_titles,
    match_unit,
    place_of,
    plan_year,
    read_deadline,
    read_notes,
    recurrence_in_text,
)
from bot.planfiles.cells import NONE_WORDS as _NONE_WORDS
from bot.planfiles.cells import NOTE_LINE as _NOTE_LINE
from bot.planfiles.cells import NOTES_HEADING as _NOTES_HEADING
from bot.planfiles.cells import SAME_AS as _SAME_AS
from bot.planfiles.cells import TASK_NO as _TASK_NO
from bot.planfiles.cells import TaskRow as _Row
from bot.planfiles.cells import district_of as _district
from bot.planfiles.cells import heading as _heading
from bot.planfiles.cells import one_line as _one_line
from bot.planfiles.result import MERGED_CELL, ROW_ABOVE, SEQUENCE, Inference, ReadResult
from bot.planfiles.sheetlimits import MAX_CELL_CHARS, MAX_TASKS, scan_workbook
from bot.planfiles.workbook import write_cell

SHEET_TITLE = "任务分工表"

_HEADER_SCAN_ROWS = 20
_MAX_COLUMNS = 60  # a formatted sheet can claim 16384 columns; the table never has this many
_EMPTY_ROWS_AT_END = 100  # … or a million rows: stop after this many empty ones
_TARGET_SPEC = re.compile(r"^(≥|>|=|＞|＝)\s*(\d+(?:\.\d+)?)\s*(\S.*)$")
_COMPARISON_SIGNS = {"at_least": "≥", "more_than": ">", "exactly": "="}
_SIGN_COMPARISONS = {"≥": "at_least", ">": "more_than", "＞": "more_than", "=": "exactly", "＝": "exactly"}
_RECURRENCE_WORDS = {
    "每月": Recurrence.MONTHLY, "月度": Recurrence.MONTHLY, "monthly": Recurrence.MONTHLY,
    "每季度": Recurrence.QUARTERLY, "季度": Recurrence.QUARTERLY, "quarterly": Recurrence.QUARTERLY,
}
_RECURRENCE_LABELS = {Recurrence.MONTHLY: "每月", Recurrence.QUARTERLY: "每季度"}
_KEY_PROPERTY, _YEAR_PROPERTY, _DISTRICT_PROPERTY = "duban.key", "duban.year", "duban.district"


# ---- reading ------------------------------------------------------------------------------------


class _Merges:
    """Merged ranges clipped to a sheet's used area, found by column and row without expanding them cell by cell.

    Excel never writes overlapping ranges; were a file to hold some, a cell reads as part of the one starting last.
    """

    def __init__(self, ranges: Sequence[tuple[int, int, int, int]], max_row: int, max_column: int) -> None:
        spans: dict[int, list[tuple[int, int, int]]] = {}  # column -> (first row, last row, first column)
        for first_col, first_row, last_col, last_row in ranges:
            last_row, last_col = min(last_row, max_row), min(last_col, max_column)
            if first_row > last_row or first_col > last_col or (first_row, first_col) == (last_row, last_col):
                continue  # outside the cells that hold values, or a single cell once clipped
            for c in range(first_col, last_col + 1):
                spans.setdefault(c, []).append((first_row, last_row, first_col))
        for column in spans.values():
            column.sort()
        self._spans = spans
        self._starts = {c: [first for first, _, _ in column] for c, column in spans.items()}

    def at(self, row: int, column: int) -> tuple[int, int, int] | None:
        """Return (top row, left column, bottom row) of the merged range holding this cell, if any."""
        starts = self._starts.get(column)
        i = bisect.bisect_right(starts, row) - 1 if starts else -1
        if i < 0:
            return None
        first, last, left = self._spans[column][i]
        return (first, left, last) if row <= last else None


class _Sheet:
    """One worksheet's values (the first _MAX_COLUMNS columns) and merged cells; builds refusals naming sheet and cell.

    The used area — the rows and columns that hold values — is the sheet's size, whatever its formatting claims.
    """

    def __init__(self, path: Path, title: str, values: dict[tuple[int, int], Any], formats: dict[tuple[int, int], str],
                 merges: Sequence[tuple[int, int, int, int]]) -> None:
        self.path = path
        self.title = title
        self.values = values
        self.formats = formats  # number formats of the cells holding numbers (a deadline keeps its decimals)
        self.max_row = max((r for r, _ in values), default=0)
        self.max_column = max((c for _, c in values), default=0)
        self.merges = _Merges(merges, self.max_row, self.max_column)

    def merged(self, row: int, column: int) -> tuple[int, int, int] | None:
        """Return (top row, left column, bottom row) of the merged range this cell lies in."""
        return self.merges.at(row, column)

    def raw(self, row: int, column: int) -> Any:
        """Return the value written in this very cell (None inside a merged range but its first cell)."""
        return self.values.get((row, column))

    def value(self, row: int, column: int) -> Any:
        """Return the cell's value, taking a merged range's value for every cell in it."""
        top = self.merged(row, column)
        return self.raw(*top[:2]) if top is not None else self.raw(row, column)

    def text(self, row: int, column: int, *, merged: bool = True) -> str:
        """Return the cell as stripped text ("" when empty)."""
        return _cell_text(self.value(row, column) if merged else self.raw(row, column))

    def number_format(self, row: int, column: int) -> str:
        """Return the number format of the cell holding this cell's value."""
        top = self.merged(row, column)
        return self.formats.get(top[:2] if top is not None else (row, column), "")

    def fail(self, row: int, column: int, heading: str, detail: str) -> PlanFileError:
        """Return a refusal naming the file, sheet, row and column."""
        ref = f"{get_column_letter(column)}{row}"
        return PlanFileError(f"任务分工表 {self.path.name} 工作表「{self.title}」第{row}行「{heading}」列（{ref}）：{detail}")

    def fail_row(self, row: int, detail: str) -> PlanFileError:
        """Return a refusal about a whole row."""
        return PlanFileError(f"任务分工表 {self.path.name} 工作表「{self.title}」第{row}行：{detail}")


def _cell_text(value: Any) -> str:
    """Return a cell value as stripped text."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Book:
    """A plan table opened for reading once its limits were checked (`bot.planfiles.sheetlimits`).

    openpyxl streams the values in read-only mode, which keeps no cell objects and ignores merges (those come from
    the first pass, clipped to the values). A sheet is read as far as needed: its first rows to find the header,
    all of it only for the sheet that holds the table.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"任务分工表 {path.name}"
        if path.suffix.lower() == ".xls":
            raise PlanFileError(f"{self.label} 是旧版 .xls 格式，请在 Excel 中另存为 .xlsx 后再导入。")
        try:
            self.scans = scan_workbook(path, self.label)
            self.wb = load_workbook(path, read_only=True, data_only=True, keep_links=False)
        except FileNotFoundError as exc:
            raise PlanFileError(f"{self.label} 不存在。") from exc
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError,
                NotImplementedError, RuntimeError) as exc:  # the last two: compression zipfile lacks, encryption
            raise PlanFileError(f"{self.label} 无法读取（须为 Excel .xlsx 文件）：{exc}") from exc

    @property
    def worksheets(self) -> list[Any]:
        """Return the worksheets, in the workbook's order."""
        return [ws for ws in self.wb.worksheets if ws.title in self.scans]

    def sheet(self, ws: Any, rows: int | None = None) -> _Sheet:
        """Read a worksheet's values (its first `rows` rows, or all) into a _Sheet."""
        scan = self.scans[ws.title]
        last = scan.last_row if rows is None else min(rows, scan.last_row)
        return _Sheet(self.path, ws.title, *_values(ws, last, self.label), scan.merges)

    def properties(self) -> dict[str, str]:
        """Return the duban properties a sheet written by `write_plan_sheet` carries."""
        props: dict[str, str] = {}
        for prop in getattr(self.wb, "custom_doc_props", []):
            if str(prop.name).startswith("duban.") and prop.value is not None:
                props[str(prop.name)] = str(prop.value)
        return props

    def close(self) -> None:
        """Close the file (a read-only workbook keeps it open)."""
        self.wb.close()


def _values(ws: Any, last_row: int, label: str) -> tuple[dict[tuple[int, int], Any], dict[tuple[int, int], str]]:
    """Return the values (and the numbers' formats) of a read-only sheet's first _MAX_COLUMNS columns."""
    values: dict[tuple[int, int], Any] = {}
    formats: dict[tuple[int, int], str] = {}
    if not last_row:
        return values, formats  # (and max_row=0 would mean "as far as the sheet claims")
    for row in ws.iter_rows(min_row=1, max_row=last_row, max_col=_MAX_COLUMNS):
        for cell in row:
            value = cell.value
            if value is None or value == "":
                continue
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise PlanFileError(f"{label} 工作表「{ws.title}」{cell.coordinate} 单元格有 {len(value)} 个字，"
                                    f"超过了每格 {MAX_CELL_CHARS} 字的上限，未导入。")
            values[(cell.row, cell.column)] = value
            if isinstance(value, float):
                formats[(cell.row, cell.column)] = str(cell.number_format or "")
    return values, formats


def _find_header(sheet: _Sheet) -> tuple[int, dict[str, int]] | None:
    """Return (row, column of each heading) of the header row, or None when the sheet has none."""
    best: tuple[int, dict[str, int]] | None = None
    for r in range(1, min(sheet.max_row, _HEADER_SCAN_ROWS) + 1):
        columns: dict[str, int] = {}
        for c in range(1, min(sheet.max_column, _MAX_COLUMNS) + 1):
            name = _heading(sheet.text(r, c, merged=False))
            if name is not None:
                columns.setdefault(name, c)
        found = sum(1 for name in REQUIRED_COLUMNS if name in columns)
        if found >= 2 and (best is None or found > sum(1 for n in REQUIRED_COLUMNS if n in best[1])):
            best = (r, columns)
    return best


def load_plan_sheet(path: Path, units: UnitRegistry, key: str | None = None) -> PlanSpec:
    """Read, validate and return a plan kept as a spreadsheet; refuse naming sheet, row and column."""
    return read_plan_sheet(path, units, key).plan


def read_plan_sheet(path: Path, units: UnitRegistry, key: str | None = None) -> ReadResult:
    """Read a plan kept as a spreadsheet, with every value that had to be inferred to read it."""
    book = _Book(path)
    try:
        found: tuple[Any, int, dict[str, int]] | None = None
        partial: tuple[_Sheet, int, dict[str, int]] | None = None
        for ws in book.worksheets:
            head = book.sheet(ws, _HEADER_SCAN_ROWS)
            header = _find_header(head)
            if header is None:
                continue
            if all(name in header[1] for name in REQUIRED_COLUMNS):
                found = (ws, *header)
                break
            partial = partial or (head, *header)
        if found is None:
            need = "、".join(REQUIRED_COLUMNS)
            if partial is not None:
                sheet, row, columns = partial
                missing = "、".join(f"「{n}」" for n in REQUIRED_COLUMNS if n not in columns)
                raise sheet.fail_row(row, f"表头缺少{missing}列（需要：{need}）")
            first = book.wb.worksheets[0].title if book.wb.worksheets else ""
            raise PlanFileError(f"任务分工表 {path.name} 工作表「{first}」前{_HEADER_SCAN_ROWS}行中找不到表头行"
                                f"（需要列：{need}）")
        ws, header_row, columns = found
        return _read_plan(book.sheet(ws), header_row, columns, units, key, book.properties())
    finally:
        book.close()


def _read_plan(sheet: _Sheet, header_row: int, columns: dict[str, int], units: UnitRegistry, key: str | None,
               props: dict[str, str]) -> ReadResult:
    """Read the header rows, the task rows and the notes of a sheet whose header row is known."""
    title, attachment, checkin = _header_texts(sheet, header_row)
    header_end = max((sheet.merged(header_row, c) or (0, 0, header_row))[2] for c in columns.values())
    main = [columns[n] for n in REQUIRED_COLUMNS]
    heading_texts = {_heading(sheet.text(header_row, c, merged=False)) for c in main}
    task_rows: list[int] = []
    note_lines: list[str] = []
    in_notes = False
    empty = 0
    for r in range(header_end + 1, sheet.max_row + 1):
        written = [sheet.text(r, c, merged=False) for c in main]
        extras = [sheet.text(r, columns[n], merged=False) for n in OPTIONAL_COLUMNS if n in columns]
        empty = 0 if any(written) or any(extras) else empty + 1
        if empty >= _EMPTY_ROWS_AT_END:
            break
        if in_notes:
            note_lines.extend(t for t in written if t)
            continue
        if any(_NOTES_HEADING.match(t) for t in written) or (
            _NOTE_LINE.match(written[0]) and not sheet.text(r, columns[TEXT])
        ):
            in_notes = True
            note_lines.extend(t for t in written if t)
            continue
        if empty:
            continue
        if {_heading(t) for t in written} == heading_texts:
            continue  # the header repeated (a table printed over several pages)
        task_rows.append(r)
        if len(task_rows) > MAX_TASKS:
            raise sheet.fail_row(r, f"任务超过了 {MAX_TASKS} 项的上限，未导入。请把计划拆成几个文件后再导入")
    if not task_rows:
        raise sheet.fail_row(header_end + 1, "表头下面没有任何任务行")

    deadlines = [(r, _deadline_text(sheet, r, columns[DEADLINE])) for r in task_rows]
    year = _year(sheet, title, deadlines, columns[DEADLINE])
    inferred: list[Inference] = []
    rows = _task_rows(sheet, columns, task_rows, dict(deadlines), year, units, inferred)
    tasks = _tasks(sheet, columns, rows, year)
    notes = _notes(sheet, note_lines, tasks, rows if NOTES in columns else None)
    district = props.get(_DISTRICT_PROPERTY) or _district(title)
    stored_key = props.get(_KEY_PROPERTY) if props.get(_YEAR_PROPERTY) == str(year) else None
    stem = "-".join(sheet.path.stem.split())
    return ReadResult(PlanSpec(
        key=key or stored_key or f"plan-{year}-{stem}",
        title=title or sheet.path.stem,
        attachment=attachment,
        year=year,
        tasks=tasks,
        notes=notes,
        district=district,
        source=str(sheet.path),
        checkin=cadence_from(checkin or "每月"),
    ), tuple(inferred), checkin_said=checkin is not None)


def _header_texts(sheet: _Sheet, header_row: int) -> tuple[str, str, str | None]:
    """Return (title, attachment, check-in cadence as written: None when not said) from the rows above the header row."""
    title = attachment = ""
    checkin: str | None = None
    for r in range(1, header_row):
        for c in range(1, min(sheet.max_column, _MAX_COLUMNS) + 1):
            text = _one_line(sheet.text(r, c, merged=False))
            if not text:
                continue
            if said := checkin_said(text):
                checkin = said
            elif _ATTACHMENT.match(text) and not attachment:
                attachment = "".join(text.split())
            elif not title:
                title = text
    return title, attachment, checkin


def _deadline_text(sheet: _Sheet, row: int, column: int) -> str:
    """Return a deadline as the sheet shows it: "2023.10", "全年"; a number keeps its displayed decimals."""
    value = sheet.value(row, column)
    if hasattr(value, "year") and hasattr(value, "month"):
        return f"{value.year}.{value.month}"  # Excel turned 2024/6 into a date
    if isinstance(value, float):
        decimals = re.search(r"\.(0+)", sheet.number_format(row, column))
        return f"{value:.{len(decimals.group(1))}f}" if decimals else repr(value)
    return "".join(_cell_text(value).split())


def _year(sheet: _Sheet, title: str, deadlines: list[tuple[int, str]], column: int) -> int:
    """Return the plan's year: from the title, else the most common year among the deadlines."""
    year = plan_year(title, (raw for _, raw in deadlines))
    if year is not None:
        return year
    row = deadlines[0][0]
    raise sheet.fail(row, column, DEADLINE, "无法确定计划年度：标题中没有“20xx年”，完成时间也都没有写年份")


def _task_rows(sheet: _Sheet, columns: dict[str, int], row_numbers: list[int], deadlines: dict[int, str], year: int,
               units: UnitRegistry, inferred: list[Inference]) -> list[_Row]:
    """Read each task row: number, lead, text, deadline, cooperating units, evidence and the optional columns."""
    rows: list[_Row] = []
    seen: dict[int, int] = {}
    lead_above = ""
    for r in row_numbers:
        text_col = columns[TEXT]
        text = _one_line(sheet.text(r, text_col))
        if not text:
            raise sheet.fail(r, text_col, TEXT, "不能为空")
        no, text = _number(sheet, r, columns, text, rows[-1].no if rows else 0, inferred)
        if no in seen:
            place = (NUMBER, columns[NUMBER]) if NUMBER in columns and sheet.text(r, columns[NUMBER]) else (TEXT, text_col)
            raise sheet.fail(r, place[1], place[0], f"序号{no}重复（第{seen[no]}行已是第{no}项任务）")
        seen[no] = r

        lead_written = _one_line(sheet.text(r, columns[LEAD]))
        lead_above = lead_written or lead_above
        if not lead_above:
            raise sheet.fail(r, columns[LEAD], LEAD, "不能为空（上方也没有可沿用的牵头单位）")
        lead = _unit(sheet, r, columns[LEAD], LEAD, lead_above, units, no, inferred)
        if not sheet.text(r, columns[LEAD], merged=False):
            _note_lead_from_above(sheet, r, columns[LEAD], no, lead, inferred)

        try:
            deadline = read_deadline(deadlines[r], year, no, inferred)
        except CellError as exc:
            raise sheet.fail(r, columns[DEADLINE], DEADLINE, exc.detail) from exc

        cooperating = _cooperating(sheet, r, columns[COOPERATING], units, no, inferred)
        evidence_col = columns[EVIDENCE]
        evidence_text = sheet.text(r, evidence_col)
        top = sheet.merged(r, evidence_col)
        spans_rows = top is not None and top[2] > top[0]
        same = _SAME_AS.match(evidence_text) if not spans_rows else None
        rows.append(_Row(
            row=r, no=no, lead=lead, text=text, deadline_raw=deadline.raw, cooperating=cooperating,
            evidence=() if same else _evidence_titles(sheet, r, evidence_col, evidence_text),
            group=(top[0], top[1]) if top is not None and spans_rows else None,
            same_as=int(same.group(1)) if same else None,
            recurrence=_recurrence(sheet, r, columns, text) or deadline.recurrence,
            targets=_targets(sheet, r, columns, text),
            note_nos=tuple(int(n) for n in re.findall(r"\d+", sheet.text(r, columns[NOTES]))) if NOTES in columns
            else (),
        ))
    return rows


def _number(sheet: _Sheet, row: int, columns: dict[str, int], text: str, previous: int,
            inferred: list[Inference]) -> tuple[int, str]:
    """Return the task number (序号 column, else "12." before the text, else the one after the row above)."""
    m = _TASK_NO.match(text)
    body = text[m.end():].strip() if m else text
    if NUMBER in columns:
        written = sheet.text(row, columns[NUMBER])
        if written:
            if not written.isdigit() or int(written) < 1:
                raise sheet.fail(row, columns[NUMBER], NUMBER, f"应为正整数，实际是：“{written}”")
            return int(written), body
    if m:
        number = int(m.group(1))
        if number < 1:
            raise sheet.fail(row, columns[TEXT], TEXT, f"序号应为正整数，实际是：{number}")
        return number, body
    inferred.append(Inference(previous + 1, "no", "", str(previous + 1), SEQUENCE,
                              f"第{row}行没有序号，按上一项顺延为第{previous + 1}项"))
    return previous + 1, body


def _unit(sheet: _Sheet, row: int, column: int, heading: str, name: str, units: UnitRegistry, no: int,
          inferred: list[Inference]) -> str:
    """Map a unit as written to its canonical name, or refuse naming the closest units."""
    try:
        return match_unit(units, name, no, "lead" if heading == LEAD else "cooperating", inferred)
    except CellError as exc:
        raise sheet.fail(row, column, heading, exc.detail) from exc


def _note_lead_from_above(sheet: _Sheet, row: int, column: int, no: int, lead: str, inferred: list[Inference]) -> None:
    """Record that a blank 牵头单位 cell took the unit of the merged cell or of the row above."""
    top = sheet.merged(row, column)
    if top is not None and top[0] != row:
        inferred.append(Inference(no, "lead", "", lead, MERGED_CELL, f"{place_of(no, 'lead')}取自合并单元格：{lead}"))
    else:
        inferred.append(Inference(no, "lead", "", lead, ROW_ABOVE, f"{place_of(no, 'lead')}空白，沿用上一行：{lead}"))


def _cooperating(sheet: _Sheet, row: int, column: int, units: UnitRegistry, no: int,
                 inferred: list[Inference]) -> tuple[str, ...]:
    """Return the cooperating units of a row; "/" or an empty cell means none."""
    try:
        return cooperating_units(sheet.text(row, column), units, no, inferred)
    except CellError as exc:
        raise sheet.fail(row, column, COOPERATING, exc.detail) from exc


def _evidence_titles(sheet: _Sheet, row: int, column: int, text: str) -> tuple[str, ...]:
    """Return the evidence titles a cell lists, or refuse a broken numbering."""
    try:
        return evidence_titles(text)
    except CellError as exc:
        raise sheet.fail(row, column, EVIDENCE, exc.detail) from exc


def _recurrence(sheet: _Sheet, row: int, columns: dict[str, int], text: str) -> Recurrence | None:
    """Return the 周期 column's value, or, without the column, what the task text says (每月, 每季度)."""
    if RECURRENCE not in columns:
        return recurrence_in_text(text)
    written = "".join(sheet.text(row, columns[RECURRENCE]).split())
    if written in _NONE_WORDS:
        return None
    if written not in _RECURRENCE_WORDS:
        raise sheet.fail(row, columns[RECURRENCE], RECURRENCE, f"无法识别：“{written}”（可写：每月、每季度，或留空）")
    return _RECURRENCE_WORDS[written]


def _targets(sheet: _Sheet, row: int, columns: dict[str, int], text: str) -> tuple[Target, ...]:
    """Return the 量化目标 column's targets, one "原文：≥数值单位" per line (none without the column)."""
    if TARGETS not in columns:
        return ()
    targets = []
    column = columns[TARGETS]
    for i, line in enumerate((x.strip() for x in sheet.text(row, column).splitlines() if x.strip()), start=1):
        phrase, _, spec = line.rpartition("：")
        m = _TARGET_SPEC.match(spec.strip())
        if not phrase or m is None:
            raise sheet.fail(row, column, TARGETS, f"第{i}条写法不对：“{line}”（应为 原文：≥数值单位，如 不少于4次：≥4次）")
        if phrase not in text:
            raise sheet.fail(row, column, TARGETS, f"第{i}条的原文“{phrase}”不在任务文字中")
        targets.append(Target(phrase=phrase, value=float(m.group(2)), unit=m.group(3).strip(),
                              comparison=_SIGN_COMPARISONS[m.group(1)]))
    return tuple(targets)


def _tasks(sheet: _Sheet, columns: dict[str, int], rows: list[_Row], year: int) -> tuple[TaskSpec, ...]:
    """Resolve shared evidence lists (merged cells, "同第N项") and build the task specs."""
    try:
        return build_tasks(rows, year)
    except CellError as exc:
        raise sheet.fail(exc.row, columns[EVIDENCE], EVIDENCE, exc.detail) from exc


def _notes(sheet: _Sheet, lines: list[str], tasks: Sequence[TaskSpec], rows: list[_Row] | None) -> tuple[NoteSpec, ...]:
    """Split the 备注 rows into numbered notes and link each to the tasks it explains (see `read_notes`)."""
    try:
        return read_notes(lines, tasks, {r.no: r.note_nos for r in rows} if rows is not None else None)
    except CellError as exc:
        raise PlanFileError(f"任务分工表 {sheet.path.name} 工作表「{sheet.title}」的{exc.detail}") from exc


# ---- writing ------------------------------------------------------------------------------------

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")
_CENTER = Alignment(wrap_text=True, horizontal="center", vertical="center")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WIDTHS = {LEAD: 16, TEXT: 60, DEADLINE: 10, COOPERATING: 24, EVIDENCE: 60, RECURRENCE: 8, TARGETS: 24, NOTES: 8}
_WRITTEN_COLUMNS = (*REQUIRED_COLUMNS, RECURRENCE, TARGETS, NOTES)
_CHARS_PER_LINE = 80  # Chinese characters across columns A–E of the note rows


def format_evidence_list(titles: Sequence[str]) -> str:
    """Write titles as the table does: (1)《…》；(2)《…》, one per line; "/" for none."""
    if not titles:
        return "/"
    return "；\n".join(f"({i}){t}" for i, t in enumerate(titles, start=1))


def _target_line(t: Target) -> str:
    value = str(int(t.value)) if float(t.value).is_integer() else repr(t.value)
    return f"{t.phrase}：{_COMPARISON_SIGNS.get(t.comparison, '≥')}{value}{t.unit}"


def write_plan_sheet(plan: PlanSpec, path: Path) -> None:
    """Write a plan as a task-division table that `load_plan_sheet` reads back to the same plan."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    last = len(REQUIRED_COLUMNS)
    write_cell(ws, 1, 1, plan.attachment or None)
    if plan.checkin is not Recurrence.MONTHLY:  # the default goes unsaid, as in the tables offices send
        write_cell(ws, 1, last, f"进展报送：{cadence_name(plan.checkin)}").alignment = Alignment(horizontal="right")
    title = write_cell(ws, 2, 1, plan.title)
    title.font, title.alignment = Font(bold=True, size=16), _CENTER
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last)
    header = 3
    for c, name in enumerate(_WRITTEN_COLUMNS, start=1):
        cell = write_cell(ws, header, c, name)
        cell.font, cell.fill, cell.alignment, cell.border = Font(bold=True), _HEADER_FILL, _CENTER, _BORDER
        ws.column_dimensions[get_column_letter(c)].width = _WIDTHS[name]
    ws.column_dimensions.group(get_column_letter(last + 1), get_column_letter(len(_WRITTEN_COLUMNS)), hidden=True,
                               outline_level=1)
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
    ws.print_title_rows = f"{header}:{header}"

    first_row = header + 1
    row_of = {t.no: first_row + i for i, t in enumerate(plan.tasks)}
    cites: dict[int, list[int]] = {}
    for note in plan.notes:
        for no in note.tasks:
            cites.setdefault(no, []).append(note.no)
    merged_lists = _write_task_rows(ws, plan, row_of, cites)
    _merge_runs(ws, plan, row_of)
    for rows in merged_lists:
        ws.merge_cells(start_row=min(rows), start_column=5, end_row=max(rows), end_column=5)

    r = first_row + len(plan.tasks)
    if plan.notes:
        write_cell(ws, r, 1, "备注：").font = Font(bold=True)
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=last)
        for note in plan.notes:
            r += 1
            cell = write_cell(ws, r, 1, f"{note.no}. {note.text}")
            cell.alignment = _WRAP_TOP
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=last)
            # Excel does not fit a merged cell's height to its text: set it.
            ws.row_dimensions[r].height = 16 * max(1, math.ceil(len(note.text) / _CHARS_PER_LINE))
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToHeight = 0
    wb.properties.title = plan.title
    wb.custom_doc_props.append(StringProperty(name=_KEY_PROPERTY, value=plan.key))
    wb.custom_doc_props.append(StringProperty(name=_YEAR_PROPERTY, value=str(plan.year)))
    if plan.district:
        wb.custom_doc_props.append(StringProperty(name=_DISTRICT_PROPERTY, value=plan.district))
    with atomic_path(path) as tmp:
        wb.save(tmp)


def _write_task_rows(ws: Any, plan: PlanSpec, row_of: dict[int, int], cites: dict[int, list[int]]) -> list[list[int]]:
    """Write one row per task; return the row groups whose shared evidence cell is to be merged.

    A shared list is written on its first task; the others' cells are merged into it when the rows
    are adjacent, else they say "同第N项".
    """
    merged: list[list[int]] = []
    for t in plan.tasks:
        r = row_of[t.no]
        group = sorted(n for n in {t.no, *t.evidence_shared_with} if n in row_of) if t.evidence else [t.no]
        rows = [row_of[n] for n in group]
        adjacent = rows == list(range(rows[0], rows[0] + len(rows)))
        evidence: str | None
        if t.no == group[0]:
            evidence = format_evidence_list([e.title for e in t.evidence])
            if len(group) > 1 and adjacent:
                merged.append(rows)
        else:
            evidence = None if adjacent else f"同第{group[0]}项"
        values: list[object] = [
            t.lead, f"{t.no}.{t.text}", t.deadline_raw, "、".join(t.cooperating) or "/", evidence,
            _RECURRENCE_LABELS.get(t.recurrence) if t.recurrence else None,
            "\n".join(_target_line(x) for x in t.targets) or None,
            f"见备注{'、'.join(str(n) for n in cites[t.no])}" if t.no in cites else None,
        ]
        for c, value in enumerate(values, start=1):
            cell = write_cell(ws, r, c, value)
            cell.alignment, cell.border = _WRAP_TOP, _BORDER
            cell.number_format = "@"  # text: Excel would read 2023.10 as the number 2023.1
    return merged


def _merge_runs(ws: Any, plan: PlanSpec, row_of: dict[int, int]) -> None:
    """Merge the 牵头单位 cells of consecutive tasks with the same lead, as the table does."""
    start = 0
    tasks = list(plan.tasks)
    for i in range(1, len(tasks) + 1):
        if i == len(tasks) or tasks[i].lead != tasks[start].lead:
            if i - start > 1:
                ws.merge_cells(start_row=row_of[tasks[start].no], start_column=1, end_row=row_of[tasks[i - 1].no],
                               end_column=1)
            start = i
