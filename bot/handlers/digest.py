"""Digests on demand, group subscriptions, and a coordinator's 催办 (urge)."""

from __future__ import annotations

import datetime as dt

from bot.core.chinese import whole_number
from bot.core.errors import UserError
from bot.core.messages import OutFile, Push, Reply
from bot.handlers.context import Context
from bot.handlers.render import task_line
from bot.handlers.router import Replies
from bot.reports.digest import digest_text, write_progress_chart

CHART_WORDS = ("图", "chart", "图表")


async def digest(ctx: Context, args: str) -> Replies:
    """/digest [单位] [图]：进度简报（全计划简报限节水办）"""
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
    tasks = await ctx.tasks()
    replies = [Reply(digest_text(ctx.plan.title, tasks, ctx.today, unit=unit))]
    if want_chart and unit is None:
        path = await write_progress_chart(ctx.services.settings.state_dir, ctx.plan.title, tasks, ctx.today)
        replies.append(Reply("各单位完成情况图", file=OutFile("进度图.png", path, is_image=True)))
    return replies


async def subscribe(ctx: Context, args: str) -> Replies:
    """/subscribe：本群订阅每周进度简报（节水办，群聊中使用）"""
    if not ctx.msg.is_group:
        raise UserError("请在要接收简报的群里发送 /subscribe。")
    new = await ctx.store.chats.subscribe(ctx.msg.chat, ctx.msg.user_name, by=ctx.actor, now=ctx.now)
    return [Reply("本群已订阅进度简报：每周一上午9点，以及有任务到期的月份的第一个工作日。" if new
                  else "本群已经订阅过进度简报了。")]


async def unsubscribe(ctx: Context, args: str) -> Replies:
    """/unsubscribe：本群取消订阅简报（节水办）"""
    gone = await ctx.store.chats.unsubscribe(ctx.msg.chat, by=ctx.actor, now=ctx.now)
    return [Reply("本群已取消订阅进度简报。" if gone else "本群没有订阅进度简报。")]


async def urge(ctx: Context, args: str) -> Replies:
    """/urge 单位 [任务号]：向该单位联络员发送催办提醒（节水办）"""
    if not args:
        raise UserError("请写上单位，例如「/urge 教育局」或「/urge 教育局 40」。")
    words = args.split()
    no = whole_number(words[-1]) if len(words) > 1 else None
    unit = ctx.resolve_unit(" ".join(words[:-1]) if no is not None else args).name
    tasks = await ctx.tasks()
    if no is not None:
        t = await ctx.task(no)
        if not t.role_of(unit):
            raise UserError(f"任务{no}与{unit}无关（牵头：{t.lead}）。")
        chosen = [t]
    else:
        horizon = ctx.today + dt.timedelta(days=30)
        chosen = sorted((t for t in tasks if t.role_of(unit) == "lead" and t.status.is_open and t.deadline <= horizon),
                        key=lambda t: (t.deadline, t.no))
        if not chosen:
            return [Reply(f"{unit}目前没有需要催办的任务。")]
    people = await ctx.store.people.liaisons(unit)
    if not people:
        raise UserError(f"{unit}还没有绑定联络员，无法催办。请先「/invite {unit}」。")
    text = "\n".join([f"【督办提醒】节水办提醒{unit}抓紧办理以下任务：",
                      *(task_line(t, ctx.today) for t in chosen[:10]),
                      "发送「任务号」查看详情，例如「任务" + str(chosen[0].no) + "」。"])
    stamp = ctx.now.isoformat()
    for p in people:
        await ctx.services.push(Push(p.chat, Reply(text), dedupe_key=f"urge:{ctx.plan.id}:{unit}:{stamp}:{p.key}"))
    await ctx.store.chats.record(ctx.actor, ctx.msg.channel, "urge", now=ctx.now, plan_id=ctx.plan.id, task_no=no,
                                 detail={"unit": unit, "tasks": [t.no for t in chosen], "to": [p.key for p in people]})
    unreachable = [p.display for p in people if p.unreachable_since]
    warn = f"（其中{'、'.join(unreachable)}目前无法送达）" if unreachable else ""
    return [Reply(f"已向{unit}的{len(people)}位联络员发送催办提醒，涉及{len(chosen)}项任务{warn}。")]
