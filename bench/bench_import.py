"""Plan import time and memory: a 1,000-task table, a merge bomb and a zip bomb beside the shipped plan's table.

    .venv/bin/python bench/bench_import.py                 # 3 rounds, about a minute
    .venv/bin/python bench/bench_import.py --at-limits     # also tables built right up to each limit (slower)

Every import is a real `duban plan import FILE` process on a copy of the same database (the shipped plan loaded),
so that each round does the same work. The baseline is the shipped 63-task plan as `duban export plan` writes it;
the cases run interleaved with it, round after round, and each figure is given as min and median:
- "thousand_tasks": the shipped plan's tasks repeated to 1,000 (a large district's plan), a new plan;
- "merge_bomb": the shipped table with `<mergeCell ref="J100:XFD1048576"/>` added (clipped: imports as the plan);
- "zip_bomb": a table whose one cell is 400 MB of one letter, 0.4 MB packed (refused from the zip directory);
- with --at-limits: a sheet of 200,000 cells, 199,000 shared strings, 119,000 cell styles (refused or not, but
  read as far as the limits allow).

Measured from outside the importing process: seconds from spawn to exit (Python's start-up included, as a user
waits for it; the baseline shows what it costs), and peak memory as the child's ru_maxrss from os.wait4. The
child is started with posix_spawn, whose exec counts the parent's peak in the child's: this process therefore
never imports duban or openpyxl (the 1,000-task table is written by a child), and its own peak, the floor under
every figure, is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_tables import MAIN_NS, SHEET, copy_with, one_cell, sheet_xml, with_merges

THOUSAND = """
import dataclasses, sys
from pathlib import Path
from bot.planfiles.yamlfile import default_plan_path, default_units_path, load_plan_file, load_units_file
from bot.planfiles.excel import write_plan_sheet
seed = load_plan_file(default_plan_path(), load_units_file(default_units_path()))
n, per = int(sys.argv[2]), len(seed.tasks)
tasks = []
for i in range(n):
    t, shift = seed.tasks[i % per], i // per * per
    tasks.append(dataclasses.replace(t, no=t.no + shift, evidence_shared_with=tuple(
        s + shift for s in t.evidence_shared_with if s + shift <= n)))
write_plan_sheet(dataclasses.replace(seed, key=f"bench-{n}", title=f"{seed.title}（{n}项）", tasks=tuple(tasks), notes=()),
                 Path(sys.argv[1]))  # a title of its own: a plan of its own, not the shipped one updated
"""


def env_for(state: Path) -> dict[str, str]:
    """Return the environment of a `duban` process on the state directory `state`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(DUBAN_STATE_DIR=str(state), DUBAN_DATABASE_URL=f"sqlite+aiosqlite:///{state / 'duban.db'}",
               DUBAN_TODAY="2023-10-20", DUBAN_LOG_LEVEL="CRITICAL", COLUMNS="1000")
    return env


def duban(state: Path, *argv: str) -> None:
    """Run a `duban` command to prepare the bench (not measured)."""
    subprocess.run([sys.executable, "-m", "bot", *argv], env=env_for(state), check=True, capture_output=True)


def merge_bomb(seed: Path, out: Path) -> Path:
    return with_merges(seed, out, ["J100:XFD1048576"])


def zip_bomb(seed: Path, out: Path) -> Path:
    return one_cell(seed, out, 400)


def many_cells(seed: Path, out: Path) -> Path:
    """A table under the five headings whose every row fills 25 columns: 200,000 cells, the limit."""
    rows = ([f"{r}-{c}" for c in range(25)] for r in range(2, 8_001))
    return copy_with(seed, out, SHEET, sheet_xml(rows))


def many_strings(seed: Path, out: Path, strings: int = 199_000) -> Path:
    """A sheet of shared-string cells, every one a string of its own: the shared strings at their limit."""
    tmp = copy_with(seed, out.with_suffix(".tmp"), SHEET, iter([
        f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode(),
        *((f'<row r="{r + 1}">' + "".join(f'<c r="{chr(65 + c)}{r + 1}" t="s"><v>{r * 20 + c}</v></c>'
                                          for c in range(20)) + "</row>").encode() for r in range(strings // 20)),
        b"</sheetData></worksheet>"]))
    types = b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.' \
            b'spreadsheetml.sharedStrings+xml"/></Types>'
    rel = (b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
           b'Target="sharedStrings.xml" Id="rId99"/></Relationships>')
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", types)
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", rel)
            zout.writestr(info, data)
        with zout.open("xl/sharedStrings.xml", "w") as f:
            f.write(f'<sst xmlns="{MAIN_NS}">'.encode())
            for k in range(strings):
                f.write(f"<si><t>{k:08d}{'水' * 20}</t></si>".encode())
            f.write(b"</sst>")
    tmp.unlink()
    return out


def many_styles(seed: Path, out: Path, styles: int = 119_000) -> Path:
    """The shipped table with its cell styles grown to the formatting limit."""
    with zipfile.ZipFile(seed) as zf:
        xml = zf.read("xl/styles.xml")
    head, _, tail = xml.partition(b"</cellXfs>")
    return copy_with(seed, out, "xl/styles.xml", iter([head, b"<xf/>" * styles, b"</cellXfs>", tail]))


def run_import(template: Path, work: Path, table: Path) -> tuple[float, float, int, str]:
    """Import `table` in a fresh copy of the template state; return (seconds, peak RSS MB, exit status, last words)."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    said = work / "stderr.txt"
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, str(said), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    start = time.perf_counter()
    pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "bot", "plan", "import", str(table)], env_for(work),
                         file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    words = said.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), words[-1] if words else ""


def summary(values: list[float], digits: int) -> dict[str, float]:
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


def run(repeats: int, at_limits: bool, where: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=where, prefix="duban-bench-import-") as d:
        root = Path(d)
        template = root / "template"
        duban(template, "export", "plan", "--out", str(root / "shipped.xlsx"))  # also loads the shipped plan
        seed = root / "shipped.xlsx"
        subprocess.run([sys.executable, "-c", THOUSAND, str(root / "thousand.xlsx"), "1000"], check=True)
        builders: dict[str, Callable[[Path, Path], Path]] = {"merge_bomb": merge_bomb, "zip_bomb": zip_bomb}
        if at_limits:
            builders.update(cells_at_limit=many_cells, strings_at_limit=many_strings, styles_at_limit=many_styles)
        tables = {"baseline_shipped_63": seed, "thousand_tasks": root / "thousand.xlsx"}
        tables.update({name: build(seed, root / f"{name}.xlsx") for name, build in builders.items()})
        runs: dict[str, list[tuple[float, float, int, str]]] = {name: [] for name in tables}
        for _ in range(repeats):
            for name, table in tables.items():
                runs[name].append(run_import(template, root / "work", table))
        results = {}
        for name, table in tables.items():
            done = runs[name]
            results[name] = {
                "file_kb": round(table.stat().st_size / 1024, 1),
                "exit_status": done[0][2], "said": done[0][3],
                "seconds": summary([r[0] for r in done], 3), "peak_rss_mb": summary([r[1] for r in done], 1),
            }
    return {
        "bench": "import", "python": sys.version.split()[0], "repeats": repeats, "results": results,
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "target_peak_rss_mb": 300,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="rounds, each importing every table once (default 3)")
    p.add_argument("--at-limits", action="store_true", help="also tables built up to the limits")
    p.add_argument("--dir", default=None, help="where to put the temporary files (default: the system temp dir)")
    a = p.parse_args()
    print(json.dumps(run(a.repeats, a.at_limits, a.dir), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
