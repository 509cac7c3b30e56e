"""Plan tables in Word: read a 任务分工表 as an office receives it, attached to a 公文 as a .docx.

What such a document holds, in order: an 附件N line and the title as paragraphs; one table (or several, when
the typist broke it at a page) whose header row names the columns 序号, 工作任务, 牵头单位, 完成时间, 配合单位,
佐证材料 (in any order, with the aliases the Excel reader knows); then the 备注 paragraphs (or 备注 rows at the
foot of the table). Merged cells are read as Word shows them: a cell merged down (w:vMerge) or across
(w:gridSpan) covers every grid position it spans. A 牵头单位 merged over several rows leads each of them; a
佐证材料 cell merged over two tasks is one list they share. A row with no 序号 continues the task above
(a row the typist split at a page break): its text is joined to that task. Every value taken this way, rather
than written in the row's own cell, is reported as an Inference for a person to confirm.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from lxml import etree

from bot.core.checkins import cadence_from
from bot.core.errors import PlanFileError
from bot.core.plan import PlanSpec
from bot.core.units import UnitRegistry
from bot.planfiles.cells import (
    ATTACHMENT,
    COOPERATING,
    DEADLINE,
    EVIDENCE,
    FIELD_LABELS,
    LEAD,
    NONE_WORDS,
    NOTE_LINE,
    NOTES_HEADING,
    NUMBER,
    REQUIRED_COLUMNS,
    SAME_AS,
    TASK_NO,
    TEXT,
    UNIT_SEPARATORS,
    CellError,
    TaskRow,
    build_tasks,
    checkin_said,
    cooperating_units,
    district_of,
    evidence_titles,
    heading,
    match_unit,
    one_line,
    place_of,
    plan_year,
    read_deadline,
    read_notes,
    recurrence_in_text,
)
from bot.planfiles.limits import LIMITS, PlanFileLimits, check_package
from bot.planfiles.result import (
    CONTINUED_ROW,
    FROM_NOTE,
    MERGED_CELL,
    ROW_ABOVE,
    SEQUENCE,
    Inference,
    ReadResult,
    short,
)

_HEADER_SCAN_ROWS = 10
_MAX_GRID_COLUMNS = 60  # a gridSpan can claim any width; the table never has this many columns
_SAME_AS_ABOVE = frozenset({"同上", "同上。"})
_NOTE_REFERENCE = re.compile(r"(?:见|详见|按|参照)?备注\s*(\d{1,3})?")
_DATE_IN_NOTE = (
    re.compile(r"(20\d{2})\s*年\s*(\d{1,2})\s*月"),
    re.compile(r"(20\d{2})\s*[.．]\s*(\d{1,2})(?!\d)"),
)
_FIELD_OF = {label: name for name, label in FIELD_LABELS.items() if label in REQUIRED_COLUMNS}  # 牵头单位 -> lead
_ITEM_START = re.compile(r"^\s*(?:[（(]\s*\d{1,3}\s*[)）]|\d{1,3}\s*[.．、]|[\u2460-\u2473\u3251-\u325f\u32b1-\u32bf])")


def load_plan_docx(path: Path, units: UnitRegistry, key: str | None = None) -> PlanSpec:
    """Read, validate and return a plan typed as a Word table; refuse naming the table, row and column."""
    return read_plan_docx(path, units, key).plan


def read_plan_docx(path: Path, units: UnitRegistry, key: str | None = None,
                   limits: PlanFileLimits = LIMITS) -> ReadResult:
    """Read a plan typed as a Word table, with every value that had to be inferred to read it."""
    if path.suffix.lower() in (".doc", ".wps"):
        raise PlanFileError(f"任务分工表 {path.name} 是旧版 Word 格式，请在 Word 或 WPS 中另存为 .docx 后再导入。")
    check_package(path, limits)
    try:
        document = docx.Document(str(path))
    except (OSError, zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError, etree.XMLSyntaxError) as exc:
        raise PlanFileError(f"任务分工表 {path.name} 无法读取（须为 Word .docx 文件）：{exc}") from exc
    body = document.element.body
    rows = sum(1 for _ in body.iter(qn("w:tr")))
    if rows > limits.rows:
        raise PlanFileError(f"任务分工表 {path.name} 的表格共有 {rows} 行，超过了 {limits.rows} 行的上限，未导入。")
    return _Reader(path, units, limits).read(body, key)


# ---- the document as Word shows it --------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """What Word shows at one grid position: the text of the cell covering it, and where that cell starts."""

    paragraphs: tuple[tuple[str, bool], ...]  # (text, numbered by Word's own list numbering)
    origin: tuple[int, int]  # (row, grid column) where the (merged) cell starts

    @property
    def text(self) -> str:
        """Return the paragraphs, one per line."""
        return "\n".join(text for text, _ in self.paragraphs).strip()

    @property
    def listed_text(self) -> str:
        """Return the text with Word's automatic list numbers written out as (1), (2) …."""
        lines, n = [], 0
        for text, numbered in self.paragraphs:
            if numbered and text.strip():
                n += 1
                text = f"({n}){text}"
            lines.append(text)
        return "\n".join(lines).strip()

    @property
    def numbered(self) -> bool:
        """Return whether Word numbers this cell itself (an automatic 序号)."""
        return any(numbered for _, numbered in self.paragraphs)


def _paragraph_text(p: Any) -> str:
    """Return a paragraph's text as shown, tracked insertions included (deleted text is w:delText, not w:t)."""
    parts = []
    for e in p.iter(qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")):
        if e.tag == qn("w:t"):
            parts.append(e.text or "")
        else:
            parts.append("\t" if e.tag == qn("w:tab") else "\n")
    return "".join(parts)


def _is_numbered(p: Any) -> bool:
    """Return whether Word numbers the paragraph itself (w:numPr): its number is not part of its text."""
    ppr = p.find(qn("w:pPr"))
    return ppr is not None and ppr.find(qn("w:numPr")) is not None


def _blocks(element: Any) -> Iterator[Any]:
    """Yield the paragraphs and tables of the body in order, looking inside content controls."""
    for child in element.iterchildren():
        if child.tag in (qn("w:p"), qn("w:tbl")):
            yield child
        elif child.tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _blocks(content)


class _Table:
    """One table with merged cells resolved; builds refusals naming the file, table, row and column."""

    def __init__(self, reader: _Reader, number: int, tbl: Any) -> None:
        self.reader = reader
        self.number = number
        grid = tbl.find(qn("w:tblGrid"))
        declared = len(grid.findall(qn("w:gridCol"))) if grid is not None else 0
        self.rows: list[list[_Cell | None]] = []
        for r, tr in enumerate(tbl.iterchildren(qn("w:tr"))):
            row: list[_Cell | None] = []
            trpr = tr.find(qn("w:trPr"))
            before = trpr.find(qn("w:gridBefore")) if trpr is not None else None
            row.extend([None] * min(_grid_count(before, 0), _MAX_GRID_COLUMNS))
            for tc in tr.iterchildren(qn("w:tc")):
                if len(row) >= _MAX_GRID_COLUMNS:
                    break
                tcpr = tc.find(qn("w:tcPr"))
                spans = _grid_count(tcpr.find(qn("w:gridSpan")) if tcpr is not None else None, 1)
                span = min(spans, _MAX_GRID_COLUMNS - len(row))
                vmerge = tcpr.find(qn("w:vMerge")) if tcpr is not None else None
                col = len(row)
                above = self.rows[r - 1][col] if r > 0 and col < len(self.rows[r - 1]) else None
                if vmerge is not None and vmerge.get(qn("w:val"), "continue") == "continue" and above is not None:
                    cell = above  # Word shows the cell above, stretched down
                else:
                    cell = _Cell(self._paragraphs(tc, r, col), (r, col))
                row.extend([cell] * span)
            self.rows.append(row)
        self.width = max([min(declared, _MAX_GRID_COLUMNS), *(len(row) for row in self.rows)], default=0)

    def _paragraphs(self, tc: Any, row: int, col: int) -> tuple[tuple[str, bool], ...]:
        """Return a cell's paragraphs (those of a table nested in it are not the plan's)."""
        found = tuple((_paragraph_text(p), _is_numbered(p)) for p in tc.xpath("./w:p | ./w:sdt/w:sdtContent/w:p"))
        if sum(len(text) for text, _ in found) > self.reader.limits.cell_chars:
            raise self.fail(row, f"第{col + 1}列",
                            f"一个单元格超过了 {self.reader.limits.cell_chars} 字的上限，未导入")
        return found

    def at(self, row: int, col: int) -> _Cell | None:
        """Return the cell covering a grid position (None where the row has no cell there)."""
        cells = self.rows[row]
        return cells[col] if col < len(cells) else None

    def own(self, row: int, col: int) -> str:
        """Return the text written in this row's own cell ("" for a cell merged down from above)."""
        cell = self.at(row, col)
        return cell.text if cell is not None and cell.origin[0] == row else ""

    def fail(self, row: int, column: str, detail: str) -> PlanFileError:
        """Return a refusal naming the file, table, row and column."""
        table = f"第{self.number}个表格" if self.reader.tables > 1 else "表格"
        col = f"「{column}」列" if column in _FIELD_OF or column == NUMBER else column
        return PlanFileError(f"任务分工表 {self.reader.path.name} {table}第{row + 1}行{col}：{detail}")


def _grid_count(element: Any, default: int) -> int:
    """Return the value of a w:gridSpan or w:gridBefore element (`default` when absent or unreadable)."""
    if element is None:
        return default
    try:
        return max(default, int(element.get(qn("w:val"), "")))
    except ValueError:
        return default


# ---- reading the plan ---------------------------------------------------------------------------


@dataclass
class _Pending:
    """A task row being read: the text of each column, and the cells it came from (to join a continuation)."""

    table: _Table
    row: int
    texts: dict[str, str]
    origins: dict[str, tuple[int, int] | None]
    number: str
    numbered: bool
    continued: list[tuple[str, str]] = field(default_factory=list)  # (column, text joined from a continuation row)


class _Reader:
    """Reads one document: the paragraphs above the table, the task rows, the notes below."""

    def __init__(self, path: Path, units: UnitRegistry, limits: PlanFileLimits) -> None:
        self.path = path
        self.units = units
        self.limits = limits
        self.tables = 0
        self.partial: PlanFileError | None = None  # a header row missing columns, in case no table has them all
        self.inferred: list[Inference] = []

    def read(self, body: Any, key: str | None) -> ReadResult:
        """Read the body: title and 附件 line, the task tables, the notes."""
        blocks = list(_blocks(body))
        self.tables = sum(1 for b in blocks if b.tag == qn("w:tbl"))
        above: list[str] = []
        notes: list[str] = []
        pending: list[_Pending] = []
        columns: dict[str, int] | None = None
        width = 0
        number = 0
        for block in blocks:
            if block.tag == qn("w:p"):
                text = _paragraph_text(block).strip()
                if text:
                    (notes if columns is not None else above).append(text)
                continue
            number += 1
            table = _Table(self, number, block)
            header = self._header(table)
            if header is not None:
                header_row, columns = header
                width = table.width
                if not pending:
                    above.extend(self._texts_above(table, header_row))
            elif columns is None or table.width != width:
                continue  # a table for layout (a letterhead, a signature block): not part of the plan
            else:
                header_row = -1  # the table goes on after a page without repeating its header
            notes.clear()  # paragraphs between two parts of the table ("续表") are not notes
            self._rows(table, header_row, columns, pending, notes)
        if columns is None and self.partial is not None:
            raise self.partial
        if columns is None:
            need = "、".join(REQUIRED_COLUMNS)
            raise PlanFileError(f"任务分工表 {self.path.name} 中找不到带表头的表格（表头须有：{need}）")
        if not pending:
            raise PlanFileError(f"任务分工表 {self.path.name} 的表格中表头下面没有任何任务行")
        return self._plan(above, pending, notes, key)

    def _header(self, table: _Table) -> tuple[int, dict[str, int]] | None:
        """Return (row, grid column of each heading) of the table's header row, if it has one."""
        for r in range(min(len(table.rows), _HEADER_SCAN_ROWS)):
            columns: dict[str, int] = {}
            for c in range(table.width):
                cell = table.at(r, c)
                name = heading(cell.text) if cell is not None and cell.origin == (r, c) else None
                if name is not None:
                    columns.setdefault(name, c)
            found = sum(1 for name in REQUIRED_COLUMNS if name in columns)
            if found == len(REQUIRED_COLUMNS):
                return r, columns
            if found >= 2 and self.partial is None:
                missing = "、".join(f"「{n}」" for n in REQUIRED_COLUMNS if n not in columns)
                self.partial = table.fail(r, "", f"表头缺少{missing}列（需要：{'、'.join(REQUIRED_COLUMNS)}）")
        return None

    def _texts_above(self, table: _Table, header_row: int) -> list[str]:
        """Return the text of rows above the header (a title typed into the table's first row)."""
        texts: list[str] = []
        for r in range(header_row):
            seen: set[tuple[int, int]] = set()
            for cell in table.rows[r]:
                if cell is not None and cell.origin not in seen and cell.origin[0] == r and cell.text:
                    seen.add(cell.origin)
                    texts.append(cell.text)
        return texts

    def _rows(self, table: _Table, header_row: int, columns: dict[str, int], pending: list[_Pending],
              notes: list[str]) -> None:
        """Sort the rows below the header into task rows, continuation rows, notes and repeated headers."""
        main = [columns[n] for n in REQUIRED_COLUMNS]
        header_cells = [table.at(header_row, c) for c in main] if header_row >= 0 else []
        header_end = max((cell.origin[0] for cell in header_cells if cell is not None), default=header_row)
        headings = {heading(cell.text) for cell in header_cells if cell is not None} or set(REQUIRED_COLUMNS)
        # Only where tasks are numbered can a row without a number be the rest of the task above.
        numbered_tasks = NUMBER in columns or any(TASK_NO.match(table.own(r, columns[TEXT])) for r in range(len(table.rows)))
        for r in range(header_end + 1, len(table.rows)):
            cells = {id(table.at(r, c)) for c in main}
            written = [table.own(r, c) for c in main]
            number = table.own(r, columns[NUMBER]) if NUMBER in columns else ""
            if notes or any(NOTES_HEADING.match(t) for t in written) or (
                    len(cells) == 1 and NOTE_LINE.match(written[0])):
                notes.extend(t for i, t in enumerate(written) if t and t not in written[:i])
                continue
            if not any(written) and not number:
                continue
            if len(cells) == 1:
                continue  # a row across the whole table: a section heading such as 一、节水管理
            if {heading(t) for t in written} == headings:
                continue  # the header repeated on the next page
            number_cell = table.at(r, columns[NUMBER]) if NUMBER in columns else None
            numbered = number_cell is not None and number_cell.origin[0] == r and number_cell.numbered
            text = table.own(r, columns[TEXT])
            if pending and numbered_tasks and not number and not numbered and not TASK_NO.match(text):
                self._join(pending[-1], table, r, columns)
                continue
            if len(pending) >= self.limits.tasks:
                raise table.fail(r, "", f"任务超过了 {self.limits.tasks} 项的上限，未导入")
            cells_of = {n: table.at(r, columns[n]) for n in REQUIRED_COLUMNS}
            pending.append(_Pending(
                table=table, row=r, number=number, numbered=numbered,
                texts={n: _column_text(n, cell) for n, cell in cells_of.items()},
                origins={n: cell.origin if cell is not None else None for n, cell in cells_of.items()},
            ))

    def _join(self, task: _Pending, table: _Table, row: int, columns: dict[str, int]) -> None:
        """Join a row split off at a page break to its task: each column's text continues the one above."""
        for name in REQUIRED_COLUMNS:
            cell = table.at(row, columns[name])
            if cell is None or (table is task.table and cell.origin == task.origins[name]) or cell.origin[0] != row:
                continue  # merged with the task's own cell: nothing new
            more = _column_text(name, cell)
            if not more:
                continue
            task.texts[name] = _joined(name, task.texts[name], more, self.units)
            task.continued.append((name, more))

    def _plan(self, above: list[str], pending: list[_Pending], note_lines: list[str], key: str | None) -> ReadResult:
        """Turn the rows into tasks, read the notes, and name the plan."""
        attachment = next((found for t in above if (found := _attachment(t))), "")
        said = next((found for t in above if (found := checkin_said(t))), None)  # 进展报送：每季度, as in Excel
        title = "".join(one_line(t) for t in above if not _attachment(t) and not checkin_said(t))
        year = plan_year(title, ("".join(p.texts[DEADLINE].split()) for p in pending))
        if year is None:
            first = pending[0]
            raise first.table.fail(first.row, DEADLINE, "无法确定计划年度：标题中没有“20xx年”，完成时间也都没有写年份")
        rows = self._task_rows(pending, year)
        self._deadlines_from_notes(rows, note_lines, year)
        try:
            tasks = build_tasks([r for r, _ in rows], year)
        except CellError as exc:
            task = pending[exc.row]
            raise task.table.fail(task.row, EVIDENCE, exc.detail) from exc
        try:
            notes = read_notes(note_lines, tasks, None)
        except CellError as exc:
            raise PlanFileError(f"任务分工表 {self.path.name} 的{exc.detail}") from exc
        stem = "-".join(self.path.stem.split())
        plan = PlanSpec(key=key or f"plan-{year}-{stem}", title=title or self.path.stem, attachment=attachment,
                        year=year, tasks=tasks, notes=notes, district=district_of(title), source=str(self.path),
                        checkin=cadence_from(said or "每月"))
        return ReadResult(plan, tuple(self.inferred), checkin_said=said is not None)

    def _task_rows(self, pending: list[_Pending], year: int) -> list[tuple[TaskRow, _Pending]]:
        """Read each task: number, lead, text, deadline, cooperating units and evidence."""
        rows: list[tuple[TaskRow, _Pending]] = []
        seen: dict[int, _Pending] = {}
        previous: TaskRow | None = None
        for index, p in enumerate(pending):
            table, r = p.table, p.row
            text = one_line(p.texts[TEXT])
            if not text:
                raise table.fail(r, TEXT, "不能为空")
            no, text = self._number(p, text, previous.no if previous else 0)
            if no in seen:
                raise table.fail(r, NUMBER if p.number else TEXT,
                                 f"序号{no}重复（第{seen[no].row + 1}行已是第{no}项任务）")
            seen[no] = p
            for name, more in p.continued:
                self.inferred.append(Inference(
                    no, _FIELD_OF[name], more, one_line(p.texts[name]), CONTINUED_ROW,
                    f"{place_of(no, _FIELD_OF[name])}在下一行（跨页）续写的“{short(one_line(more))}”已接在上一行之后"))
            lead = self._lead(p, no, previous)
            deadline_text, how, cell = self._from_above(p, DEADLINE, previous.deadline_raw if previous else "")
            if _NOTE_REFERENCE.fullmatch("".join(deadline_text.split())):
                deadline_raw, recurrence = deadline_text, None  # read from the note once notes are read
            else:
                try:
                    deadline = read_deadline(deadline_text, year, no, self.inferred)
                except CellError as exc:
                    raise table.fail(r, DEADLINE, exc.detail) from exc
                deadline_raw, recurrence = deadline.raw, deadline.recurrence
            self._note_taken(no, DEADLINE, how, cell, deadline_raw)
            cooperating_text, how, cell = self._from_above(
                p, COOPERATING, "、".join(previous.cooperating) if previous else "")
            try:
                cooperating = cooperating_units(cooperating_text, self.units, no, self.inferred)
            except CellError as exc:
                raise table.fail(r, COOPERATING, exc.detail) from exc
            self._note_taken(no, COOPERATING, how, cell, "、".join(cooperating) or "/")
            evidence_text = p.texts[EVIDENCE].strip()
            same = SAME_AS.match(evidence_text)
            same_as = int(same.group(1)) if same else (previous.no if previous and evidence_text in _SAME_AS_ABOVE
                                                          else None)
            try:
                titles = () if same_as is not None else evidence_titles(evidence_text)
            except CellError as exc:
                raise table.fail(r, EVIDENCE, exc.detail) from exc
            origin = p.origins[EVIDENCE]
            previous = TaskRow(
                row=index, no=no, lead=lead, text=text, deadline_raw=deadline_raw, cooperating=cooperating,
                evidence=titles, group=(p.table.number, *origin) if origin else None,
                same_as=same_as, recurrence=recurrence or recurrence_in_text(text), targets=(), note_nos=(),
            )
            rows.append((previous, p))
        return rows

    def _number(self, p: _Pending, text: str, previous: int) -> tuple[int, str]:
        """Return the task number (序号 column, Word's automatic numbering, "12." before the text, or the next one)."""
        m = TASK_NO.match(text)
        body = text[m.end():].strip() if m else text
        if p.number:
            written = "".join(unicodedata.normalize("NFKC", p.number).split()).rstrip(".、")
            if not written.isdecimal() or int(written) < 1:
                raise p.table.fail(p.row, NUMBER, f"应为正整数，实际是：“{p.number}”")
            return int(written), body
        if p.numbered:
            return previous + 1, body  # Word numbers the 序号 column itself: 1, 2, 3 … as printed
        if m:
            return int(m.group(1)), body
        self.inferred.append(Inference(previous + 1, "no", "", str(previous + 1), SEQUENCE,
                                       f"表格第{p.row + 1}行没有序号，按上一项顺延为第{previous + 1}项"))
        return previous + 1, body

    def _lead(self, p: _Pending, no: int, previous: TaskRow | None) -> str:
        """Return the lead unit: the row's own, the merged cell's, or (blank, 同上) the one of the row above."""
        written, how, cell = self._from_above(p, LEAD, previous.lead if previous else "")
        if not written:
            raise p.table.fail(p.row, LEAD, "不能为空（上方也没有可沿用的牵头单位）")
        try:
            lead = match_unit(self.units, one_line(written), no, "lead", self.inferred)
        except CellError as exc:
            raise p.table.fail(p.row, LEAD, exc.detail) from exc
        self._note_taken(no, LEAD, how, cell, lead)
        return lead

    @staticmethod
    def _from_above(p: _Pending, name: str, above: str) -> tuple[str, str, str]:
        """Return a column's value, how it was taken ("": written in the row's cell, MERGED_CELL, ROW_ABOVE), the cell.

        A cell merged down from above shows the merged cell's text; a blank 牵头单位, or 同上, takes the row above.
        """
        origin = p.origins[name]
        text = one_line(p.texts[name]) if name != COOPERATING else p.texts[name].strip()
        if origin is not None and origin[0] < p.row and text:
            return text, MERGED_CELL, ""
        if (text in _SAME_AS_ABOVE or (not text and name == LEAD)) and above:
            return above, ROW_ABOVE, text
        return text, "", text

    def _note_taken(self, no: int, name: str, how: str, cell: str, taken: str) -> None:
        """Record a value not written in the row's own cell (`cell`: what the cell says), as the value taken."""
        place = place_of(no, _FIELD_OF[name])
        if how == MERGED_CELL:
            self.inferred.append(Inference(no, _FIELD_OF[name], "", taken, MERGED_CELL, f"{place}取自合并单元格：{taken}"))
        elif how == ROW_ABOVE:
            self.inferred.append(Inference(no, _FIELD_OF[name], cell, taken, ROW_ABOVE,
                                           f"{place}{f'写作“{cell}”' if cell else '空白'}，沿用上一行：{taken}"))

    def _deadlines_from_notes(self, rows: list[tuple[TaskRow, _Pending]], note_lines: list[str], year: int) -> None:
        """Read the deadline of a task whose 完成时间 says 见备注N from that note."""
        waiting = [(row, p) for row, p in rows if _NOTE_REFERENCE.fullmatch("".join(row.deadline_raw.split()))]
        if not waiting:
            return
        try:
            notes = {n.no: n.text for n in read_notes(note_lines, (), None)}
        except CellError as exc:
            raise PlanFileError(f"任务分工表 {self.path.name} 的{exc.detail}") from exc
        for row, p in waiting:
            written = row.deadline_raw
            ref = _NOTE_REFERENCE.fullmatch("".join(written.split()))
            wanted = int(ref.group(1)) if ref and ref.group(1) else (next(iter(notes)) if len(notes) == 1 else None)
            note = notes.get(wanted) if wanted is not None else None
            found = _deadline_in(note, year) if note else None
            if found is None:
                which = f"备注{wanted}" if wanted is not None else "备注"
                raise p.table.fail(p.row, DEADLINE, f"写作“{written}”，但{which}中没有找到完成时间（如 2023年10月）")
            row.deadline_raw = found
            self.inferred.append(Inference(row.no, "deadline", written, found, FROM_NOTE,
                                           f"{place_of(row.no, 'deadline')}写作“{written}”，从备注{wanted}读出：{found}"))


def _attachment(text: str) -> str | None:
    """Return the 附件 line as the plan keeps it ("附件 2：" -> "附件2"), if the text is one."""
    compact = "".join(text.split()).rstrip("：:")
    return compact if ATTACHMENT.match(compact) else None


def _column_text(name: str, cell: _Cell | None) -> str:
    """Return a cell's text, with Word's list numbers written out in the evidence column."""
    if cell is None:
        return ""
    return cell.listed_text if name == EVIDENCE else cell.text


def _deadline_in(note: str, year: int) -> str | None:
    """Return the first year and month a note gives ("2023年10月" -> "2023.10"), or 全年."""
    for pattern in _DATE_IN_NOTE:
        m = pattern.search(note)
        if m and 1 <= int(m.group(2)) <= 12:
            return f"{m.group(1)}.{int(m.group(2))}"
    return "全年" if "全年" in note else None


def _joined(name: str, above: str, more: str, units: UnitRegistry) -> str:
    """Join a column's text continued on the next row: Chinese text runs on; a new item or unit starts afresh."""
    if "".join(above.split()) in NONE_WORDS:
        return more
    if name == EVIDENCE and _ITEM_START.match(more):
        return f"{above}\n{more}"
    if name == COOPERATING and not UNIT_SEPARATORS.match(more[:1]) and not UNIT_SEPARATORS.match(above[-1:]):
        # A unit name broken at the page ("区住房和城乡" / "建设局") runs on; a further unit starts afresh.
        tail = UNIT_SEPARATORS.split(above)[-1]
        head = UNIT_SEPARATORS.split(more)[0]
        return above + more if units.get(tail + head) else f"{above}、{more}"
    return above + more
