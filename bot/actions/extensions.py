"""Extension requests (延期申请): a lead unit asks to move a deadline, coordinators approve or reject, the unit is told."""

from __future__ import annotations

import datetime as dt

from bot.actions.access import require_coordinator, require_lead
from bot.actions.base import Actor
from bot.actions.notify import notify_coordinators, notify_unit
from bot.core.chinese import day_text
from bot.core.errors import UserError
from bot.core.views import ExtensionView, PlanView, TaskStatus

DECISION = "delay"  # the kind of question the coordinators' 批准 / 不批准 buttons answer


async def request_extension(actor: Actor, plan: PlanView, no: int, day: dt.date, reason: str) -> ExtensionView:
    """Record a lead unit's request; every coordinator gets it with 批准 / 不批准 buttons."""
    t = await actor.store.plans.task(plan.id, no)
    if actor.person.unit is None and actor.person.coordinator:
        raise UserError("延期由牵头单位的联络员申请；节水办在待批复的申请中批准或不批准。")
    unit = require_lead(actor.person, t, "只有牵头单位的联络员可以申请延期")
    if t.status is TaskStatus.APPROVED:
        raise UserError(f"任务{no}已审核完成，不需要延期。")
    reason = reason.strip(" ，,。.；;:：")
    if not reason:
        raise UserError("请写上延期原因，节水办审批时会看到。")
    ext = await actor.store.extensions.request(plan.id, no, day, reason, unit=unit, by=actor.key,
                                               channel=actor.channel, now=actor.now)
    notice = (f"【延期申请】{unit}（{actor.person.display}）申请将任务{no}的截止日期由{day_text(ext.deadline_from)}"
              f"延至{day_text(ext.deadline_to)}。\n原因：{reason}\n{t.short_title(40)}\n"
              f"也可发送「/delay approve {no}」批准，或「/delay reject {no} 原因」不批准。")
    await notify_coordinators(actor, notice, f"extension:{ext.id}", kind=DECISION, payload={"plan": plan.id, "task": no, "id": ext.id},
                              options=(("批准", "yes"), ("不批准", "no")))
    return ext


async def decide_extension(actor: Actor, plan: PlanView, no: int, *, approve: bool, note: str = "") -> ExtensionView:
    """Approve or reject a task's open request (coordinators); the unit is told."""
    require_coordinator(actor.person)
    note = note.strip()
    if not approve and not note:
        raise UserError("请写上不批准的原因，联络员会看到这句话。")
    await actor.store.plans.task(plan.id, no)
    ext = await actor.store.extensions.decide(plan.id, no, approve, note=note, by=actor.key, channel=actor.channel,
                                              now=actor.now)
    moved = f"截止日期由{day_text(ext.deadline_from)}改为{day_text(ext.deadline_to)}"
    if approve:
        text = f"✅ 任务{no}的延期申请已获节水办批准：{moved}。此后按新日期提醒。"
    else:
        text = f"任务{no}的延期申请未获批准，原因：{note}\n截止日期仍为{day_text(ext.deadline_from)}。"
    await notify_unit(actor, ext.unit, text, f"extension:{ext.id}:{ext.status}")
    return ext
