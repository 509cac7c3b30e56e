"""What every handler receives: the long-lived services and this message's sender and plan."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.config import Settings
from bot.core.clock import Clock
from bot.core.errors import NotAllowed, UserError
from bot.core.messages import Incoming, Push
from bot.core.units import Unit, UnitRegistry, require_unit
from bot.core.views import PersonView, PlanView, TaskView
from bot.store.readmodel import ReadModel
from bot.store.store import Store

ANYONE, LIAISON = "all", "liaison"  # who may use a command or button; any other `who` means coordinators only
UNBOUND = ("您还没有绑定单位。请向节水办索取邀请码，然后发送「/bind 邀请码」，例如 /bind ABCD2345。")


@dataclass
class Services:
    """Long-lived dependencies, built once by the composition root."""

    store: Store
    clock: Clock
    settings: Settings
    units: UnitRegistry
    push: Callable[[Push], Awaitable[None]]  # the outbox: durable, de-duplicated proactive sends
    reads: ReadModel  # people, plans and tasks from memory, for questions
    upload_link: Callable[[PersonView, int], str] | None = None  # signed upload page link, when served
    desk_link: Callable[[PersonView, str], str] | None = None  # one-time desk sign-in link to a page, when served


async def identify(services: Services, msg: Incoming, *, fresh: bool) -> PersonView:
    """Return who sent `msg`: from the read model for a question, from the database (`fresh`) for an action."""
    chat_id = None if msg.is_group else msg.chat.chat_id
    coordinator = f"{msg.channel}:{msg.user_id}" in services.settings.coordinator_keys
    if not fresh:  # the steady state: known here, nothing to record, no clock read
        hit = services.reads.known(msg.channel, msg.user_id, name=msg.user_name, chat_id=chat_id,
                                   coordinator=coordinator)
        if hit is not None:
            return hit
    source = services.store.people if fresh else services.reads
    return await source.identify(msg.channel, msg.user_id, name=msg.user_name, now=services.clock.utcnow(),
                                 chat_id=chat_id, coordinator=coordinator)


@dataclass
class Context:
    """One message being handled."""

    services: Services
    msg: Incoming
    person: PersonView
    plan: PlanView
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
    def actor(self) -> str:
        """Return the sender's key for the audit log."""
        return self.person.key

    async def tasks(self) -> list[TaskView]:
        """Return the plan's tasks with progress (read once per message)."""
        if self._tasks is None:
            self.tasks_generation = self.services.reads.generation  # before the read: a change during it counts
            self._tasks = await self.services.reads.tasks(self.plan.id)
        return self._tasks

    async def task(self, no: int) -> TaskView:
        """Return one task or refuse in Chinese."""
        for t in await self.tasks():
            if t.no == no:
                return t
        tasks = await self.tasks()
        raise UserError(f"没有第{no}项任务。本计划的任务编号是 1–{max((t.no for t in tasks), default=0)}。")

    def allows(self, who: str) -> bool:
        """Tell whether the sender's current role reaches `who`: all, liaison (bound or coordinator) or coordinator."""
        p = self.person
        return who == ANYONE or p.coordinator or (who == LIAISON and p.unit is not None)

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
        if self.person.unit is None:
            raise NotAllowed(UNBOUND)
        self.require_coordinator()

    def require_coordinator(self) -> None:
        """Refuse unless the sender is a coordinator."""
        if not self.person.coordinator:
            raise NotAllowed("这项操作只有节水办统筹人员可以使用。")

    def require_unit(self) -> str:
        """Return the sender's unit, or refuse with how to bind one."""
        if self.person.unit is None:
            raise NotAllowed(UNBOUND)
        return self.person.unit

    def require_involved(self, t: TaskView) -> None:
        """Refuse unless the sender is a coordinator or speaks for a unit that leads or cooperates on the task."""
        if not self.person.coordinator and t.role_of(self.require_unit()) is None:
            raise NotAllowed(f"任务{t.no}由{t.lead}牵头，不是贵单位牵头或配合的任务。")

    def resolve_unit(self, text: str) -> Unit:
        """Resolve a unit name or abbreviation, or refuse listing the closest candidates."""
        return require_unit(self.services.units, text)
