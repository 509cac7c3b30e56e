"""Completion: a lead unit's /done, a coordinator's /approve or /return, /progress toward targets."""

from __future__ import annotations

from bot.core.chinese import decimal_number
from bot.core.errors import NotAllowed, UserError
from bot.core.messages import Choice, Reply
from bot.core.views import PendingView, TaskStatus, TaskView
from bot.handlers.context import Context
from bot.handlers.notify import notify_coordinators as _notify_coordinators
from bot.handlers.notify import notify_unit as _notify_unit
from bot.handlers.router import Replies
from bot.handlers.task import require_task_no

KIND = "done"
MAX_PROGRESS = 1_000_000


async def done(ctx: Context, args: str) -> Replies:
    """/done 12：报告任务完成，提交节水办审核"""
    t = await _own_task(ctx, require_task_no(args, "/done 12"))
    no = t.no
    if t.status is TaskStatus.SUBMITTED:
        return [Reply(f"任务{no}已提交，正在等待节水办审核。")]
    if t.status is TaskStatus.APPROVED:
        return [Reply(f"任务{no}已审核完成，无需再提交。")]
    if t.missing:
        token = await ctx.store.chats.ask(ctx.person.key, KIND, {"task": no}, now=ctx.now)
        lines = [f"任务{no}还有{len(t.missing)}项材料没有收到："]
        lines += [f"⬜ {i.no}. {i.title}" for i in t.missing]
        lines.append("确定现在就提交审核吗？节水办审核时会看到缺少的材料。")
        return [Reply("\n".join(lines), choices=(Choice("仍然提交审核", f"{token}:yes"),
                                                  Choice("先不提交，继续补材料", f"{token}:no")))]
    return await _submit(ctx, t)


async def on_confirm(ctx: Context, pending: PendingView, answer: str) -> Replies:
    """Submit after the liaison confirmed despite missing items, or keep working."""
    no = int(str(pending.payload["task"]))
    if answer != "yes":
        return [Reply(f"好的，任务{no}暂不提交。材料补齐后再发送「/done {no}」。", edit=True)]
    return await _submit(ctx, await _own_task(ctx, no))


async def _own_task(ctx: Context, no: int) -> TaskView:
    """Return a task the sender's unit leads now (a button may outlive a /remove or a change of unit)."""
    t = await ctx.task(no)
    unit = ctx.require_unit()
    if t.lead != unit:
        raise NotAllowed(f"任务{no}由{t.lead}牵头，只有牵头单位的联络员可以报告完成。")
    return t


async def _submit(ctx: Context, t: TaskView) -> Replies:
    await ctx.store.plans.set_status(ctx.plan.id, t.no, TaskStatus.SUBMITTED, actor=ctx.actor,
                                     channel=ctx.msg.channel, now=ctx.now,
                                     expect=(TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS, TaskStatus.RETURNED))
    missing = f"，缺{len(t.missing)}项材料" if t.missing else "，材料齐全"
    notice = (f"【待审核】{t.lead}报告任务{t.no}已完成{missing}（材料 {t.evidence_done}/{len(t.items)}）。\n"
              f"{t.short_title(40)}\n审核通过发送「/approve {t.no}」，退回发送「/return {t.no} 原因」。")
    await _notify_coordinators(ctx, notice, f"submitted:{ctx.plan.id}:{t.no}:{ctx.now.isoformat()}")
    return [Reply(f"任务{t.no}已提交节水办审核，状态：待审核。审核结果会通知您。", edit=bool(ctx.msg.callback))]


async def approve(ctx: Context, args: str) -> Replies:
    """/approve 12：审核通过（节水办）"""
    no = require_task_no(args, "/approve 12")
    t = await ctx.task(no)
    await ctx.store.plans.set_status(ctx.plan.id, no, TaskStatus.APPROVED, actor=ctx.actor, channel=ctx.msg.channel,
                                     now=ctx.now, expect=(TaskStatus.SUBMITTED,))
    await _notify_unit(ctx, t.lead, f"✅ 任务{no}已通过节水办审核，状态：已完成。辛苦了！",
                       f"approved:{ctx.plan.id}:{no}:{ctx.now.isoformat()}")
    return [Reply(f"任务{no}已审核通过（已完成），已通知{t.lead}。")]


async def return_task(ctx: Context, args: str) -> Replies:
    """/return 12 原因：退回任务并说明原因（节水办）"""
    no = require_task_no(args, "/return 12 原因")
    reason = args.split(" ", 1)[1].strip() if " " in args.strip() else ""
    if not reason:
        raise UserError(f"请写上退回原因，例如「/return {no} 缺少会议照片」，联络员会看到这句话。")
    t = await ctx.task(no)
    await ctx.store.plans.set_status(ctx.plan.id, no, TaskStatus.RETURNED, actor=ctx.actor, channel=ctx.msg.channel,
                                     now=ctx.now, note=reason, expect=(TaskStatus.SUBMITTED, TaskStatus.APPROVED))
    await _notify_unit(ctx, t.lead, f"↩️ 任务{no}被节水办退回，原因：{reason}\n请补充后再次发送「/done {no}」。",
                       f"returned:{ctx.plan.id}:{no}:{ctx.now.isoformat()}")
    return [Reply(f"任务{no}已退回{t.lead}，原因：{reason}。已通知该单位联络员。")]


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
    t = await ctx.task(no)
    if not ctx.person.coordinator:
        unit = ctx.require_unit()
        if t.lead != unit:
            raise NotAllowed(f"任务{no}由{t.lead}牵头，只有牵头单位可以登记进度。")
    remark = parts[2] if len(parts) > 2 else ""
    await ctx.store.plans.set_progress(ctx.plan.id, no, value, remark=remark, actor=ctx.actor,
                                       channel=ctx.msg.channel, now=ctx.now)
    target = f"（目标：{t.targets[0].phrase}）" if t.targets else ""
    shown = int(value) if value.is_integer() else value
    return [Reply(f"已登记任务{no}的进度：{shown}{target}" + (f"，备注：{remark}" if remark else "") + "。")]
