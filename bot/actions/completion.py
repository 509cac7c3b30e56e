"""A task's way to done: the lead unit submits, a coordinator approves or returns; progress toward its targets."""

from __future__ import annotations

from bot.actions.access import require_coordinator, require_lead
from bot.actions.base import Actor
from bot.actions.notify import notify_coordinators, notify_unit
from bot.core.errors import UserError
from bot.core.views import PlanView, TaskStatus, TaskView

MAX_PROGRESS = 1_000_000
OPEN = (TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS, TaskStatus.RETURNED)


class MissingEvidence(UserError):
    """The task still lacks evidence items: submitting needs the liaison's confirmation."""

    def __init__(self, task: TaskView) -> None:
        super().__init__(f"任务{task.no}还有{len(task.missing)}项材料没有收到。")
        self.task = task


async def task_of(actor: Actor, plan: PlanView, no: int) -> TaskView:
    """Return a task with its progress as it stands in the store now."""
    return await actor.store.plans.task(plan.id, no)


async def submit(actor: Actor, plan: PlanView, no: int, *, despite_missing: bool = False) -> TaskView:
    """Report a task done for review (its lead unit's liaison); the coordinators are told. Return it as it was.

    A task still missing evidence items is submitted only `despite_missing` (the liaison confirmed).
    """
    t = await task_of(actor, plan, no)
    require_lead(actor.person, t, "只有牵头单位的联络员可以报告完成")
    if t.status is TaskStatus.SUBMITTED:
        raise UserError(f"任务{no}已提交，正在等待节水办审核。")
    if t.status is TaskStatus.APPROVED:
        raise UserError(f"任务{no}已审核完成，无需再提交。")
    if t.missing and not despite_missing:
        raise MissingEvidence(t)
    await actor.store.plans.set_status(plan.id, no, TaskStatus.SUBMITTED, actor=actor.key, channel=actor.channel,
                                       now=actor.now, expect=OPEN)
    missing = f"，缺{len(t.missing)}项材料" if t.missing else "，材料齐全"
    notice = (f"【待审核】{t.lead}报告任务{no}已完成{missing}（材料 {t.evidence_done}/{len(t.items)}）。\n"
              f"{t.short_title(40)}\n审核通过发送「/approve {no}」，退回发送「/return {no} 原因」，或在督办台审核。")
    await notify_coordinators(actor, notice, f"submitted:{plan.id}:{no}:{actor.now.isoformat()}")
    return t


async def approve(actor: Actor, plan: PlanView, no: int) -> TaskView:
    """Accept a submitted task (coordinators); its unit is told. Return it as it was."""
    require_coordinator(actor.person)
    t = await task_of(actor, plan, no)
    await actor.store.plans.set_status(plan.id, no, TaskStatus.APPROVED, actor=actor.key, channel=actor.channel,
                                       now=actor.now, expect=(TaskStatus.SUBMITTED,))
    await notify_unit(actor, t.lead, f"✅ 任务{no}已通过节水办审核，状态：已完成。辛苦了！",
                      f"approved:{plan.id}:{no}:{actor.now.isoformat()}")
    return t


async def return_task(actor: Actor, plan: PlanView, no: int, reason: str) -> TaskView:
    """Send a submitted or approved task back with the reason its unit will read (coordinators). Return it as it was."""
    require_coordinator(actor.person)
    reason = " ".join(reason.split()).strip("。 ")
    if not reason:
        raise UserError("请写上退回原因，联络员会看到这句话。")
    t = await task_of(actor, plan, no)
    await actor.store.plans.set_status(plan.id, no, TaskStatus.RETURNED, actor=actor.key, channel=actor.channel,
                                       now=actor.now, note=reason, expect=(TaskStatus.SUBMITTED, TaskStatus.APPROVED))
    await notify_unit(actor, t.lead, f"↩️ 任务{no}被节水办退回，原因：{reason}\n请补充后再次发送「/done {no}」。",
                      f"returned:{plan.id}:{no}:{actor.now.isoformat()}")
    return t


async def set_progress(actor: Actor, plan: PlanView, no: int, value: float, remark: str = "") -> TaskView:
    """Record a count toward the task's target (its lead unit, or a coordinator). Return the task as it was."""
    if not 0 <= value <= MAX_PROGRESS:
        raise UserError(f"进度应在 0 到 {MAX_PROGRESS:,} 之间。")
    t = await task_of(actor, plan, no)
    if not actor.person.coordinator:
        require_lead(actor.person, t, "只有牵头单位可以登记进度")
    await actor.store.plans.set_progress(plan.id, no, value, remark=remark, actor=actor.key, channel=actor.channel,
                                         now=actor.now)
    return t
