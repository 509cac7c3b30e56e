"""/export: the 台账 spreadsheet, or the evidence bundle, sent to a coordinator in chat."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bot.actions.base import Services
from bot.core.errors import UserError
from bot.core.messages import OutFile, Reply
from bot.exports.counts import overdue_days
from bot.handlers.context import Context
from bot.handlers.desk import link_terms
from bot.handlers.router import Replies

if TYPE_CHECKING:  # the bundle writer loads openpyxl: imported when someone exports
    from bot.exports.bundle import BundleResult

BUNDLE_WORDS = ("材料", "材料包", "佐证材料", "bundle", "zip")
# WeCom sends files up to 20 MB and the Telegram cloud Bot API up to 50 MB: the lower one decides.
SEND_LIMIT = 20 * 1024 * 1024
USAGE = "用法：「/export」导出台账；「/export 材料」导出佐证材料包；「/export 材料 住建局」只导出该单位牵头的任务。"


async def export(ctx: Context, args: str) -> Replies:
    """/export [材料 [单位]]：导出台账 Excel，或佐证材料包（节水办）"""
    words = args.split()
    if words and words[0].lower() not in BUNDLE_WORDS:
        raise UserError(USAGE)
    unit = ctx.resolve_unit(" ".join(words[1:])).name if len(words) > 1 else None
    replies: Replies = []
    for plan, _ in await ctx.all_tasks():  # each plan being worked on has its own 台账 and bundle
        ctx.settle(plan)
        replies += await (_bundle(ctx, unit) if words else _ledger(ctx))
    return replies


async def _ledger(ctx: Context) -> Replies:
    """Send today's 台账 (built again only when the data changed)."""
    today = ctx.today
    path = await ledger_file(ctx.services, ctx.plan.key, today)
    tasks = await ctx.tasks()
    late = sum(1 for t in tasks if overdue_days(t, today))
    text = f"{ctx.plan.title}台账（{today:%Y-%m-%d}）：任务{len(tasks)}项，逾期{late}项（表中红色标出）。"
    return [Reply(text, file=OutFile(ledger_name(today), path))]


async def _bundle(ctx: Context, unit: str | None) -> Replies:
    """Build the evidence bundle; send it when small enough, else link to the desk (or say where it is on the server)."""
    today = ctx.today
    result = await bundle_file(ctx.services, ctx.plan.key, unit, today)
    path = result.path
    summary = (f"佐证材料包{f'（{unit}）' if unit else ''}：任务{result.tasks}项，材料{result.items}项，"
               f"缺{result.items_missing}项，文件{result.files}个，{result.zip_bytes / 1048576:.1f} MB。")
    if result.lost:
        summary += f"\n注意：有{len(result.lost)}个文件在存储中找不到，已在 index.xlsx 中标出。"
    if result.zip_bytes <= SEND_LIMIT:
        return [Reply(summary + "\n缺的材料在包内 index.xlsx 中以红色标出。", file=OutFile(bundle_name(unit, today), path))]
    too_big = f"{summary}\n超过聊天中可发送的{SEND_LIMIT // 1048576} MB，未能直接发送。"
    if ctx.services.desk_link is not None:
        where = "/desk/downloads" + (f"?{urlencode({'unit': unit})}" if unit else "")
        return [Reply(f"{too_big}请在督办台下载（{link_terms()}）。",
                      link=("在督办台下载材料包", ctx.services.desk_link(ctx.person, where)))]
    unit_arg = f" --unit {unit}" if unit else ""
    return [Reply(
        f"{too_big}材料包已生成在服务器上：\n{path}\n"
        f"请管理员从该路径取走；如需重新生成，可在服务器上运行：\n"
        f"duban --plan {ctx.plan.key} export bundle --out {path}{unit_arg}"
    )]


async def ledger_file(services: Services, plan_key: str, today: dt.date) -> Path:
    """Return today's 台账 of a plan in the state directory, built unless built already from the same data."""
    # the spreadsheet writers load openpyxl (and numpy), so only when someone exports
    from bot.exports.ledger import export_ledger, ledger_data

    path = ledger_path(services.settings.state_dir, plan_key, today)
    return await services.builds.once(
        ("ledger", plan_key, None, today), lambda: ledger_data(services.store, plan_key), path,
        lambda data: export_ledger(services.store, plan_key, path, today, services.settings.tz, data,
                                   services.settings.warning_rule))


async def bundle_file(services: Services, plan_key: str, unit: str | None, today: dt.date) -> BundleResult:
    """Return today's evidence bundle (of the plan, or of one lead unit), built unless built already from the same data.

    Refuses (UserError) a unit that leads no task of the plan.
    """
    from bot.exports.bundle import bundle_data, export_bundle

    path = bundle_path(services.settings.state_dir, plan_key, unit, today)
    return await services.builds.once(
        ("bundle", plan_key, unit, today), lambda: bundle_data(services.store, plan_key, unit, services.settings.coordinator_keys), path,
        lambda data: export_bundle(services.store, plan_key, path, unit, generated_at=services.clock.utcnow(),
                                   tz=services.settings.tz, data=data))


def ledger_path(state_dir: Path, plan_key: str, today: dt.date) -> Path:
    """Return where today's 台账 of a plan is written."""
    return state_dir / "exports" / f"ledger-{plan_key}-{today:%Y%m%d}.xlsx"


def ledger_name(today: dt.date) -> str:
    """Return the 台账's file name as the user receives it."""
    return f"台账-{today:%Y%m%d}.xlsx"


def bundle_path(state_dir: Path, plan_key: str, unit: str | None, today: dt.date) -> Path:
    """Return where today's evidence bundle (of the plan, or of one lead unit) is written."""
    tag = f"-{unit}" if unit else ""
    return state_dir / "exports" / f"bundle-{plan_key}{tag}-{today:%Y%m%d}.zip"


def bundle_name(unit: str | None, today: dt.date) -> str:
    """Return the bundle's file name as the user receives it."""
    return f"佐证材料{f'-{unit}' if unit else ''}-{today:%Y%m%d}.zip"
