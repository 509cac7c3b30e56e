"""Digests on demand, group subscriptions, and a coordinator's 催办 (urge)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.actions import urge as urging
from bot.core.chinese import whole_number
from bot.core.errors import UserError
from bot.core.messages import OutFile, Reply
from bot.core.views import PlanView, TaskView
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.reports.digest import counted_from, digest_since, digest_text, write_progress_chart
from bot.reports.monthly import monthly_report_text

CHART_WORDS = ("图", "chart", "图表")
MONTHLY_WORDS = ("月报", "月度通报", "通报")


async def digest(ctx: Context, args: str) -> Replies:
    """/digest [单位] [图]：进度简报（全计划简报限节水办）；/digest 月报：上月的月度通报"""
    if any(w in args for w in MONTHLY_WORDS):
        return await monthly_report(ctx)
    want_chart = any(w in args for w in CHART_WORDS)
    rest = args
    for w in CHART_WORDS:
        rest = rest.replace(w, "")
    rest = rest.strip()
    unit = ctx.resolve_unit(rest).name if rest else None
    if unit is None and not ctx.person.coordinator:
        unit = ctx.person.unit  # the router let only liaisons and coordinators in
    if unit is not None and unit != ctx.person.unit and not ctx.person.coordinator:
        raise UserError(f"您是{ctx.person.unit}的联络员，只能查看本单位的简报。")
    replies = []
    for plan, tasks in await ctx.all_tasks():  # one digest per plan being worked on
        replies.append(await plan_digest(ctx, plan, tasks, unit))
        if want_chart and unit is None:
            path = await write_progress_chart(ctx.services.settings.state_dir, plan.title, tasks, ctx.today)
            replies.append(Reply(f"{plan.label}：各单位完成情况图", file=OutFile("进度图.png", path, is_image=True)))
    return replies


async def plan_digest(ctx: Context, plan: PlanView, tasks: Sequence[TaskView], unit: str | None) -> Reply:
    """Write a plan's digest on demand (of one unit's lead tasks, or the whole plan): what is new counts a week back."""
    since = digest_since(ctx.today)
    return Reply(digest_text(plan.title, tasks, ctx.today, unit=unit, rule=ctx.services.settings.warning_rule,
                             since=since, escalated=await ctx.store.notices.escalated(plan.id, counted_from(since))))


async def monthly_report(ctx: Context) -> Replies:
    """The 月度通报 of last month for each plan being worked on, with the chart: what groups got on the first workday."""
    replies = []
    for plan, tasks in await ctx.all_tasks():
        replies.append(Reply(monthly_report_text(plan.title, tasks, ctx.today, ctx.services.settings.warning_rule)))
        path = await write_progress_chart(ctx.services.settings.state_dir, plan.title, tasks, ctx.today)
        replies.append(Reply(f"{plan.label}：各单位完成情况图", file=OutFile("进度图.png", path, is_image=True)))
    return replies


async def subscribe(ctx: Context, args: str) -> Replies:
    """/subscribe：本群订阅每周进度简报（节水办，群聊中使用）"""
    if not ctx.msg.is_group:
        raise UserError("请在要接收简报的群里发送 /subscribe。")
    new = await ctx.store.chats.subscribe(ctx.msg.chat, ctx.msg.user_name, by=ctx.person.key, now=ctx.now)
    return [Reply("本群已订阅进度简报：每周一上午9点，以及有任务到期的月份的第一个工作日。" if new
                  else "本群已经订阅过进度简报了。")]


async def unsubscribe(ctx: Context, args: str) -> Replies:
    """/unsubscribe：本群取消订阅简报（节水办）"""
    gone = await ctx.store.chats.unsubscribe(ctx.msg.chat, by=ctx.person.key, now=ctx.now)
    return [Reply("本群已取消订阅进度简报。" if gone else "本群没有订阅进度简报。")]


async def urge(ctx: Context, args: str) -> Replies:
    """/urge 单位 [任务号]：向该单位联络员发送催办提醒；写任务号时发出编号的督办通知单（节水办）"""
    if not args:
        raise UserError("请写上单位，例如「/urge 教育局」或「/urge 教育局 40」。")
    words = args.split()
    no = whole_number(words[-1]) if len(words) > 1 else None
    unit = ctx.resolve_unit(" ".join(words[:-1]) if no is not None else args).name
    plans = [await ctx.plan_of(no)] if no is not None else [p for p, _ in await ctx.all_tasks()]
    found = [u for u in [await urging.urge(ctx.actor, plan, unit, no) for plan in plans] if u is not None]
    if not found:
        return [Reply(f"{unit}目前没有需要催办的任务。")]
    warn = f"（其中{'、'.join(found[0].unreachable)}目前无法送达）" if found[0].unreachable else ""
    lines = [f"已向{unit}的{len(found[0].liaisons)}位联络员发送催办提醒，涉及{sum(len(u.tasks) for u in found)}项任务{warn}。"]
    several = len(found) > 1
    for u in found:
        lines += [f"{'· ' if several else ''}{line}" for line in u.history()]
    issued = found[0].notice if no is not None else None
    if issued is None:
        return [Reply("\n".join(lines))]
    lines[0] = (f"已向{unit}的{len(found[0].liaisons)}位联络员发出督办通知单{issued.notice.label}（任务{no}）{warn}，"
                "计为一次催办。")
    return [Reply("\n".join(lines), file=OutFile(issued.notice.file_name, issued.path))]
