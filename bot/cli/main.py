"""The `duban` command (also `python -m bot`): run the assistant, chat in the console, manage the plan; the
other groups of subcommands (remind, export, wecom, desk) register themselves here from their modules."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn, cast

from rich.table import Table

from bot.app import App
from bot.cli.base import Command, err, out, print_json
from bot.config import Settings
from bot.core.errors import UserError
from bot.core.units import require_unit
from bot.core.views import TaskView, WarningRule


def task_json(t: TaskView, today: dt.date, rule: WarningRule) -> dict[str, Any]:
    """Return the JSON form of a task for scripts (`tasks --json`, `task --json`); `warning` is null when done."""
    level = t.warning(today, rule)
    return {
        "no": t.no, "lead": t.lead, "text": t.text, "deadline_raw": t.deadline_raw, "deadline": t.deadline.isoformat(),
        "deadline_original": t.deadline_original.isoformat() if t.deadline_original else None,
        "cooperating": list(t.cooperating), "evidence": [i.title for i in t.items],
        "evidence_received": [i.files for i in t.items], "evidence_returned": [i.returned or None for i in t.items],
        "evidence_shared_with": list(t.shared_with),
        "notes": list(t.notes), "status": t.status.value, "status_label": t.status.label,
        "recurrence": t.recurrence.value if t.recurrence else None, "progress": t.progress,
        "targets": [{"phrase": x.phrase, "value": x.value, "unit": x.unit, "comparison": x.comparison}
                    for x in t.targets],
        "warning": level.value if level is not None else None,
    }


async def cmd_plan_import(app: App, a: argparse.Namespace) -> None:
    from bot.planfiles.preview import preview_json, preview_lines

    preview = await app.preview_import(Path(a.file), key=a.key)
    if a.json:
        print_json(preview_json(preview))
    print("\n".join(preview_lines(preview)), file=sys.stdout if a.dry_run and not a.json else sys.stderr)
    if a.dry_run:
        err.print("以上是预览，没有写入任何内容。去掉 --dry-run 即导入。")
        return
    r = await app.store.plans.import_plan(preview.read.plan, "cli", app.clock.utcnow(), continues=preview.continues)
    verb = "新建" if r.created else "更新"
    err.print(f"已{verb}计划 {r.plan_key}：新增{r.tasks_added}项，更新{r.tasks_updated}项，未变{r.tasks_unchanged}项，"
              f"备注{r.notes}条。")


async def cmd_plan_list(app: App, a: argparse.Namespace) -> None:
    plans = await app.store.plans.list_plans()
    if a.json:
        print_json([{"key": p.key, "title": p.title, "year": p.year, "tasks": p.tasks, "active": p.active}
                    for p in plans])
        return
    table = Table("标识", "名称", "年份", "任务数", "状态")
    for p in plans:
        table.add_row(p.key, p.title, str(p.year), str(p.tasks), "办理中" if p.active else "已归档")
    out.print(table)


async def cmd_plan_archive(app: App, a: argparse.Namespace) -> None:
    p = await app.store.plans.set_active(a.key, False, actor="cli", now=app.clock.utcnow())
    err.print(f"已归档计划 {p.key}（{p.title}）：不再提醒、不再出现在聊天和督办台中；记录和材料都保留，"
              f"需要时 duban plan activate {p.key} 恢复。")


async def cmd_plan_activate(app: App, a: argparse.Namespace) -> None:
    p = await app.store.plans.set_active(a.key, True, actor="cli", now=app.clock.utcnow())
    err.print(f"计划 {p.key}（{p.title}）已恢复办理。")


async def cmd_units(app: App, a: argparse.Namespace) -> None:
    units = app.units.all()
    if a.json:
        print_json([{"name": u.name, "kinds": list(u.kinds), "aliases": list(u.aliases)} for u in units])
        return
    table = Table("单位", "类别", "简称")
    kinds = {"lead": "牵头", "cooperating": "配合", "group": "集合"}
    for u in units:
        table.add_row(u.name, "、".join(kinds.get(k, k) for k in u.kinds), "、".join(u.aliases))
    out.print(table)


async def cmd_tasks(app: App, a: argparse.Namespace) -> None:
    plan = await app.store.plans.plan(a.plan)
    tasks = await app.store.plans.tasks(plan.id)
    if a.unit:
        unit = require_unit(app.units, a.unit).name
        if unit != a.unit:
            err.print(f"按单位“{unit}”查询（由“{a.unit}”匹配）。")
        tasks = [t for t in tasks if t.role_of(unit)]
    if a.due_before:
        try:
            limit = dt.date.fromisoformat(a.due_before)
        except ValueError:
            raise UserError(f"日期“{a.due_before}”格式不对，应为 2023-10-31 这样的形式。") from None
        tasks = [t for t in tasks if t.deadline <= limit]
    if a.json:
        print_json([task_json(t, app.clock.today(), app.settings.warning_rule) for t in tasks])
        return
    from bot.reports.render import deadline_short

    table = Table("序号", "牵头单位", "工作任务", "完成时间", "状态", "材料")
    for t in tasks:
        table.add_row(str(t.no), t.lead, t.short_title(40), deadline_short(t), t.status.label,
                      f"{t.evidence_done}/{len(t.items)}")
    out.print(table)
    err.print(f"共{len(tasks)}项。")


async def cmd_task(app: App, a: argparse.Namespace) -> None:
    from bot.reports.render import task_detail

    plan = await app.store.plans.plan(a.plan)
    t = await app.store.plans.task(plan.id, a.no)
    if a.json:
        print_json(task_json(t, app.clock.today(), app.settings.warning_rule))
    else:
        out.print(task_detail(t, app.clock.today(), rule=app.settings.warning_rule), markup=False, highlight=False)


async def cmd_invite(app: App, a: argparse.Namespace) -> None:
    unit = require_unit(app.units, a.unit)
    code = await app.store.people.create_invite(unit.name, by="cli:admin", now=app.clock.utcnow(),
                                                days=a.days or app.settings.invite_days)
    err.print(f"{unit.name}的联络员邀请码（{a.days or app.settings.invite_days}天内有效，只能用一次）；"
              "请转告联络员在督办助手中发送 /bind 加邀请码：")
    print(code)


async def cmd_coordinator(app: App, a: argparse.Namespace) -> None:
    if a.action == "list":
        for p in await app.store.people.coordinators():
            print(p.key, p.name)
        return
    channel, _, user = (a.who or "").partition(":")
    if not channel or not user:
        raise UserError("请写成 渠道:用户ID，例如 telegram:12345 或 wecom:zhangsan。")
    if a.action == "remove" and f"{channel}:{user}" in app.settings.coordinator_keys:
        # DUBAN_COORDINATORS is read on every message and makes its people coordinators again, so a removal here
        # would report success and change nothing. Refused rather than letting the database overrule the setting:
        # an operator reads the setting they wrote as the truth, and another process started with it would too.
        raise UserError(f"没有取消：{channel}:{user} 写在设置 DUBAN_COORDINATORS（环境变量或 .env）里，只要还在那里，"
                        "就仍是节水办统筹人员。请先从 DUBAN_COORDINATORS 中删去此人并重启督办助手，再运行本命令。")
    await app.store.people.set_coordinator(channel, user, a.action == "add", actor="cli", now=app.clock.utcnow())
    err.print(f"已{'设为' if a.action == 'add' else '取消'}节水办统筹人员：{a.who}")


async def cmd_digest(app: App, a: argparse.Namespace) -> None:
    from bot.reports.digest import counted_from, digest_since, digest_text

    plan = await app.store.plans.plan(a.plan)
    unit = require_unit(app.units, a.unit).name if a.unit else None
    tasks = await app.store.plans.tasks(plan.id)
    since = digest_since(app.clock.today())
    print(digest_text(plan.title, tasks, app.clock.today(), unit=unit, rule=app.settings.warning_rule, since=since,
                      escalated=await app.store.notices.escalated(plan.id, counted_from(since))))


async def cmd_console(app: App, a: argparse.Namespace) -> None:
    from bot.runner import run_console

    await run_console(app, a.user, asyncio.Event())


async def cmd_run(app: App, a: argparse.Namespace) -> None:
    from bot.runner import run_channels

    await run_channels(app, console_user=a.user)




class ChineseParser(argparse.ArgumentParser):
    """argparse with its own words in Chinese (headings, -h, usage and errors); subcommands inherit it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "参数"
        self._optionals.title = "选项"
        self.add_argument("-h", "--help", action="help", help="显示帮助并退出")

    def format_usage(self) -> str:
        """Return the usage line in Chinese."""
        return super().format_usage().replace("usage:", "用法：", 1)

    def format_help(self) -> str:
        """Return the help text in Chinese."""
        return super().format_help().replace("usage:", "用法：", 1)

    def error(self, message: str) -> NoReturn:
        """Print a Chinese error with the usage, exit with status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}：参数有误（{message}）。加 -h 查看用法。\n")


def build_parser() -> argparse.ArgumentParser:
    """Describe every subcommand, with Chinese help."""
    p = ChineseParser(prog="duban", description="督办助手：把年度任务分工表落到各单位、落到完成。")
    p.add_argument("--plan", help="计划标识（默认：最近导入的计划）")
    sub = p.add_subparsers(dest="command", metavar="命令")

    def add(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    r = add("run", cmd_run, "启动督办助手（已配置的 Telegram/企业微信渠道与提醒；都未配置时进入控制台）")
    r.add_argument("--user", default="admin", help="控制台身份（默认 admin）")
    c = add("console", cmd_console, "在终端里与督办助手对话")
    c.add_argument("--user", default="admin", help="以此身份对话（默认 admin）")
    plan = sub.add_parser("plan", help="导入或查看计划").add_subparsers(dest="plan_command", metavar="操作")
    pi = plan.add_parser("import", help="导入计划文件（YAML、Excel 或 Word 分工表）")
    pi.add_argument("file")
    pi.add_argument("--dry-run", action="store_true", help="只预览：读出的任务、推断的内容、与早先计划的差异，不写入")
    pi.add_argument("--json", action="store_true", help="以 JSON 输出预览")
    pi.add_argument("--key", help="计划标识（默认：文件中写明的，或与库中同一计划相同，或按年度和文件名）")
    pi.set_defaults(func=cmd_plan_import)
    pl = plan.add_parser("list", help="列出计划（办理中的和已归档的）")
    pl.add_argument("--json", action="store_true", help="输出 JSON")
    pl.set_defaults(func=cmd_plan_list)
    for verb, func, text in (("archive", cmd_plan_archive, "归档计划：不再提醒，不再出现在聊天和督办台中"),
                             ("activate", cmd_plan_activate, "恢复办理已归档的计划")):
        pa = plan.add_parser(verb, help=text)
        pa.add_argument("key", help="计划标识（duban plan list 可查）")
        pa.set_defaults(func=func)
    u = add("units", cmd_units, "列出单位及简称")
    u.add_argument("--json", action="store_true", help="输出 JSON")
    t = add("tasks", cmd_tasks, "列出任务")
    t.add_argument("--unit", help="单位名称或简称，如 住建局")
    t.add_argument("--due-before", help="只列截止日期不晚于此日的任务，如 2023-10-31")
    t.add_argument("--json", action="store_true", help="输出 JSON")
    one = add("task", cmd_task, "查看一项任务")
    one.add_argument("no", type=int)
    one.add_argument("--json", action="store_true", help="输出 JSON")
    i = add("invite", cmd_invite, "为单位生成联络员邀请码（最后一行是邀请码）")
    i.add_argument("unit")
    i.add_argument("--days", type=int, default=0, help="有效天数（默认 7）")
    co = add("coordinator", cmd_coordinator, "管理节水办统筹人员")
    co.add_argument("action", choices=["add", "remove", "list"])
    co.add_argument("who", nargs="?", help="渠道:用户ID，如 telegram:12345")
    d = add("digest", cmd_digest, "打印进度简报")
    d.add_argument("--unit")
    from bot.cli import desk as desk_cli
    from bot.cli import exports as export_cli
    from bot.cli import remind as remind_cli
    from bot.cli import wecom as wecom_cli

    for feature in (remind_cli, export_cli, wecom_cli, desk_cli):
        feature.register(cast(Any, sub), add)
    return p


def setup_logging(settings: Settings) -> None:
    """Log everything to a file in the state directory, and warnings (or DUBAN_LOG_LEVEL) to stderr."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(logs / "duban.log", encoding="utf-8")
    to_file.setFormatter(fmt)
    to_file.setLevel(logging.INFO)
    to_err = logging.StreamHandler(sys.stderr)
    to_err.setFormatter(fmt)
    to_err.setLevel(settings.log_level.upper())
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.handlers[:] = [to_file, to_err]
    for noisy in ("httpx", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (non-zero on any refusal)."""
    parser = build_parser()
    a = parser.parse_args(argv)
    if not getattr(a, "func", None):
        parser.print_help()
        return 0 if a.command is None else 2
    settings = Settings()
    setup_logging(settings)

    async def go() -> None:
        app = await App.create(settings)
        try:
            await a.func(app, a)
        finally:
            await app.close()

    try:
        asyncio.run(go())
    except UserError as e:
        err.print(f"[red]{e.message}[/red]", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        # into logs/duban.log as well as stderr: an operator (or a supervisor) reads the log, not the terminal
        logging.getLogger("bot").critical("duban 因错误退出 (stopped on an error)", exc_info=True)
        return 1
    return 0

