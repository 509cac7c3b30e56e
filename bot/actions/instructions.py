"""A 分管领导's 批示 on a task: written by the leader of a unit taking part, read by its liaisons and the coordinators,
kept in the task's history."""

from __future__ import annotations

from bot.actions.access import require_instruct
from bot.actions.base import Actor
from bot.actions.notify import notify_coordinators, notify_unit
from bot.core.errors import UserError
from bot.core.views import PlanView, TaskView

MAX_INSTRUCTION = 500  # characters: a leader's remark, not a report
ACTION = "task.instruction"  # the audit entry that keeps it


async def instruct(actor: Actor, plan: PlanView, no: int, text: str) -> TaskView:
    """Keep a leader's 批示 on a task and tell the unit's liaisons and every coordinator. Return the task."""
    t = await actor.store.plans.task(plan.id, no)
    require_instruct(actor.person, t)
    text = " ".join(text.split())[:MAX_INSTRUCTION]
    if not text:
        raise UserError("请写上批示内容。")
    unit = actor.person.unit or t.lead
    await actor.store.chats.record(actor.key, actor.channel, ACTION, now=actor.now, plan_id=plan.id, task_no=no,
                                   detail={"text": text, "unit": unit, "name": actor.person.display})
    notice = f"【分管领导批示】{unit}分管领导{actor.person.display}对任务{no}《{t.short_title(30)}》批示：{text}"
    key = f"instruction:{plan.id}:{no}:{actor.now.isoformat()}"
    for to in dict.fromkeys([t.lead, unit]):
        await notify_unit(actor, to, notice, key)
    await notify_coordinators(actor, notice, key)
    return t
