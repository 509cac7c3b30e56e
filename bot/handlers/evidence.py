"""Evidence files arriving in chat: filed by caption, or by the sender's choice among likely items."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath

from rapidfuzz import fuzz

from bot.actions import evidence
from bot.actions.evidence import StoredBlob, bare
from bot.core.chinese import whole_number
from bot.core.errors import NotAllowed, UserError
from bot.core.intents import evidence_ref
from bot.core.messages import Choice, Reply
from bot.core.views import Question, TaskStatus
from bot.handlers.context import Context, WhichPlan
from bot.handlers.router import Replies

KIND = "evidence"
NEXT_KIND = "evidence-next"  # 「40-3」 said before a file: where the next file goes
NEXT_TTL = dt.timedelta(hours=1)
MAX_CHOICES = 4


async def on_attachments(ctx: Context) -> Replies:
    """Store every attached file, then file it by its caption or ask where it belongs."""
    replies: Replies = []
    task_no, item_no = evidence_ref(ctx.msg.text)
    if item_no is None:  # no caption (WeCom files carry none): the place the sender named just before, if any
        said = await ctx.store.chats.take_latest(ctx.person.key, NEXT_KIND, now=ctx.now)
        if said is not None:
            ctx.settle_asked(said.payload)
            task_no, item_no = int(str(said.payload["task"])), int(str(said.payload["item"]))
    for att in ctx.msg.attachments:
        try:
            blob = await evidence.keep_file(ctx.actor, att)
            if task_no is not None and item_no is not None and not await _in_several_plans(ctx, task_no):
                replies.append(await file_blob(ctx, blob, task_no, item_no))
            else:
                replies.append(await ask_where(ctx, blob, task_no, ctx.msg.text))
        except UserError as e:
            replies.append(Reply(f"「{evidence.kept_name(att.file_name)}」未归档：{e.message}"))
    return replies


async def file_blob(ctx: Context, blob: StoredBlob, task_no: int, item_no: int) -> Reply:
    """File a stored blob against (task, item) and say what is still missing."""
    filed = await evidence.file_evidence(ctx.actor, await ctx.plan_of(task_no), blob, task_no, item_no)
    next_step = f"，可以发送「/done {task_no}」提交审核。" if filed.task.role_of(ctx.person.unit or "") == "lead" else "。"
    return Reply(filed.summary() + (next_step if filed.ready else ""))


async def expect_file(ctx: Context, task_no: int, item_no: int) -> Replies:
    """Remember where the sender's next file goes: they said 「40-3」 before sending it."""
    if ctx.person.unit is None and not ctx.person.coordinator:
        raise NotAllowed("您还没有绑定单位，不能提交材料。请先发送「/bind 邀请码」。")
    item = evidence.item_for_upload(ctx.actor, await ctx.task(task_no), item_no)
    await ctx.store.chats.ask(ctx.person.key, NEXT_KIND, {"plan": ctx.plan.id, "task": task_no, "item": item_no},
                              now=ctx.now,
                              ttl=NEXT_TTL)
    return [Reply(f"好的，请发送文件：下一个文件将归入任务{task_no} 材料{item_no}《{bare(item.title)}》。")]


async def on_reupload(ctx: Context, question: Question, answer: str) -> Replies:
    """重新上传 under a return: the sender's next file goes to the returned item."""
    plan = next((p for p in ctx.plans if p.id == question.payload.get("plan")), None)
    if plan is None:
        raise UserError("这份计划已不在办理中。")
    ctx.settle(plan)
    return await expect_file(ctx, int(str(question.payload["task"])), int(str(question.payload["item"])))


async def ask_where(ctx: Context, blob: StoredBlob, task_no: int | None, caption: str) -> Reply:
    """Offer the likeliest open items (of one task, or of the sender's unit in every plan) as choices."""
    if task_no is not None:
        try:
            found = [(ctx.plan, await ctx.task(task_no))]
        except WhichPlan as e:  # the number is in several plans: its items in each of them are the choices
            found = [(p, t) for p in e.plans for t in await ctx.services.reads.tasks(p.id) if t.no == task_no]
        for _, t in found:
            evidence.require_upload(ctx.actor, t)
            if not t.items:
                raise UserError(f"任务{task_no}不要求提交佐证材料。")
        candidates = [(p, t, i) for p, t in found for i in sorted(t.items, key=lambda i: (i.files > 0, i.no))]
    else:
        unit = ctx.person.unit
        mine = [(p, t) for p, tasks in await ctx.all_tasks() for t in tasks
                if t.items and t.status is not TaskStatus.APPROVED and (unit and t.role_of(unit))]
        if not mine:
            raise UserError("请在文件说明里写上任务和材料序号，例如「12-3」表示任务12的第3项材料。")
        query = f"{PurePath(blob.file_name).stem} {caption}".strip()
        scored = [(_score(query, i.title, i.files), p, t, i) for p, t in mine for i in t.items]
        scored.sort(key=lambda x: (-x[0], x[2].deadline, x[2].no, x[3].no))
        seen: set[int] = set()  # a shared list's item is one choice, offered under its earliest task
        candidates = []
        for _, p, t, i in scored:
            if i.id not in seen and len(candidates) < MAX_CHOICES:
                seen.add(i.id)
                candidates.append((p, t, i))
    several = len({p.id for p, _, _ in candidates}) > 1
    options = [[p.id, t.no, i.no] for p, t, i in candidates[:8]]
    token = await ctx.store.chats.ask(ctx.person.key, KIND, {"blob": blob.payload(), "options": options},
                                      now=ctx.now)
    choices = [Choice(f"{f'{p.year}-' if several else ''}任务{t.no}-{i.no} {bare(i.title)[:18]}", f"{token}:{n}")
               for n, (p, t, i) in enumerate(candidates[:8])]
    choices.append(Choice("都不是，取消", f"{token}:x"))
    return Reply(f"收到「{blob.file_name}」。它是哪一项材料？请选择；也可以取消后重新发送，并在说明里写上「任务号-材料序号」，"
                 "例如「12-3」。", choices=tuple(choices))


async def on_choice(ctx: Context, question: Question, answer: str) -> Replies:
    """File the blob where the sender chose, or drop the question."""
    raw = question.payload["blob"]
    options = question.payload["options"]
    assert isinstance(raw, dict) and isinstance(options, list)
    blob = StoredBlob.from_payload(raw)
    if answer == "x":
        return [Reply(f"好的，「{blob.file_name}」没有归档。需要时请重新发送并写上「任务号-材料序号」。", edit=True)]
    n = whole_number(answer)
    if n is None or n >= len(options):
        raise UserError("这个按钮无效，请重新发送文件。")
    plan_id, task_no, item_no = options[n]
    plan = next((p for p in ctx.plans if p.id == plan_id), None)
    if plan is None:
        raise UserError("这份计划已不在办理中，文件没有归档。")
    ctx.settle(plan)
    reply = await file_blob(ctx, blob, int(task_no), int(item_no))
    return [Reply(reply.text, edit=True)]


async def _in_several_plans(ctx: Context, no: int) -> bool:
    """Tell whether a caption's task number is in more than one plan the sender could mean (then it is asked)."""
    try:
        await ctx.task(no)
    except WhichPlan:
        return True
    return False


def _score(query: str, title: str, files: int) -> float:
    score = float(fuzz.partial_ratio(bare(title), query)) if query else 0.0
    return score - (15 if files else 0)  # prefer items still missing
