"""Progress notes (阶段性进展): what a unit reports it has done on a task so far, in its own words."""

from __future__ import annotations

from bot.actions.access import require_involved, require_liaison
from bot.actions.base import Actor
from bot.core.errors import UserError
from bot.core.views import PlanView, ProgressNoteView


async def add_note(actor: Actor, plan: PlanView, no: int, text: str) -> ProgressNoteView:
    """Keep a note for a task the actor's unit leads or cooperates on (coordinators: any task)."""
    require_involved(actor.person, await actor.store.plans.task(plan.id, no))
    if not actor.person.coordinator:
        require_liaison(actor.person)
    if not text.strip():
        raise UserError("请写上进展内容。")
    return await actor.store.notes.add(plan.id, no, text.strip(), unit=actor.person.unit or "节水办", author=actor.key,
                                       author_name=actor.person.name, channel=actor.channel, now=actor.now)
