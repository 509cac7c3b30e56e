"""The review queue: tasks waiting for a coordinator's review, and a task's files sent back in chat."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.actions import returns
from bot.actions.returns import REASONS
from bot.core.chinese import day_text, whole_number
from bot.core.clock import SHANGHAI
from bot.core.messages import Choice, OutFile, Reply
from bot.core.views import PlanView, Question, TaskStatus, TaskView
from bot.handlers.completion import approve, returned_text
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.handlers.task import require_task_no
from bot.reports.render import files_list
from bot.store.files import BlobRefused

KIND = "review"
RETURN_FILE = "return-file"  # the 退回 button under a file, then its reasons
MAX_FILES = 5  # files sent per /review: a chat is not a download manager; the rest are in /export 材料


async def review(ctx: Context, args: str) -> Replies:
    """/review [任务号]：待审核的任务；/review 42 查看并接收该任务的文件，审核（节水办）"""
    ctx.require_coordinator()
    if not args.strip():
        return await _queue(ctx)
    no = require_task_no(args, "/review 42")
    t = await ctx.task(no)
    files = await ctx.store.evidence.files(ctx.plan.id, no)
    head = [f"任务{no}（牵头：{t.lead}）状态：{t.status.label} · 材料 {t.evidence_done}/{len(t.items)}"]
    if t.missing:
        head.append("未收到：" + "；".join(f"{i.no}. {i.title}" for i in t.missing))
    replies = [Reply("\n".join([*head, files_list(t, files)]))]
    for f in files[:MAX_FILES]:
        label = f"#{f.id} 材料{f.item_no} · {f.file_name}（{f.unit}）"
        try:  # a link or a changed file in the store is not sent (the store logs why)
            await asyncio.to_thread(ctx.store.files.check, f.sha256, f.size)
        except BlobRefused as e:
            replies.append(Reply(f"{label}：{e.message}"))
            continue
        token = await ctx.store.chats.ask(ctx.person.key, RETURN_FILE, {"file": f.id}, now=ctx.now)
        replies.append(Reply(label, file=OutFile(f.file_name, ctx.store.files.path_for(f.sha256)),
                             choices=(Choice("退回", f"{token}:ask"),)))
    tail = [f"另有{len(files) - MAX_FILES}个文件未发送，可发送「/export 材料 {t.lead}」导出全部材料。"
            ] if len(files) > MAX_FILES else []
    if t.status is not TaskStatus.SUBMITTED:
        return [*replies, *([Reply(tail[0])] if tail else [])]
    token = await ctx.store.chats.ask(ctx.person.key, KIND, {"plan": ctx.plan.id, "task": no}, now=ctx.now)
    tail.append(f"审核任务{no}：通过，或退回并说明原因。")
    return [*replies, Reply("\n".join(tail), choices=(Choice("审核通过", f"{token}:approve"),
                                                       Choice("退回", f"{token}:return")))]


async def on_choice(ctx: Context, question: Question, answer: str) -> Replies:
    """Approve from the button; 退回 asks for the reason the liaison will read."""
    no = int(str(question.payload["task"]))
    if answer == "approve":
        return [Reply(r.text, edit=True) for r in await approve(ctx, str(no))]
    return [Reply(f"请发送「/return {no} 原因」退回任务{no}，原因会转告联络员。", edit=True)]


async def on_return_file(ctx: Context, question: Question, answer: str) -> Replies:
    """退回 under a file offers the reasons as buttons; a reason returns the file, 其他 asks for the words."""
    file_id = int(str(question.payload["file"]))
    if answer == "ask":
        token = await ctx.store.chats.ask(ctx.person.key, RETURN_FILE, {"file": file_id}, now=ctx.now)
        choices = [Choice(reason, f"{token}:{n}") for n, reason in enumerate(REASONS)]
        return [Reply(f"退回文件 #{file_id} 的原因是？联络员会看到这句话。",
                      choices=(*choices, Choice("其他（填写）", f"{token}:other")))]
    n = whole_number(answer)
    if n is None or n >= len(REASONS):
        return [Reply(f"请发送「/return #{file_id} 原因」退回这个文件，原因会转告联络员。", edit=True)]
    return [Reply(returned_text(await returns.return_file(ctx.actor, file_id, REASONS[n])), edit=True)]


async def _queue(ctx: Context) -> Replies:
    """List the tasks waiting for review, the longest-waiting first."""
    plans = await ctx.all_tasks()
    waiting: list[tuple[dt.datetime | None, PlanView, TaskView]] = []
    for plan, tasks in plans:
        submitted = await ctx.store.plans.submitted_at(plan.id)
        waiting += [(submitted.get(t.no), plan, t) for t in tasks if t.status is TaskStatus.SUBMITTED]
    waiting.sort(key=lambda w: (w[0] is None, w[0] or dt.datetime.max.replace(tzinfo=dt.UTC), w[1].id, w[2].no))
    if not waiting:
        return [Reply("目前没有待审核的任务。")]
    several = len(plans) > 1
    lines = [f"待审核的任务（{len(waiting)}项，先提交的在前）："]
    for at, plan, t in waiting:
        since = ""
        if at is not None:
            day = at.astimezone(SHANGHAI).date()
            since = f" · {day_text(day)}提交，已等{(ctx.today - day).days}天"
        evidence = f"材料 {t.evidence_done}/{len(t.items)}" if t.items else "无需材料"
        which = f"{plan.year}-" if several else ""
        lines.append(f"· 任务{which}{t.no}（{t.lead}）{t.short_title(20)} · {evidence}{since}")
    first = waiting[0]
    lines.append(f"发送「/review {f'{first[1].year}-' if several else ''}{first[2].no}」查看材料并审核。")
    return [Reply("\n".join(lines))]
