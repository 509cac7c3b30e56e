"""The buttons under a reminder: view a task, upload evidence, or 稍后提醒 (snooze)."""

from __future__ import annotations

import dataclasses

from bot.core.chinese import weekday_name, whole_number
from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.core.views import Question
from bot.core.workdays import add_workdays
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.handlers.task import task_reply
from bot.reminders.buttons import KIND, SNOOZE, UPLOAD, VIEW

__all__ = ["KIND", "on_reminder_choice"]  # KIND is re-exported for build_router

MAX_UPLOADS = 5  # tasks answered per press of 上传材料


async def on_reminder_choice(ctx: Context, question: Question, answer: str) -> Replies:
    """Act on a reminder's button: show the task, give the upload link, or hold the reminders a few working days."""
    action = str(question.payload.get("action", answer))
    if action == VIEW:
        return await _view(ctx, _int(question.payload.get("plan")), _int(question.payload.get("task")))
    refs = _refs(question.payload.get("tasks"))
    if action == UPLOAD:
        return await _upload(ctx, refs)
    if action == SNOOZE:
        return await _snooze(ctx, refs)
    raise UserError("这个按钮已失效，请重新发起操作。")


async def _on_plan(ctx: Context, plan_id: int) -> Context:
    """Return the context switched to the reminder's plan (buttons may outlive a change of the chats' plan)."""
    if plan_id == ctx.plan.id:
        ctx.pinned = True
        return ctx
    for plan in await ctx.store.plans.list_plans():
        if plan.id == plan_id:
            return dataclasses.replace(ctx, plan=plan, pinned=True, _tasks=None)
    raise UserError("这项任务所在的计划已不存在。")


async def _view(ctx: Context, plan_id: int, no: int) -> Replies:
    return await task_reply(await _on_plan(ctx, plan_id), no)


async def _upload(ctx: Context, refs: list[tuple[int, int]]) -> Replies:
    replies: Replies = []
    hints: list[str] = []
    for plan_id, no in refs:
        if len(replies) + len(hints) >= MAX_UPLOADS:
            break
        here = await _on_plan(ctx, plan_id)
        t = await here.task(no)
        if not t.items or not (ctx.person.coordinator or t.role_of(ctx.person.unit or "")):
            continue  # no checklist, or no longer the sender's unit's task
        missing = "、".join(f"({i.no}){i.title}" for i in t.missing[:3]) or "已全部收到，可补充更新"
        link = ctx.services.upload_link
        if link is not None and here is ctx:
            replies.append(Reply(f"任务{no}还需：{missing}", link=(f"上传任务{no}的材料", link(ctx.person, here.plan.id, no))))
        else:
            example = (t.missing or t.items)[0].no
            hints.append(f"· 任务{no}：发送文件，说明写「{no}-材料序号」，如「{no}-{example}」。还需：{missing}")
    if hints:
        replies.append(Reply("提交材料：直接在这里发送文件即可。\n" + "\n".join(hints)))
    return replies or [Reply("这些任务不要求提交佐证材料，或已不是贵单位的任务。")]


async def _snooze(ctx: Context, refs: list[tuple[int, int]]) -> Replies:
    until = add_workdays(ctx.today, ctx.services.settings.snooze_workdays)
    repo = ctx.store.reminders
    for plan_id, no in refs:
        await repo.snooze(ctx.person.key, plan_id, no, until)
    names = "、".join(f"任务{no}" for _, no in refs[:10]) + (f"等{len(refs)}项" if len(refs) > 10 else "")
    return [Reply(f"好的，{names}将在{until.month}月{until.day}日（{weekday_name(until)}）再提醒您。"
                  "期间的提醒暂停，其余提醒照常。")]


def _int(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (n := whole_number(value)) is not None:
        return n
    raise UserError("这个按钮已失效，请重新发起操作。")


def _refs(value: object) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise UserError("这个按钮已失效，请重新发起操作。")
    out: list[tuple[int, int]] = []
    for pair in value:
        if isinstance(pair, list) and len(pair) == 2:
            out.append((_int(pair[0]), _int(pair[1])))
    return out
