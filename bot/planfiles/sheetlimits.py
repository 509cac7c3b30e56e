"""How big a plan table (.xlsx) may be, checked before openpyxl reads it, so that no file can exhaust memory.

A district's plan has tens of tasks, a large one a few hundred; the limits leave room for ten times that and stop
what no plan needs. The file is checked in two passes that hold nothing but counts:

1. the zip directory (`bot.planfiles.limits.check_package`, as for a Word table): the file's size, how many parts
   it has, each part's unpacked size and compression ratio — a zip bomb is refused here, before a byte is unpacked;
2. every XML part openpyxl could parse, streamed through expat: rows and cells of each sheet, shared strings,
   merged ranges, formatting of all parts together (openpyxl keeps an object for each element of it), and the
   size of one row or one shared string (openpyxl builds each whole before moving on). No DOCTYPE (an Excel file
   has none; entity expansion is the XML kind of bomb).

Merged ranges are collected here, not by openpyxl: loading a sheet in full, openpyxl makes an object for every cell
a merge covers, and one `<mergeCell ref="J100:XFD1048576"/>` is seventeen billion of them. The reader loads in
read-only mode (values streamed, merges ignored) and clips these ranges to the cells that hold values.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.etree import ElementTree
from xml.parsers import expat

from openpyxl.utils.cell import range_boundaries

from bot.core.errors import PlanFileError
from bot.planfiles.limits import LIMITS, check_package

# The zip directory's limits are a Word table's, but for the file (an .xlsx of a large plan is a few hundred KB)
# and the parts: openpyxl streams sheets and shared strings, and parses every other part whole.
XLSX_LIMITS = dataclasses.replace(
    LIMITS, file_mb=10, part_mb=10, part_mb_by_name=(("xl/worksheets/*.xml", 50), ("xl/sharedStrings.xml", 50)),
    rows=20_000)  # a sheet's rows, the header, blank and note rows included
MAX_TASKS = XLSX_LIMITS.tasks  # tasks in one plan, whatever its format
MAX_ROWS = XLSX_LIMITS.rows
MAX_CELL_CHARS = XLSX_LIMITS.cell_chars  # characters in one cell, whatever the format
MAX_CELLS = 200_000  # cells written in one sheet, formatted empty ones included; strings in the shared strings
MAX_MERGES = 10_000  # merged ranges in one sheet
# Elements outside the cells, all parts together: styles, names, column widths, merges, conditional formats…
# openpyxl keeps an object for each.
MAX_FORMATTING = 120_000
MAX_RECORD_ELEMENTS = 50_000  # in one row of a sheet, or one shared string (openpyxl builds each whole)
MAX_PART_ELEMENTS = 2_000_000  # in one part

_CHUNK = 1 << 20
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_ROW_OF = re.compile(r"(\d+)$")
SHEET, STRINGS, OTHER = "sheet", "strings", "other"


@dataclass(frozen=True)
class SheetScan:
    """What the first pass learnt of one worksheet."""

    title: str
    last_row: int  # the last row with a value (0: none)
    merges: tuple[tuple[int, int, int, int], ...]  # merged ranges as (first column, first row, last column, last row)


@dataclass
class _Budget:
    """Formatting elements counted so far, in all parts of the workbook."""

    used: int = 0


@dataclass
class _Count:
    """Running counts of one part; `fail` makes the refusal naming the part."""

    fail: Callable[[str], PlanFileError]
    kind: str  # SHEET, STRINGS or OTHER
    budget: _Budget
    elements: int = 0
    depth: int = 0
    record_depth: int = 0  # depth of the element openpyxl builds whole (row, si); 0: not inside one
    record_elements: int = 0
    records: int = 0
    in_data: bool = False  # inside a sheet's <sheetData>
    row: int = 0
    cells: int = 0
    cell_row: int = 0
    cell_has_value: bool = False
    last_row: int = 0
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)

    def is_record(self, tag: str) -> bool:
        """Tell whether an element starts a row of the sheet's cells, or a shared string."""
        return (self.kind == SHEET and self.in_data and tag == "row") or (self.kind == STRINGS and tag == "si")


class _Workbook:
    """An .xlsx archive being scanned part by part; each part is scanned once."""

    def __init__(self, zf: zipfile.ZipFile, label: str) -> None:
        self.zf = zf
        self.label = label
        self.names = set(zf.namelist())
        self.scanned: set[str] = set()
        self.budget = _Budget()

    def scan(self, name: str, count: _Count) -> _Count:
        """Stream one XML part through expat, keeping only counts; refuse what is over a limit."""
        self.scanned.add(name)
        with self.zf.open(name) as stream:
            _feed(stream, count)
        return count

    def part(self, name: str, kind: str = OTHER) -> _Count:
        """Return fresh counts for a part that is not a worksheet."""
        def fail(what: str) -> PlanFileError:
            return PlanFileError(f"{self.label} 中的 {name} {what}，不像是正常的任务分工表，未导入。")

        return _Count(fail, kind, self.budget)

    def sheet(self, title: str) -> _Count:
        """Return fresh counts for a worksheet."""
        def fail(what: str) -> PlanFileError:
            return PlanFileError(f"{self.label} 工作表「{title}」{what}，未导入。")

        return _Count(fail, SHEET, self.budget)

    def tree(self, name: str) -> ElementTree.Element:
        """Scan, then parse a small part whole (the workbook, relationships), as openpyxl does."""
        self.scan(name, self.part(name))
        try:
            return ElementTree.fromstring(self.zf.read(name))
        except ElementTree.ParseError as exc:
            raise PlanFileError(f"{self.label} 无法读取（须为 Excel .xlsx 文件）：{name} 不是有效的 XML") from exc

    def relationships(self, part: str) -> list[ElementTree.Element]:
        """Return a part's relationships (none when it has no .rels part)."""
        folder, base = posixpath.split(part)
        name = posixpath.join(folder, "_rels", f"{base}.rels")
        return list(self.tree(name).iter(_PACKAGE_RELS)) if name in self.names else []

    def parts(self) -> tuple[dict[str, str], str | None]:
        """Return each worksheet's part -> its title, and the shared strings' part, as the workbook relates them."""
        book = next((_target("", r) for r in self.relationships("") if r.get("Type", "").endswith("/officeDocument")),
                    "xl/workbook.xml")
        if book not in self.names:
            raise PlanFileError(f"{self.label} 无法读取（须为 Excel .xlsx 文件）：找不到工作簿 {book}")
        related = {r.get("Id"): r for r in self.relationships(book)}
        sheets: dict[str, str] = {}
        for sheet in self.tree(book).iter():
            rel = related.get(sheet.get(f"{{{_RELS}}}id")) if sheet.tag.rpartition("}")[2] == "sheet" else None
            if rel is not None and rel.get("Type", "").endswith("/worksheet"):
                sheets[_target(book, rel)] = sheet.get("name", "")
        strings = next((_target(book, r) for r in related.values() if r.get("Type", "").endswith("/sharedStrings")),
                       None)
        return sheets, strings


def scan_workbook(path: Path, label: str) -> dict[str, SheetScan]:
    """Check an .xlsx file against the limits, unpacking one chunk at a time; return each sheet's title -> its scan.

    Refuses (PlanFileError naming the limit) whatever is over, and a file that is no zip archive.
    """
    check_package(path, XLSX_LIMITS, kind="Excel .xlsx")
    with zipfile.ZipFile(path) as zf:
        book = _Workbook(zf, label)
        sheets, strings = book.parts()
        scans: dict[str, SheetScan] = {}
        for name in sorted(book.names - book.scanned):
            if name in sheets:
                count = book.scan(name, book.sheet(sheets[name]))
                scans[sheets[name]] = SheetScan(sheets[name], count.last_row, tuple(count.merges))
            elif name.endswith((".xml", ".rels")):  # pictures and the like are not parsed in read-only mode
                book.scan(name, book.part(name, STRINGS if name == strings else OTHER))
    return scans


def _target(part: str, rel: ElementTree.Element) -> str:
    """Return the part a relationship of `part` points to."""
    to = rel.get("Target", "")
    return to.lstrip("/") if to.startswith("/") else posixpath.normpath(posixpath.join(posixpath.dirname(part), to))


def _feed(stream: IO[bytes], count: _Count) -> None:
    """Parse a part with expat, counting as the elements go by."""
    parser = expat.ParserCreate(namespace_separator=" ")

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = name.rpartition(" ")[2]
        count.depth += 1
        count.elements += 1
        if count.elements > MAX_PART_ELEMENTS:
            raise count.fail(f"的元素超过了 {MAX_PART_ELEMENTS} 个")
        if count.record_depth:
            count.record_elements += 1
            if count.record_elements > MAX_RECORD_ELEMENTS:
                raise count.fail(f"的一行（或一个字符串）中元素超过了 {MAX_RECORD_ELEMENTS} 个")
        elif count.is_record(tag):
            _record(count, attrs)
        elif not count.in_data:
            count.budget.used += 1
            if count.budget.used > MAX_FORMATTING:
                raise count.fail(f"的格式信息（样式、名称、列宽、合并单元格、条件格式等）累计超过了 {MAX_FORMATTING} 项的上限")
        if count.kind == SHEET:
            _sheet_element(count, tag, attrs)

    def end(name: str) -> None:
        if count.depth == count.record_depth:
            count.record_depth = 0
        count.depth -= 1
        if count.kind != SHEET:
            return
        tag = name.rpartition(" ")[2]
        if tag == "c" and count.cell_has_value:
            count.last_row = max(count.last_row, count.cell_row)
            if count.last_row > MAX_ROWS:
                raise count.fail(f"第 {count.last_row} 行有内容，超过了 {MAX_ROWS} 行的上限")
        elif tag == "sheetData":
            count.in_data = False

    def doctype(*_args: object) -> None:
        raise count.fail("含有文档类型声明（DOCTYPE），Excel 保存的文件没有")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    try:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise count.fail(f"不是有效的 XML（第{exc.lineno}行第{exc.offset + 1}个字符处有误）") from exc


def _record(count: _Count, attrs: dict[str, str]) -> None:
    """Start a row of a sheet's cells, or a shared string: count it against its limit."""
    count.record_depth, count.record_elements = count.depth, 0
    count.records += 1
    if count.kind == STRINGS:
        if count.records > MAX_CELLS:
            raise count.fail(f"的字符串超过了 {MAX_CELLS} 个的上限")
        return
    if count.records > MAX_ROWS:
        raise count.fail(f"超过了 {MAX_ROWS} 行的上限")
    count.row = _number(attrs.get("r"), count.row + 1, count)


def _sheet_element(count: _Count, tag: str, attrs: dict[str, str]) -> None:
    """Note what a worksheet element adds: the cells begin or end, a cell, a value, a merged range."""
    if tag == "sheetData":
        count.in_data = True
    elif count.in_data and tag == "c":
        count.cells += 1
        if count.cells > MAX_CELLS:
            raise count.fail(f"的单元格超过了 {MAX_CELLS} 个的上限")
        found = _ROW_OF.search(attrs.get("r", ""))
        count.cell_row = _number(found.group(1) if found else None, count.row, count)
        count.cell_has_value = False
    elif count.in_data and tag in ("v", "is"):
        count.cell_has_value = True
    elif tag == "mergeCell" and not count.in_data:
        count.merges.append(_merge(attrs.get("ref", ""), count))


def _merge(ref: str, count: _Count) -> tuple[int, int, int, int]:
    """Return a merged range's (first column, first row, last column, last row), or refuse past MAX_MERGES."""
    if len(count.merges) >= MAX_MERGES:
        raise count.fail(f"的合并单元格超过了 {MAX_MERGES} 处的上限")
    try:
        bounds = range_boundaries(ref)
    except (TypeError, ValueError):
        bounds = (None, None, None, None)
    if any(b is None for b in bounds):
        raise count.fail(f"的合并单元格范围无法识别：“{ref}”")
    first_col, first_row, last_col, last_row = (int(b) for b in bounds if b is not None)
    return first_col, first_row, last_col, last_row


def _number(text: str | None, default: int, count: _Count) -> int:
    """Return a row number as written, or `default` when the row or cell does not say."""
    if text is None:
        return default
    if not text.isdigit() or len(text) > 7:
        raise count.fail(f"的行号无法识别：“{text}”")
    return int(text)
