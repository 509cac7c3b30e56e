"""What every handler receives: the long-lived services and this message's sender and plan."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.actions import access
from bot.actions.base import Actor, Services
from bot.core.errors import UserError
from bot.core.messages import Message, realm
from bot.core.units import Unit, require_unit
from bot.core.views import PersonView, PlanView, TaskView
from bot.store.store import Store

ANYONE, LIAISON = "all", "liaison"  # who may use a command or button; any other `who` means coordinators only
WORK, LEADER = "work", "leader"  # liaison: anyone bound (sees); work: liaisons who act (no leader); leader: 批示


async def identify(services: Services, msg: Message, *, fresh: bool) -> PersonView:
    """Return who sent `msg`: from the read model for a question, from the database (`fresh`) for an action.

    The channel is the chat's: the one the message came on (the desk speaks in the person's last chat, and so
    leaves it where it was).
    """
    channel = msg.chat.channel
    chat_id = None if msg.is_group else msg.chat.chat_id
    coordinator = f"{realm(channel)}:{msg.user_id}" in services.settings.coordinator_keys
    if not fresh:  # the steady state: known here, nothing to record, no clock read
        hit = services.reads.known(channel, msg.user_id, name=msg.user_name, chat_id=chat_id, coordinator=coordinator)
        if hit is not None:
            return hit
    source = services.store.people if fresh else services.reads
    return await source.identify(channel, msg.user_id, name=msg.user_name, now=services.clock.utcnow(),
                                 chat_id=chat_id, coordinator=coordinator)


@dataclass
class Context:
    """One message being handled.

    Several plans can be active at once. `plan` is the plan this message is about: the one a task number it names
    belongs to (`task()` settles it, asking back when the number is in more than one plan), the one the sender
    named before the number (「2024-12」, 「河长制12」: `pinned`), or else the newest active plan.
    """

    services: Services
    msg: Message
    person: PersonView
    plan: PlanView
    plans: list[PlanView] = field(default_factory=list)  # the active plans this message may be about
    pinned: bool = False  # `plan` was named or settled: a task number is read in it alone
    _tasks: list[TaskView] | None = field(default=None, repr=False)
    tasks_generation: int = field(default=-1, repr=False)  # the read model's generation `tasks()` was read in

    @property
    def store(self) -> Store:
        """Return the store."""
        return self.services.store

    @property
    def now(self) -> dt.datetime:
        """Return the current instant as aware UTC (the stored form)."""
        return self.services.clock.utcnow()

    @functools.cached_property
    def today(self) -> dt.date:
        """Return today's date in the plan's zone (fixed for the whole message)."""
        return self.services.clock.today()

    @property
    def actor(self) -> Actor:
        """Return the sender as the actions see them: their current role, this channel."""
        return Actor(self.person, self.msg.channel, self.services)

    async def tasks(self) -> list[TaskView]:
        """Return the plan's tasks with progress (read once per message)."""
        if self._tasks is None:
            self.tasks_generation = self.services.reads.generation  # before the read: a change during it counts
            self._tasks = await self.services.reads.tasks(self.plan.id)
        return self._tasks

    async def task(self, no: int) -> TaskView:
        """Return task `no` and settle the plan this message is about; refuse in Chinese when no plan has it.

        Raise WhichPlan when more than one active plan has that number and nothing tells them apart (a liaison's
        unit taking part in only one of them does).
        """
        plans = [self.plan] if self.pinned or len(self.plans) < 2 else self.plans
        found = [(p, t) for p in plans for t in await self.services.reads.tasks(p.id) if t.no == no]
        if len(found) > 1 and self.person.unit is not None and not self.person.coordinator:
            found = [(p, t) for p, t in found if t.role_of(self.person.unit)] or found
        if not found:
            tasks = await self.tasks()
            raise UserError(f"没有第{no}项任务。本计划的任务编号是 1–{max((t.no for t in tasks), default=0)}。")
        if len(found) > 1:
            raise WhichPlan(no, [p for p, _ in found])
        plan, task = found[0]
        self.settle(plan)
        return task

    async def plan_of(self, no: int) -> PlanView:
        """Return the plan task `no` belongs to (see `task`), settling it for this message."""
        await self.task(no)
        return self.plan

    def settle(self, plan: PlanView) -> None:
        """Make `plan` the plan this message is about."""
        if plan.id != self.plan.id:
            self.plan, self._tasks = plan, None
        self.pinned = True

    def settle_asked(self, payload: Mapping[str, object]) -> None:
        """Settle the plan a question was asked about (its payload's "plan", a plan id): the answer, a button
        pressed later, acts on that plan and is not asked back which one."""
        plan = next((p for p in self.plans if p.id == payload.get("plan")), None)
        if plan is not None:
            self.settle(plan)

    async def all_tasks(self) -> list[tuple[PlanView, list[TaskView]]]:
        """Return every active plan with its tasks (the plan named, when one was), newest plan first."""
        plans = [self.plan] if self.pinned else self.plans or [self.plan]
        self.tasks_generation = self.services.reads.generation  # before the read: a change during it counts
        return [(p, await self.services.reads.tasks(p.id)) for p in plans]


    def allows(self, who: str) -> bool:
        """Tell whether the sender's current role reaches `who`: all, liaison (bound: liaisons and leaders see), work
        (liaisons who act), leader (分管领导) or coordinator; a coordinator reaches every one."""
        p = self.person
        if who == ANYONE or p.coordinator:
            return True
        if who in (LIAISON, WORK, LEADER) and p.unit is None:
            return False
        return who == LIAISON or (who == WORK and not access.is_leader(p)) or (who == LEADER and access.is_leader(p))

    async def act(self, who: str = LIAISON) -> None:
        """Before acting on free text: re-read the sender from the database, then permit as a command would.

        The read model answers questions; whoever acts is checked against the database (a liaison removed in
        another process a moment ago is refused here, not after the next notification).
        """
        self.person = await identify(self.services, self.msg, fresh=True)
        self.permit(who)

    def permit(self, who: str) -> None:
        """Refuse unless the sender's current role reaches `who`; a stranger only ever hears how to bind."""
        if self.allows(who):
            return
        access.require_unit(self.person)
        if who == LEADER:
            access.require_leader(self.person)
        access.require_liaison(self.person)  # a leader hears what their role may do
        access.require_coordinator(self.person)

    def require_coordinator(self) -> None:
        """Refuse unless the sender is a coordinator."""
        access.require_coordinator(self.person)

    def require_unit(self) -> str:
        """Return the sender's unit, or refuse with how to bind one."""
        return access.require_unit(self.person)

    def resolve_unit(self, text: str) -> Unit:
        """Resolve a unit name or abbreviation, or refuse listing the closest candidates."""
        return require_unit(self.services.units, text)


class WhichPlan(UserError):
    """A task number that more than one active plan has: the sender is asked which plan they mean."""

    def __init__(self, no: int, plans: list[PlanView]) -> None:
        super().__init__(f"任务{no}在{len(plans)}份计划中都有，请问是哪一份？也可以在编号前写上年份，"
                         f"如「{plans[0].year}-{no}」。")
        self.no = no
        self.plans = plans
