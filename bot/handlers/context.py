"""What every handler receives: the long-lived services and this message's sender and plan."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from bot.actions import access
from bot.actions.base import Actor, Services
from bot.core.errors import UserError
from bot.core.messages import Message, realm
from bot.core.units import Unit, require_unit
from bot.core.views import PersonView, PlanView, TaskView
from bot.store.store import Store

ANYONE, LIAISON = "all", "liaison"  # who may use a command or button; any other `who` means coordinators only


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
    """One message being handled."""

    services: Services
    msg: Message
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
        access.require_unit(self.person)
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
