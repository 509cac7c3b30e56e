"""Text that users and plan files bring stays text in every workbook duban writes: no cell becomes a formula.

A liaison uploads a file whose name is a formula, writes a progress note and gets a return reason that look like
formulas, and the plan itself is imported with task and item texts starting with =, +, - and @. Then every cell
of every workbook the coordinators export — the 台账 with its unit sheets, the bundle's index.xlsx, the plan
table — is read back: none holds a formula, and the texts read back as given.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TODAY, Chat
from openpyxl import load_workbook

from bot.app import App
from bot.cli.main import main
from bot.core.messages import Reply
from bot.planfiles.excel import load_plan_sheet, write_plan_sheet
from bot.planfiles.yamlfile import default_plan_path, load_plan_file

FILE_NAME = '=HYPERLINK("http:"&CHAR(47)&CHAR(47)&"evil.example","打开原件")'
TITLE = '=HYPERLINK("http://evil.example","2023年坪山区节水典范城市建设工作任务分工表")'
ITEM_1 = '=HYPERLINK("http://evil.example","通知原件")'
ITEM_2 = "+节水型学校创建材料（3家）"
NOTE = "@SUM(1+1)*cmd|' /C calc'!A0"
REASON = "-2+3 材料不全"
TEXT_PREFIX = {1: "@SUM(A1:A9)", 40: "=1+2", 41: "+3", 42: "-4"}  # task -> what its text now starts with


def hostile_plan(app: App, path: Path) -> Path:
    """Write the shipped plan as a table with a title, task texts and items that look like formulas."""
    spec = load_plan_file(default_plan_path(), app.units)
    write_plan_sheet(spec, path)
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    ws["A2"].value = TITLE
    ws["A2"].data_type = "s"  # a text cell, as staff typing '= into Excel would leave it
    row = {t.no: 4 + i for i, t in enumerate(spec.tasks)}
    for no, prefix in TEXT_PREFIX.items():
        task = spec.tasks[no - 1]
        ws.cell(row=row[no], column=2).value = f"{no}.{prefix}{task.text}"
    ws.cell(row=row[40], column=5).value = "；\n".join(
        f"({i}){t}" for i, t in enumerate([ITEM_1, ITEM_2, *(e.title for e in spec.tasks[39].evidence[2:])], 1))
    wb.save(path)
    return path


def cells(data: bytes | Path) -> Iterator[tuple[str, Any]]:
    """Yield (sheet title, cell) for every cell of every sheet of a workbook."""
    wb = load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                yield ws.title, cell


def formulas(data: bytes | Path) -> list[str]:
    return [f"{title}!{cell.coordinate}={cell.value}" for title, cell in cells(data) if cell.data_type == "f"]


def texts(data: bytes | Path) -> dict[str, Any]:
    """Return every text cell by its value, to look up how a given text came back."""
    return {cell.value: cell for _, cell in cells(data) if isinstance(cell.value, str)}


def file_of(replies: list[Reply]) -> Path:
    [reply] = replies
    assert reply.file is not None, reply.text
    return reply.file.path


@pytest.fixture
def cli_env(app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let `duban …` (bot.cli.main.main) work on the same database and state directory as the app."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(app.settings.state_dir))
    monkeypatch.setenv("DUBAN_DATABASE_URL", app.settings.db_url)
    monkeypatch.setenv("DUBAN_TODAY", TODAY.isoformat())


async def duban(*argv: str) -> int:
    """Run the `duban` command line (its own event loop, so in a thread)."""
    return await asyncio.to_thread(main, list(argv))


async def test_no_exported_cell_is_a_formula_and_texts_read_back(app: App, chat: Chat, tmp_path: Path,
                                                                cli_env: None) -> None:
    assert await duban("plan", "import", str(hostile_plan(app, tmp_path / "分工表.xlsx"))) == 0
    await chat.bind("li", "区教育局")
    assert "归入任务40" in await chat.text("li", "40-1", files=[(FILE_NAME, b"%PDF-1.4 notice")])
    assert "归入任务42" in await chat.text("li", "42-1", files=[("合同.pdf", b"%PDF-1.4 contract")])
    await chat.text("li", f"任务41进展：{NOTE}")
    assert "待审核" in await chat.text("li", "/done 42")
    assert "已退回" in await chat.text("admin", f"/return 42 {REASON}")

    ledger = file_of(await chat.say("admin", "/export"))
    with zipfile.ZipFile(file_of(await chat.say("admin", "/export 材料"))) as zf:
        index = zf.read("index.xlsx")
    assert await duban("export", "plan", "--out", str(tmp_path / "导出.xlsx")) == 0
    table = tmp_path / "导出.xlsx"

    for workbook in (ledger, index, table):
        assert formulas(workbook) == []
    spec = load_plan_file(default_plan_path(), app.units)
    hostile_texts = {no: prefix + spec.tasks[no - 1].text for no, prefix in TEXT_PREFIX.items()}

    ledger_cells = [cell for title, cell in cells(ledger) if title in ("台账", "区教育局", "区水务局")]
    for text in hostile_texts.values():
        shown = [c for c in ledger_cells if c.value == text]
        assert len(shown) == 2 and all(c.data_type == "s" and c.quotePrefix for c in shown)  # 台账 and the unit's sheet
    assert any(str(c.value).endswith(f"：{NOTE}") for c in ledger_cells)  # 最新进展

    in_index = texts(index)
    for text in (FILE_NAME, ITEM_1, ITEM_2):
        assert in_index[text].data_type == "s" and in_index[text].quotePrefix

    in_table = texts(table)
    assert in_table[TITLE].quotePrefix
    again = load_plan_sheet(table, app.units)
    assert again.title == TITLE
    assert {no: again.tasks[no - 1].text for no in TEXT_PREFIX} == hostile_texts
    assert [e.title for e in again.tasks[39].evidence[:2]] == [ITEM_1, ITEM_2]
