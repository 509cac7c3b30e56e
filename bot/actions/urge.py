"""A coordinator's 催办: the unit's liaisons are pushed the tasks to hurry (one task named: a numbered 督办通知单),
and the urge is recorded for each task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.actions.access import require_coordinator
from bot.actions.base import Actor
from bot.actions.notices import Issued, issue_notice
from bot.core.errors import UserError
from bot.core.messages import Push, Reply
from bot.core.views import PersonView, PlanView, TaskView, UrgeCount
from bot.reports.render import task_line

HORIZON = dt.timedelta(days=30)  # without a task named, the unit's open tasks due within this are urged
SHOWN = 10


@dataclass(frozen=True)
class Urged:
    """What an urge reached: the unit, its tasks named, and its liaisons (some perhaps unreachable)."""

    unit: str
    tasks: tuple[TaskView, ...]
    liaisons: tuple[PersonView, ...]
    before: Mapping[int, UrgeCount] = field(default_factory=dict)  # how often each task was urged before this
    notice: Issued | None = None  # the 督办通知单 sent, when one task was named

    def history(self) -> list[str]:
        """Say, task by task, how often each was urged before: 任务40此前已催办2次（最近一次10月21日）."""
        return [self.before[t.no].phrase(t.no) if t.no in self.before else f"任务{t.no}此前未催办过"
                for t in self.tasks]

    @property
    def unreachable(self) -> list[str]:
        """Return the names of liaisons the platform said cannot be reached."""
        return [p.display for p in self.liaisons if p.unreachable_since]


async def urge(actor: Actor, plan: PlanView, unit: str, no: int | None = None) -> Urged | None:
    """Push a 督办提醒 to a unit's liaisons about one task, or about its open tasks due soon; None when none are."""
    require_coordinator(actor.person)
    today = actor.services.clock.today()
    if no is not None:
        t = await actor.store.plans.task(plan.id, no)
        if not t.role_of(unit):
            raise UserError(f"任务{no}与{unit}无关（牵头：{t.lead}）。")
        if not t.status.is_open:
            raise UserError(f"任务{no}{t.status.label}，无需催办。")
        chosen = [t]
    else:
        chosen = sorted((t for t in await actor.store.plans.tasks(plan.id)
                         if t.role_of(unit) == "lead" and t.status.is_open and t.deadline <= today + HORIZON),
                        key=lambda t: (t.deadline, t.no))
        if not chosen:
            return None
    people = await actor.store.people.liaisons(unit)
    if not people:
        raise UserError(f"{unit}还没有绑定联络员，无法催办。请先邀请联络员（/invite {unit}）。")
    if no is not None:  # one task named: a numbered 督办通知单, which counts as the urge
        issued = await issue_notice(actor.services, plan, chosen[0], unit, by=actor.key, channel=actor.channel,
                                    liaisons=people)
        return Urged(unit, tuple(chosen), tuple(people), issued.before, issued)
    text = "\n".join([f"【督办提醒】节水办提醒{unit}抓紧办理以下任务：", *(task_line(t, today) for t in chosen[:SHOWN]),
                      f"发送「任务号」查看详情，例如「任务{chosen[0].no}」。"])
    stamp = actor.now.isoformat()
    for p in people:
        await actor.services.push(Push(p.chat, Reply(text), dedupe_key=f"urge:{plan.id}:{unit}:{stamp}:{p.key}"))
    before = await actor.store.urges.record(plan.id, unit, [t.no for t in chosen], by=actor.key, channel=actor.channel,
                                            now=actor.now, detail={"to": [p.key for p in people]})
    return Urged(unit, tuple(chosen), tuple(people), before)
