"""Hostile plan tables, built from a valid .xlsx by rewriting its parts: for the import tests and bench_import.py.

Plain zipfile and strings (no openpyxl: the bench measures memory from a process that must stay small).
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

SHEET = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADINGS = ("牵头单位", "工作任务", "完成时间", "配合单位", "佐证材料")


def copy_with(src: Path, dst: Path, member: str, chunks: Iterable[bytes]) -> Path:
    """Copy an .xlsx with one member written anew from `chunks` (streamed: a bomb is never whole in memory)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != member:
                zout.writestr(info, zin.read(info))
        with zout.open(member, "w", force_zip64=True) as out:
            for chunk in chunks:
                out.write(chunk)
    return dst


def with_merges(src: Path, dst: Path, refs: Iterable[str]) -> Path:
    """Copy a table with merged ranges added to its (first) sheet, which has some already."""
    with zipfile.ZipFile(src) as zf:
        xml = zf.read(SHEET)
    extra = "".join(f'<mergeCell ref="{ref}"/>' for ref in refs).encode()
    return copy_with(src, dst, SHEET, [xml.replace(b"</mergeCells>", extra + b"</mergeCells>")])


def one_cell(src: Path, dst: Path, megabytes: int) -> Path:
    """Copy a table with its sheet replaced by one cell of `megabytes` MB of one letter: it packs a thousand to one."""
    def xml() -> Iterator[bytes]:
        yield f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'.encode()
        for _ in range(megabytes):
            yield b"A" * (1 << 20)
        yield b"</t></is></c></row></sheetData></worksheet>"

    return copy_with(src, dst, SHEET, xml())


def text_cell(ref: str, text: str) -> str:
    """Return a cell holding text, as Excel writes an inline string."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows: Iterable[Sequence[str]]) -> Iterator[bytes]:
    """Yield a sheet of text cells (up to 26 columns): the five headings in its first row, `rows` below, in chunks."""
    yield f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode()
    chunk: list[str] = []
    for r, texts in enumerate(itertools.chain([HEADINGS], rows), start=1):
        chunk.append(f'<row r="{r}">' + "".join(text_cell(f"{chr(65 + c)}{r}", t) for c, t in enumerate(texts))
                     + "</row>")
        if len(chunk) == 1000:
            yield "".join(chunk).encode()
            chunk = []
    yield ("".join(chunk) + "</sheetData></worksheet>").encode()
