"""“What's due for my unit”: /due, /mytasks and the free-text questions liaisons ask."""

from __future__ import annotations

import datetime as dt

from bot.core import intents
from bot.core.chinese import ROLE_LABEL, DateRange
from bot.core.errors import NotAllowed, UserError
from bot.core.intents import Intent, Kind
from bot.core.messages import Choice, Reply
from bot.core.views import PlanView, Question, TaskStatus, TaskView, WarningLevel
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.reports.render import paginate, task_line

PAGE_KIND = "page"


async def due(ctx: Context, args: str) -> Replies:
    """/due [年份] [单位] [本月|下个月|十月|逾期]：查看任务清单"""
    word, _, rest = args.strip().partition(" ")
    named = [p for p in ctx.plans if word in (p.key, p.short, str(p.year), f"{p.year}年")]
    if len(named) == 1:  # 「/due 2024」「/due 河长制」: one plan's list
        ctx.settle(named[0])
        args = rest
    intent = intents.parse(args or "任务", today=ctx.today, plan_year=ctx.plan.year, units=ctx.services.units)
    if args and intent.kind is Kind.TASKS and intent.unit is None and intent.window is None and not (
            intent.overdue or intent.missing):
        # "/due 教委" — an argument that is none of the known filters is meant as a unit name.
        intent = Intent(Kind.TASKS, unit=ctx.resolve_unit(args))
    return await list_tasks(ctx, intent)


async def list_tasks(ctx: Context, intent: Intent) -> Replies:
    """Answer a task-list question for the sender's unit (coordinators: any unit, or the whole plan)."""
    unit = intent.unit.name if intent.unit else None
    if unit is not None and unit != ctx.person.unit and not ctx.person.coordinator:
        raise UserError(f"您是{ctx.require_unit()}的联络员，只能查看本单位的任务。")
    if unit is None:
        if ctx.person.unit is None and ctx.person.coordinator:
            return await _plan_overview(ctx, intent)
        unit = ctx.require_unit()
    plans = await ctx.all_tasks()
    reads = ctx.services.reads
    key = ("tasks", tuple(p.id for p, _ in plans), ctx.today, unit, intent, ctx.msg.reply_limit)
    known = reads.rendered(key)
    if known is not None:
        return list(known)
    sections = [(plan, [t for t in plan_tasks
                        if t.role_of(unit) and intent.role in (None, t.role_of(unit)) and _matches(t, intent, ctx)])
                for plan, plan_tasks in plans]
    tasks = [t for _, mine in sections for t in mine]
    blocks = [b for plan, mine in sections for b in _unit_blocks(plan, mine, unit, ctx, several=len(plans) > 1)]
    room = ctx.msg.reply_limit - 400
    if len(plans) > 1 and sum(len(b) + 1 for b in blocks) > room:
        # several plans' lists would fill pages: what needs doing now in each, the rest counted; with many plans,
        # a line per plan (one page, the same words for every liaison of the unit today: kept like one plan's list)
        blocks = [b for plan, mine in sections for b in _unit_blocks(plan, mine, unit, ctx, several=True, now_only=True)]
        if sum(len(b) + 1 for b in blocks) > room:
            blocks = [_plan_line(plan, mine, ctx) for plan, mine in sections if mine]
    what = _describe(intent)
    if not tasks:
        replies = [Reply(f"{unit}没有{what or ''}的任务。" + ("发送「我单位有哪些任务」查看全部。" if what else ""))]
        reads.keep_rendered(key, tuple(replies), ctx.tasks_generation)
        return replies
    overdue = sum(1 for t in tasks if t.status.is_open and t.deadline < ctx.today)
    header = (f"{unit}的任务{' · ' + what if what else ''}（{ctx.today:%Y-%m-%d}）：共{len(tasks)}项"
              + (f"，逾期{overdue}项" if overdue else ""))
    footer = ("报送：发送「任务12进展：……」写明本期做了什么；上传材料、登记进度也算已报送。" if intent.unreported else
              "发送「任务12」查看详情和材料清单；直接发文件并写上「12-3」即可提交第12项任务的第3项材料。") + _several(plans)
    pages = paginate(header, blocks, ctx.msg.reply_limit, footer)
    if len(pages) == 1:  # the same for every liaison of the unit today: kept (a longer list is paged per person)
        replies = [Reply(pages[0])]
        reads.keep_rendered(key, tuple(replies), ctx.tasks_generation)
        return replies
    return await _paged(ctx, pages, unit)


async def _plan_overview(ctx: Context, intent: Intent) -> Replies:
    """For a coordinator without a unit: the matching tasks of the whole plan, by unit."""
    plans = await ctx.all_tasks()
    tasks = sorted(((p, t) for p, plan_tasks in plans for t in plan_tasks if _matches(t, intent, ctx)),
                   key=lambda pt: (pt[1].deadline, pt[0].id, pt[1].no))
    what = _describe(intent)
    if not tasks:
        return [Reply(f"全计划没有{what}的任务。")]
    several = len(plans) > 1
    blocks = [f"{task_line(t, ctx.today, ctx.services.settings.warning_rule)}\n   牵头：{t.lead}" + (f" · {p.label}" if several else "") for p, t in tasks]
    header = f"全计划的任务{' · ' + what if what else ''}：共{len(tasks)}项"
    footer = "发送「教育局的任务」查看某个单位；发送 /digest 查看汇总。" + _several(plans)
    return await _paged(ctx, paginate(header, blocks, ctx.msg.reply_limit, footer), None)


async def _paged(ctx: Context, pages: list[str], unit: str | None) -> Replies:
    """Send the first page and keep the rest, with the unit they show (None: the whole plan)."""
    if len(pages) == 1:
        return [Reply(pages[0])]
    token = await ctx.store.chats.ask(ctx.person.key, PAGE_KIND, {"pages": pages[1:], "unit": unit}, now=ctx.now)
    return [Reply(pages[0], choices=(Choice(f"下一页（2/{len(pages)}）", f"{token}:next"),))]


async def next_page(ctx: Context, question: Question) -> Replies:
    """Show the next stored page, if the sender may still see that unit, and offer the one after it."""
    unit = question.payload.get("unit")
    if not ctx.person.coordinator and (unit is None or unit != ctx.person.unit):
        raise NotAllowed(f"您现在是{ctx.require_unit()}的联络员，不能再查看这份清单。请重新查询本单位的任务。")
    pages = question.payload["pages"]
    assert isinstance(pages, list)
    page, rest = str(pages[0]), pages[1:]
    if not rest:
        return [Reply(page)]
    token = await ctx.store.chats.ask(ctx.person.key, PAGE_KIND, {"pages": rest, "unit": unit}, now=ctx.now)
    return [Reply(page, choices=(Choice("下一页", f"{token}:next"),))]


def _unit_blocks(plan: PlanView, tasks: list[TaskView], unit: str, ctx: Context, *, several: bool,
                 now_only: bool = False) -> list[str]:
    """Render a unit's tasks of one plan as list blocks, lead first; `now_only`: only what needs doing within a
    month (overdue, due soon, returned), the others counted with the way to see them."""
    if not tasks:
        return []
    shown = [t for t in tasks if _needs_doing_now(t, ctx)] if now_only else tasks
    blocks = [f"【{plan.label}】"] if several else []
    lead = sorted((t for t in shown if t.role_of(unit) == "lead"), key=lambda t: (t.deadline, t.no))
    coop = sorted((t for t in shown if t.role_of(unit) == "cooperating"), key=lambda t: (t.deadline, t.no))
    if lead:
        blocks.append(f"— 牵头任务 {len(lead)} 项 —")
        blocks += [task_line(t, ctx.today, ctx.services.settings.warning_rule) for t in lead]
    if coop:
        blocks.append(f"— 配合任务 {len(coop)} 项 —")
        blocks += [task_line(t, ctx.today, ctx.services.settings.warning_rule) for t in coop]
    if len(shown) < len(tasks):
        blocks.append(f"另有{len(tasks) - len(shown)}项一个月后才到期或已提交，发送「/due {_handle(plan, ctx)}」查看这份计划的全部任务。")
    return blocks


def _plan_line(plan: PlanView, tasks: list[TaskView], ctx: Context) -> str:
    """Say in a line what a unit has in one plan: how many tasks, how many overdue or due within a month."""
    late = sum(1 for t in tasks if t.status.is_open and t.deadline < ctx.today)
    soon = sum(1 for t in tasks if _needs_doing_now(t, ctx)) - late
    return (f"【{plan.label}】{len(tasks)}项" + (f"，逾期{late}项" if late else "") + (f"，一个月内到期{soon}项" if soon else "")
            + f"（「/due {_handle(plan, ctx)}」）")


def _handle(plan: PlanView, ctx: Context) -> str:
    """Name a plan the shortest way that no other active plan shares: its year, its short name, or its key."""
    if sum(p.year == plan.year for p in ctx.plans) == 1:
        return str(plan.year)
    return plan.short if sum(p.short == plan.short for p in ctx.plans) == 1 else plan.key


def _needs_doing_now(t: TaskView, ctx: Context) -> bool:
    """Tell whether a task needs the unit within a month: open and due by then (or overdue), or returned."""
    return t.status.is_open and (t.deadline <= ctx.today + dt.timedelta(days=30) or t.status is TaskStatus.RETURNED)


def _several(plans: list[tuple[PlanView, list[TaskView]]]) -> str:
    """Tell how to name a plan before a task number, when more than one plan is being worked on."""
    if len(plans) < 2:
        return ""
    newest = plans[0][0]
    by_name = f"「{newest.short}12」" if sum(p.short == newest.short for p, _ in plans) == 1 else ""
    return f"\n几份计划中都有的编号，请在前面写上年份或计划简称，如「{newest.year}-12」{by_name}。"


def _matches(t: TaskView, intent: Intent, ctx: Context) -> bool:
    rule = ctx.services.settings.warning_rule
    if intent.unreported and not t.unreported(ctx.today, rule):
        return False
    if intent.warning is not None:
        level = t.warning(ctx.today, rule)
        if level is None or level.value != intent.warning:
            return False
    if intent.overdue and not (t.status.is_open and t.deadline < ctx.today):
        return False
    if intent.missing and (not t.missing or t.status is TaskStatus.APPROVED):
        return False
    if intent.yearlong and t.deadline_raw != "全年":
        return False
    return _in_window(t, intent.window)


def _in_window(t: TaskView, window: DateRange | None) -> bool:
    if window is None:
        return True
    if window.start is not None and t.deadline < window.start:
        return False
    return not (window.end is not None and t.deadline > window.end)


def _describe(intent: Intent) -> str:
    parts = [ROLE_LABEL[intent.role]] if intent.role else []
    if intent.yearlong:
        parts.append("全年")
    if intent.window:
        parts.append(f"{intent.window.label}到期")
    if intent.overdue:
        parts.append("逾期")
    if intent.missing:
        parts.append("还缺材料")
    if intent.unreported:
        parts.append("本期还没有报送进展")
    if intent.warning is not None:
        parts.append(WarningLevel(intent.warning).label + "灯")
    return "、".join(parts)
