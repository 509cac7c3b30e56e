"""Questions about units and people: who answers for a task, which units owe evidence, which have no liaison."""

from __future__ import annotations

from bot.core.chinese import days_phrase
from bot.core.messages import Reply
from bot.core.views import TaskStatus
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.reports.render import deadline_text


async def who(ctx: Context, no: int) -> Replies:
    """Say which unit leads a task, who helps, and (to coordinators) who its liaisons are."""
    t = await ctx.task(no)
    lines = [f"任务{no}由{t.lead}牵头。", f"配合单位：{'、'.join(t.cooperating) if t.cooperating else '无'}。",
             f"完成时间：{deadline_text(t)}（{days_phrase(t.deadline, ctx.today)}），状态：{t.status.label}。"]
    if ctx.person.coordinator:
        people = await ctx.store.people.liaisons(t.lead)
        lines.append(f"{t.lead}联络员：" + ("、".join(f"{p.display}（{p.key}）" for p in people) if people
                                          else f"尚未绑定，可发送「/invite {t.lead}」生成邀请码。"))
    return [Reply("\n".join(lines))]


async def missing_units(ctx: Context) -> Replies:
    """List the lead units still owing evidence on unfinished tasks, those that gave none at all first."""
    ctx.require_coordinator()
    owed: dict[str, dict[int, int]] = {}  # unit -> item id -> files (a shared list counts once)
    late: dict[str, set[int]] = {}
    for t in await ctx.tasks():
        if t.status is TaskStatus.APPROVED or not t.items:
            continue
        owed.setdefault(t.lead, {}).update({i.id: i.files for i in t.items})
        if t.missing and t.status.is_open and t.deadline < ctx.today:
            late.setdefault(t.lead, set()).add(t.no)
    rows = []
    for unit, items in owed.items():
        got = sum(1 for n in items.values() if n)
        if got < len(items):
            rows.append((got > 0, -(len(items) - got), unit, got, len(items)))
    if not rows:
        return [Reply("各牵头单位未完成任务的佐证材料都已收到。")]
    lines = [f"还没交齐材料的单位（{len(rows)}个，未完成任务的材料，一项未交的在前）："]
    for _, _, unit, got, total in sorted(rows):
        overdue = late.get(unit, set())
        flag = f"，其中逾期任务{'、'.join(str(n) for n in sorted(overdue))}缺材料" if overdue else ""
        lines.append(f"· {unit}：已交{got}/{total}项，缺{total - got}项{flag}")
    lines.append("发送「/urge 单位」催办，或「教育局还差哪些材料」查看明细。")
    return [Reply("\n".join(lines))]


async def unreported_units(ctx: Context) -> Replies:
    """List the lead units whose progress reports for this period have not all come, most unreported first."""
    ctx.require_coordinator()
    rule = ctx.services.settings.warning_rule
    owed: dict[str, list[int]] = {}
    earlier: dict[str, int] = {}  # tasks the unit did not report on last period (未报送)
    for _, tasks in await ctx.all_tasks():
        for t in tasks:
            if t.unreported(ctx.today, rule):
                owed.setdefault(t.lead, []).append(t.no)
            if t.unreported(ctx.today, rule, previous=True):
                earlier[t.lead] = earlier.get(t.lead, 0) + 1
    if not owed:
        return [Reply("各牵头单位本期的进展都已报送（或本期没有需要报送进展的任务）。")]
    lines = [f"本期还没有报送进展的单位（{len(owed)}个，未报送多的在前；每月{rule.checkin_day}日要求报送，"
             "月末最后一个工作日再提醒一次）："]
    for unit, nos in sorted(owed.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = "、".join(str(n) for n in sorted(nos)[:8]) + ("等" if len(nos) > 8 else "")
        lines.append(f"· {unit}：{len(nos)}项（任务{shown}）" + (f"，上期未报送{earlier[unit]}项" if unit in earlier else ""))
    lines.append("发送「/urge 单位」催办，或「教育局还有哪些没报进展」查看明细。")
    return [Reply("\n".join(lines))]


async def unbound_units(ctx: Context) -> Replies:
    """List the units of the plan nobody speaks for yet: those leading tasks first."""
    ctx.require_coordinator()
    bound = {p.unit for p in await ctx.store.people.liaisons()}
    tasks = await ctx.tasks()
    leads = list(dict.fromkeys(t.lead for t in tasks if t.lead not in bound))
    helpers = list(dict.fromkeys(u for t in tasks for u in t.cooperating if u not in bound and u not in leads))
    if not leads and not helpers:
        return [Reply("计划涉及的单位都已绑定联络员。")]
    lines = [f"还没有绑定联络员的单位（{len(leads) + len(helpers)}个）："]
    if leads:
        lines.append(f"牵头单位（{len(leads)}个）：" + "、".join(leads))
    if helpers:
        lines.append(f"仅配合的单位（{len(helpers)}个）：" + "、".join(helpers))
    lines.append(f"发送「/invite 单位」生成邀请码，例如「/invite {(leads or helpers)[0]}」。")
    return [Reply("\n".join(lines))]
