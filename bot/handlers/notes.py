"""Progress notes (阶段性进展): a unit says in words what it has done on a task so far."""

from __future__ import annotations

from bot.actions import instructions, notes
from bot.actions.access import require_involved
from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.handlers.task import require_task_no

SHOWN = 10  # notes listed by "/note 41"


async def note(ctx: Context, args: str) -> Replies:
    """/note 41 进展内容：记录阶段性进展（/note 41 查看最近的进展）"""
    no = require_task_no(args, "/note 41 已完成2所学校的节水型单位申报")
    text = args.strip().partition(" ")[2].strip()
    if not text:
        return await _list(ctx, no)
    return await add_note(ctx, no, text)


async def add_note(ctx: Context, no: int, text: str) -> Replies:
    """Keep a note for a task the sender's unit leads or cooperates on (coordinators: any task)."""
    if not text.strip():
        require_involved(ctx.person, await ctx.task(no))
        raise UserError(f"请写上进展内容，例如「/note {no} 已完成2所学校的节水型单位申报」。")
    n = await notes.add_note(ctx.actor, await ctx.plan_of(no), no, text)
    return [Reply(f"已记录任务{no}的阶段性进展（{n.line()}）。节水办在任务详情、简报和台账中可以看到。")]


async def instruct(ctx: Context, args: str) -> Replies:
    """/批示 40 意见（/instruct 40 意见）：对本单位的任务写批示，联络员和节水办会收到（分管领导）"""
    no = require_task_no(args, "/批示 40 请抓紧落实")
    text = args.strip().partition(" ")[2].strip()
    if not text:
        raise UserError(f"请写上批示内容，例如「/批示 {no} 请抓紧落实」。")
    t = await instructions.instruct(ctx.actor, await ctx.plan_of(no), no, text)
    units = "、".join(dict.fromkeys([t.lead, ctx.person.unit or t.lead]))
    return [Reply(f"已将批示转给{units}联络员和节水办，并记入任务{no}的办理记录。")]


async def _list(ctx: Context, no: int) -> Replies:
    require_involved(ctx.person, await ctx.task(no))
    latest = await ctx.store.notes.latest(ctx.plan.id, no, SHOWN)
    if not latest:
        return [Reply(f"任务{no}还没有记录阶段性进展。记录：/note {no} 进展内容")]
    return [Reply("\n".join([f"任务{no}的阶段性进展（最近{len(latest)}条）：", *(f"· {n.line()}" for n in latest)]))]

