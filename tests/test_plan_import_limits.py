"""Hostile plan tables: `duban plan import` refuses them in Chinese, naming the limit, in bounded memory, importing
nothing — and a merge over the whole sheet is clipped to the table instead of taking the machine down.

Each file is built here (openpyxl, and zipfile in hostile_tables) and imported by `duban plan import` in a process of its own, which
reports its peak memory (VmHWM) as it ends; an address-space limit makes a regression fail fast instead of
growing to gigabytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hostile_tables import SHEET, copy_with, one_cell, sheet_xml, with_merges
from openpyxl import Workbook

from bot.planfiles.excel import write_plan_sheet
from bot.planfiles.sheetlimits import MAX_CELL_CHARS, MAX_MERGES, MAX_ROWS, MAX_TASKS
from bot.planfiles.yamlfile import default_plan_path, default_units_path, load_plan_file, load_units_file
from bot.store.store import open_store

PEAK_LIMIT_MB = 300
IMPORT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a regression dies here, not after eating the machine
from bot.cli.main import main
status = main(["plan", "import", sys.argv[1]])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]) // 1024, file=sys.stderr)
sys.exit(status)
"""


@dataclasses.dataclass
class Imported:
    """What `duban plan import` did: exit status, what it said, its peak memory."""

    status: int
    said: str
    peak_mb: int


def duban_import(state: Path, path: Path) -> Imported:
    """Run `duban plan import` on a file as its own process, with the state in `state`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(DUBAN_STATE_DIR=str(state), DUBAN_TODAY="2023-10-20", COLUMNS="500")  # one line per message
    done = subprocess.run([sys.executable, "-c", IMPORT, str(path)], cwd=path.parent, env=env, capture_output=True,
                          text=True)
    *said, last = done.stderr.strip().splitlines() or [""]
    return Imported(done.returncode, "\n".join(said), int(last) if last.isdigit() else -1)


def plan_keys(state: Path) -> list[str]:
    """Return the keys of the plans in the state directory's database."""
    async def read() -> list[str]:
        store = await open_store(f"sqlite+aiosqlite:///{state / 'duban.db'}", state)
        try:
            return [p.key for p in await store.plans.list_plans()]
        finally:
            await store.close()

    return asyncio.run(read())


def shipped_table(tmp: Path) -> Path:
    """Write the shipped plan as a table."""
    path = tmp / "seed.xlsx"
    write_plan_sheet(load_plan_file(default_plan_path(), load_units_file(default_units_path())), path)
    return path


def merges_over(tmp: Path, refs: Iterable[str]) -> Path:
    """The shipped plan's table with merged ranges added."""
    return with_merges(shipped_table(tmp), tmp / "hostile.xlsx", refs)


def empty_workbook(tmp: Path) -> Path:
    wb = Workbook()
    wb.active.title = "任务分工表"
    wb.save(tmp / "empty.xlsx")
    return tmp / "empty.xlsx"


def task_table(tmp: Path, tasks: int, text: str = "开展节水宣传") -> Path:
    """A table of `tasks` rows under the five headings."""
    rows = (["区水务局", f"{n}.{text}", "2023.10", "/", "/"] for n in range(1, tasks + 1))
    return copy_with(empty_workbook(tmp), tmp / "hostile.xlsx", SHEET, sheet_xml(rows))


def long_task_text(tmp: Path) -> Path:
    """A one-task table whose text is a million characters long (varied, so that it does not pack well)."""
    rng = random.Random(18)
    return task_table(tmp, 1, "".join(chr(0x4E00 + rng.randrange(20_000)) for _ in range(1_000_000)))


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "100k task rows": (lambda tmp: task_table(tmp, 100_000), f"超过了 {MAX_ROWS} 行的上限"),
    "2001 tasks": (lambda tmp: task_table(tmp, MAX_TASKS + 1), f"任务超过了 {MAX_TASKS} 项的上限"),
    "200 MB zip bomb": (lambda tmp: one_cell(empty_workbook(tmp), tmp / "hostile.xlsx", 200),
                        "xl/worksheets/sheet1.xml 解压后有 200 MB（压缩时 0.2 MB），超过了每个部件 50 MB 的上限"),
    "1000:1 compression": (lambda tmp: one_cell(empty_workbook(tmp), tmp / "hostile.xlsx", 20),
                           "超过了 100 倍的上限（疑似压缩炸弹）"),
    "1 MB cell": (long_task_text, f"B2 单元格有 1000002 个字，超过了每格 {MAX_CELL_CHARS} 字的上限"),
    "too many merges": (lambda tmp: merges_over(tmp, (f"J{n}:K{n}" for n in range(1, MAX_MERGES + 2))),
                        f"合并单元格超过了 {MAX_MERGES} 处的上限"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_table_is_refused_in_chinese_and_imports_nothing(kind: str, tmp_path: Path) -> None:
    build, refusal = HOSTILE[kind]
    path = build(tmp_path)
    state = tmp_path / "var"
    done = duban_import(state, path)
    assert done.status == 2, done.said
    assert refusal in done.said and "hostile.xlsx" in done.said
    assert "Traceback" not in done.said and "Error" not in done.said
    assert 0 < done.peak_mb < PEAK_LIMIT_MB
    assert plan_keys(state) == ["pingshan-2023"]  # the shipped plan, loaded on first start; nothing else


def test_merge_over_the_whole_sheet_is_clipped_to_the_table(tmp_path: Path) -> None:
    done = duban_import(tmp_path / "var", merges_over(tmp_path, ["J100:XFD1048576", "A70:XFD1048576"]))
    assert done.status == 0, done.said
    assert "已更新计划 pingshan-2023：新增0项，更新0项，未变63项" in done.said  # the shipped plan, unchanged
    assert 0 < done.peak_mb < PEAK_LIMIT_MB
