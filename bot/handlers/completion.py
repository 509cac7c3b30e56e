"""Completion in chat: a lead unit's /done, a coordinator's /approve or /return, /progress toward targets."""

from __future__ import annotations

from bot.actions import completion, returns
from bot.actions.completion import MAX_PROGRESS, MissingEvidence
from bot.actions.evidence import bare
from bot.actions.returns import Returned
from bot.core.chinese import decimal_number, whole_number
from bot.core.errors import UserError
from bot.core.intents import evidence_ref
from bot.core.messages import Choice, Reply
from bot.core.views import Question
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.handlers.task import require_task_no

KIND = "done"


async def done(ctx: Context, args: str) -> Replies:
    """/done 12：报告任务完成，提交节水办审核"""
    return await _submit(ctx, require_task_no(args, "/done 12"), despite_missing=False)


async def on_confirm(ctx: Context, question: Question, answer: str) -> Replies:
    """Submit after the liaison confirmed despite missing items, or keep working."""
    no = int(str(question.payload["task"]))
    if answer != "yes":
        return [Reply(f"好的，任务{no}暂不提交。材料补齐后再发送「/done {no}」。", edit=True)]
    return await _submit(ctx, no, despite_missing=True)


async def _submit(ctx: Context, no: int, *, despite_missing: bool) -> Replies:
    try:
        await completion.submit(ctx.actor, await ctx.plan_of(no), no, despite_missing=despite_missing)
    except MissingEvidence as e:
        t = e.task
        token = await ctx.store.chats.ask(ctx.person.key, KIND, {"plan": ctx.plan.id, "task": no}, now=ctx.now)
        lines = [f"任务{no}还有{len(t.missing)}项材料没有收到："]
        lines += [f"⬜ {i.no}. {i.title}" for i in t.missing]
        lines.append("确定现在就提交审核吗？节水办审核时会看到缺少的材料。")
        return [Reply("\n".join(lines), choices=(Choice("仍然提交审核", f"{token}:yes"),
                                                  Choice("先不提交，继续补材料", f"{token}:no")))]
    return [Reply(f"任务{no}已提交节水办审核，状态：待审核。审核结果会通知您。", edit=bool(ctx.msg.callback))]


async def approve(ctx: Context, args: str) -> Replies:
    """/approve 12：审核通过（节水办）"""
    no = require_task_no(args, "/approve 12")
    t = await completion.approve(ctx.actor, await ctx.plan_of(no), no)
    return [Reply(f"任务{t.no}已审核通过（已完成），已通知{t.lead}。")]


async def return_task(ctx: Context, args: str) -> Replies:
    """/return 12 原因：退回任务；/return 12-3 原因：退回一项材料；/return #37 原因：退回一个文件（节水办）"""
    word, _, reason = args.strip().partition(" ")
    reason = reason.strip()
    if word[:1] in "#＃" and word[1:]:
        file_id = whole_number(word[1:])
        if file_id is None:
            raise UserError("请写上文件编号（阿拉伯数字），例如「/return #37 缺少盖章页」。")
        if not reason:
            raise UserError(f"请写上退回原因，例如「/return #{file_id} 缺少盖章页」，联络员会看到这句话。")
        return [Reply(returned_text(await returns.return_file(ctx.actor, file_id, reason)))]
    named, item_no = evidence_ref(word)
    no = named if named is not None and item_no is not None else require_task_no(args, "/return 12 原因")
    if not reason:
        example = f"{no}-{item_no} 缺少盖章页" if item_no is not None else f"{no} 缺少会议照片"
        raise UserError(f"请写上退回原因，例如「/return {example}」，联络员会看到这句话。")
    if item_no is not None:
        return [Reply(returned_text(await returns.return_item(ctx.actor, await ctx.plan_of(no), no, item_no, reason)))]
    t = await completion.return_task(ctx.actor, await ctx.plan_of(no), no, reason)
    return [Reply(f"任务{no}已退回{t.lead}，原因：{reason.rstrip('。')}。已通知该单位联络员。")]


def returned_text(r: Returned) -> str:
    """Say to the coordinator what a return of an item or a file gave back."""
    return (f"已退回任务{r.task.no} 材料{r.item_no}《{bare(r.item_title)}》的文件{r.names}，原因：{r.reason}。"
            f"已通知{r.task.lead}联络员；任务{r.task.no}材料 {r.task.evidence_done}/{len(r.task.items)}。")


async def progress(ctx: Context, args: str) -> Replies:
    """/progress 20 2 备注：登记任务的数量进度（如已开展2次）"""
    parts = args.split(maxsplit=2)
    no = require_task_no(args, "/progress 20 2 已开展两次宣传")
    if len(parts) < 2:
        raise UserError(f"请写上进度数字，例如「/progress {no} 2 已开展两次宣传」。")
    value = decimal_number(parts[1].rstrip("%％次家个"), MAX_PROGRESS)
    if value is None:
        raise UserError(f"进度“{parts[1][:20]}”不是合理的数字：请写 0 到 {MAX_PROGRESS:,} 之间的数，"
                        f"例如「/progress {no} 2」或「/progress {no} 2.5」。")
    remark = parts[2] if len(parts) > 2 else ""
    t = await completion.set_progress(ctx.actor, await ctx.plan_of(no), no, value, remark)
    target = f"（目标：{t.targets[0].phrase}）" if t.targets else ""
    shown = int(value) if value.is_integer() else value
    return [Reply(f"已登记任务{no}的进度：{shown}{target}" + (f"，备注：{remark}" if remark else "") + "。")]
