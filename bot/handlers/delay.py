"""Extension requests (延期申请): a lead unit asks, coordinators approve or reject, the unit is told."""

from __future__ import annotations

import datetime as dt

from bot.actions import extensions
from bot.actions.access import require_involved
from bot.core.chinese import day_text, find_day
from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.core.views import ExtensionView, Question
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.handlers.task import require_task_no

KIND = extensions.DECISION
USAGE = "/delay 40 2023-11-15 原因"
APPROVE_WORDS = ("approve", "批准", "同意")
REJECT_WORDS = ("reject", "不批准", "驳回", "不同意")


async def delay(ctx: Context, args: str) -> Replies:
    """/delay 40 2023-11-15 原因：申请延期；节水办：/delay 查看待批复，/delay approve 40，/delay reject 40 原因"""
    word, _, rest = args.strip().partition(" ")
    if word.lower() in APPROVE_WORDS:
        return await decide(ctx, require_task_no(rest.strip(), "/delay approve 40"), approve=True, note="")
    if word.lower() in REJECT_WORDS:
        no = require_task_no(rest.strip(), "/delay reject 40 原因")
        return await decide(ctx, no, approve=False, note=rest.strip().partition(" ")[2].strip())
    if not args.strip():
        return await _open_requests(ctx)
    no = require_task_no(args, USAGE)
    if not rest.strip():
        return await _history(ctx, no)
    found = find_day(rest, ctx.plan.year)
    if found is None:
        raise UserError(f"请写上新的截止日期，例如「/delay {no} 2023-11-15 学校暑期停课，需顺延」。")
    day, _, end = found
    return await request(ctx, no, day, rest[end:])


async def request(ctx: Context, no: int, day: dt.date | None, reason: str) -> Replies:
    """Record a lead unit's request and put it before the coordinators with 批准 / 不批准 buttons."""
    if ctx.person.unit is None and ctx.person.coordinator:
        raise UserError("延期由牵头单位的联络员申请；节水办发送「/delay」查看待批复的申请。")
    if day is None:
        await ctx.task(no)
        raise UserError(f"请写上延期到哪一天，例如「任务{no}申请延期到11月15日，因为……」。")
    if not reason.strip(" ，,。.；;:："):
        raise UserError(f"请写上延期原因，例如「/delay {no} {day:%Y-%m-%d} 学校暑期停课，需顺延」，节水办审批时会看到。")
    ext = await extensions.request_extension(ctx.actor, await ctx.plan_of(no), no, day, reason)
    return [Reply(f"已提交任务{no}的延期申请：截止日期由{day_text(ext.deadline_from)}延至{day_text(ext.deadline_to)}，"
                  f"原因：{ext.reason}。节水办批复后会通知您；批复前仍按原截止日期提醒。")]


async def on_choice(ctx: Context, question: Question, answer: str) -> Replies:
    """Approve from the 批准 button; 不批准 asks for the reason the liaison will read."""
    no = int(str(question.payload["task"]))
    if answer == "yes":
        replies = await decide(ctx, no, approve=True, note="")
        return [Reply(r.text, edit=True) for r in replies]
    return [Reply(f"请发送「/delay reject {no} 原因」说明不批准的原因，联络员会看到这句话。", edit=True)]


async def decide(ctx: Context, no: int, *, approve: bool, note: str) -> Replies:
    """Approve or reject a task's open request (coordinators) and tell the unit."""
    ctx.require_coordinator()
    if not approve and not note:
        raise UserError(f"请写上不批准的原因，例如「/delay reject {no} 请按原计划完成」，联络员会看到这句话。")
    ext = await extensions.decide_extension(ctx.actor, await ctx.plan_of(no), no, approve=approve, note=note)
    moved = f"截止日期由{day_text(ext.deadline_from)}改为{day_text(ext.deadline_to)}"
    if approve:
        return [Reply(f"已批准任务{no}延期：{moved}，已通知{ext.unit}。")]
    return [Reply(f"已不批准任务{no}的延期申请，原因：{note}。已通知{ext.unit}。")]


async def _open_requests(ctx: Context) -> Replies:
    """List the requests waiting for a decision (coordinators), or explain the command (liaisons)."""
    if not ctx.person.coordinator:
        return [Reply(f"申请延期：{USAGE}，例如「/delay 40 2023-11-15 学校暑期停课，需顺延」。"
                      "也可以直接说「任务40申请延期到11月15日，因为……」。")]
    waiting = [e for p, _ in await ctx.all_tasks() for e in await ctx.store.extensions.pending(p.id)]
    if not waiting:
        return [Reply("目前没有待批复的延期申请。")]
    lines = [f"待批复的延期申请（{len(waiting)}项）："]
    lines += [_line(e) for e in waiting]
    lines.append(f"批准：/delay approve {waiting[0].task_no}；不批准：/delay reject {waiting[0].task_no} 原因")
    return [Reply("\n".join(lines))]


async def _history(ctx: Context, no: int) -> Replies:
    """Show a task's requests and what became of them."""
    require_involved(ctx.person, await ctx.task(no))
    history = await ctx.store.extensions.of_task(ctx.plan.id, no)
    if not history:
        return [Reply(f"任务{no}没有延期申请。申请延期：/delay {no} 2023-11-15 原因")]
    return [Reply("\n".join([f"任务{no}的延期申请：", *(_line(e) for e in history)]))]


def _line(e: ExtensionView) -> str:
    decided = f"（{e.decision_note}）" if e.decision_note else ""
    return (f"· 任务{e.task_no}（{e.unit}）{day_text(e.deadline_from)} → {day_text(e.deadline_to)}，"
            f"原因：{e.reason} · {e.status_label}{decided}")
