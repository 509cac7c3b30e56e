"""`duban export ledger|bundle|plan`: the 台账, the inspection bundle and the plan table, from the command line.

The writers are imported by the commands that use them: they load openpyxl (and numpy), memory that every
`duban` process — `duban run` included, whose parser registers these commands — would otherwise carry.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from bot.app import App
from bot.cli.base import Add, Command, err
from bot.core.units import require_unit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add: Add) -> None:
    """Add `export ledger`, `export bundle` and `export plan` to the `duban` command."""
    export = sub.add_parser("export", help="导出台账、佐证材料包或计划表", description="导出台账、佐证材料包或计划表")
    kinds = export.add_subparsers(dest="export_command", metavar="内容")

    def kind(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        p = kinds.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        # Also accepted after the subcommand; SUPPRESS keeps `duban --plan P export …` working.
        p.add_argument("--plan", default=argparse.SUPPRESS, help="计划标识（默认：最近导入的计划）")
        return p

    ledger = kind("ledger", cmd_export_ledger, "导出台账 Excel：每项任务的进度、材料和逾期情况，各单位分表与汇总")
    ledger.add_argument("--out", required=True, type=Path, help="输出文件，如 台账.xlsx")
    bundle = kind("bundle", cmd_export_bundle, "导出佐证材料包 zip：按任务、材料分文件夹，附 index.xlsx 清单")
    bundle.add_argument("--out", required=True, type=Path, help="输出文件，如 佐证材料.zip")
    bundle.add_argument("--unit", help="只导出该牵头单位的任务，如 住建局")
    plan = kind("plan", cmd_export_plan, "把计划写成任务分工表 Excel（可再用 duban plan import 导入）")
    plan.add_argument("--out", required=True, type=Path, help="输出文件，如 任务分工表.xlsx")


async def cmd_export_ledger(app: App, a: argparse.Namespace) -> None:
    """Write the 台账."""
    from bot.exports.ledger import export_ledger

    out = await export_ledger(app.store, a.plan, a.out, app.clock.today(), app.settings.tz,
                              rule=app.settings.warning_rule)
    err.print(f"已导出台账：{out}", highlight=False, soft_wrap=True)


async def cmd_export_bundle(app: App, a: argparse.Namespace) -> None:
    """Write the inspection bundle with a progress bar on the terminal."""
    from bot.exports.bundle import export_bundle

    unit = require_unit(app.units, a.unit).name if a.unit else None
    columns = (TextColumn("打包佐证材料"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("bundle", total=None)

        def progress(done: int, total: int) -> None:
            # Called from the zipping thread; rich's Progress is updated under its own lock.
            bar.update(task, completed=done, total=total)

        result = await export_bundle(app.store, a.plan, a.out, unit, progress, generated_at=app.clock.now(),
                                     tz=app.settings.tz, coordinator_keys=app.settings.coordinator_keys)
    err.print(f"已导出佐证材料包：{result.path}（任务{result.tasks}项，材料{result.items}项，缺{result.items_missing}项，"
              f"文件{result.files}个，{result.zip_bytes / 1048576:.1f} MB）", highlight=False, soft_wrap=True)
    if result.lost:
        err.print(f"[yellow]有{len(result.lost)}个文件在存储中找不到，已在 index.xlsx 中标出：[/yellow]")
        for line in result.lost[:20]:
            err.print(f"  {line}", highlight=False, markup=False)


async def cmd_export_plan(app: App, a: argparse.Namespace) -> None:
    """Write the stored plan as a task-division table."""
    from bot.planfiles.excel import write_plan_sheet

    spec = await app.store.plans.spec(a.plan)
    await asyncio.to_thread(write_plan_sheet, spec, a.out)
    err.print(f"已导出计划 {spec.key}（{len(spec.tasks)}项任务）：{a.out}", highlight=False, soft_wrap=True)
