"""`duban remind preview` and `duban remind run-once`: look ahead without sending, or sweep once (cron)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from bot.actions.base import AppParts
from bot.app import App
from bot.core.chinese import ROLE_LABEL
from bot.core.errors import UserError
from bot.outbox import Outbox
from bot.reminders.checkins import CHECKIN, NUDGE
from bot.reminders.engine import REPORT_STAGE, ReminderEngine

STAGE_LABEL = {"digest-weekly": "每周简报", "digest-monthly": "月初简报", CHECKIN: "进展报送", NUDGE: "进展报送（再次提醒）",
               REPORT_STAGE: "月度通报"}


class RemindApp(AppParts, Protocol):
    """What the commands need of the application: the engine's parts and the outbox."""

    outbox: Outbox


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             add: Callable[..., argparse.ArgumentParser] | None = None) -> None:
    """Add `duban remind preview|run-once` to the command line."""
    remind = sub.add_parser("remind", help="提醒：预览将要发送的提醒，或立即检查一次",
                            description="提醒：预览将要发送的提醒，或立即检查一次")
    actions = remind.add_subparsers(dest="remind_command", metavar="操作")
    pv = actions.add_parser("preview", help="列出一段时间内将发送的提醒、进展报送和简报（不发送）",
                            description="列出一段时间内将发送的提醒、进展报送（kind: checkin）和简报（不发送）；"
                                        "按现在的任务状态和已报送的进展推算")
    pv.add_argument("--from", dest="start", required=True, help="开始日期，如 2023-09-01")
    pv.add_argument("--to", dest="end", required=True, help="结束日期（含），如 2023-10-31")
    pv.add_argument("--json", action="store_true", help="在标准输出打印 JSON 列表")
    pv.set_defaults(func=cmd_preview)
    once = actions.add_parser("run-once", help="立即检查一次到期提醒并发送（供 cron 定时调用）",
                              description="立即检查一次到期提醒并发送（供 cron 定时调用）")
    once.set_defaults(func=cmd_run_once)


def _date(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag} 的日期“{text}”格式不对，应为 2023-10-31 这样的形式。") from None


async def cmd_preview(app: RemindApp, a: argparse.Namespace) -> None:
    """List what would be sent between two dates, sending nothing."""
    start, end = _date(a.start, "--from"), _date(a.end, "--to")
    if end < start:
        raise UserError("--to 不能早于 --from。")
    if (end - start).days > 400:
        raise UserError("一次最多预览400天。")
    rows = await ReminderEngine.for_app(app).preview(start, end)
    if a.json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    _table(rows)
    unbound = sorted({r["unit"] for r in rows if r["kind"] in ("reminder", "checkin") and not r["recipient"]})
    err = Console(stderr=True)
    err.print(f"共{len(rows)}条（{start}至{end}，按现在的任务状态推算，不发送）。", highlight=False)
    if unbound:
        err.print(f"以下单位还没有绑定联络员，提醒暂时无人接收：{'、'.join(unbound)}", highlight=False)


def _table(rows: list[dict[str, Any]]) -> None:
    table = Table("时间", "任务", "阶段", "单位", "角色", "接收人")
    for r in rows:
        at = dt.datetime.fromisoformat(r["at"])
        if r["task"] is None:
            task = "简报" if r["kind"] == "digest" else r["title"]
        else:
            task = f"任务{r['task']}" + (f"（{r['period']}）" if r["period"] else "")
        table.add_row(f"{at:%Y-%m-%d %H:%M}", task, stage_label(r["stage"]), r["unit"], ROLE_LABEL.get(r["role"], ""),
                      r["recipient_name"] or r["recipient"] or "（未绑定）")
    Console().print(table)


def stage_label(stage: str) -> str:
    """Say a stage in Chinese: d7 → 提前7天, d0 → 到期当天, overdue-2 → 逾期第2次."""
    if stage in STAGE_LABEL:
        return STAGE_LABEL[stage]
    if stage == "d0":
        return "到期当天"
    if stage.startswith("d") and stage[1:].isdigit():
        return f"提前{stage[1:]}天"
    if stage.startswith("overdue-"):
        return f"逾期第{stage.removeprefix('overdue-')}次"
    return stage


async def cmd_run_once(app: App, a: argparse.Namespace) -> None:
    """Sweep once now, then send what this process has senders for."""
    from bot.runner import Runtime

    result = await ReminderEngine.for_app(app).sweep()
    err = Console(stderr=True)
    err.print(f"提醒检查完成：{result.summary()}。", highlight=False)
    async with Runtime(app, receive=False):  # the configured channels' senders, nothing that receives
        sent = await app.outbox.drain()
    left = [r for r in await app.store.outbox.rows("pending")]
    err.print(f"本次发送{sent}条消息" + (f"；另有{len(left)}条等待可用的渠道（如控制台）或稍后重试。" if left else "。"),
              highlight=False)
