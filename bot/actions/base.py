"""The services actions work with, and the actor: who acts, through which channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.config import Settings
from bot.core.clock import Clock
from bot.core.messages import Push
from bot.core.units import UnitRegistry
from bot.core.views import PersonView
from bot.exports.builds import Builds
from bot.readmodel import ReadModel
from bot.store.store import Store


@dataclass
class Services:
    """Long-lived dependencies, built once by the composition root."""

    store: Store
    clock: Clock
    settings: Settings
    units: UnitRegistry
    push: Callable[[Push], Awaitable[None]]  # the outbox: durable, de-duplicated proactive sends
    reads: ReadModel  # people, plans and tasks from memory, for questions
    upload_link: Callable[[PersonView, int, int], str] | None = None  # (person, plan id, task no): upload page link
    desk_link: Callable[[PersonView, str], str] | None = None  # one-time desk sign-in link to a page, when served
    builds: Builds = field(default_factory=Builds)  # the 台账 and bundles built so far, with the data they show


@dataclass(frozen=True)
class Actor:
    """Someone acting: their current role, the channel they act through ("telegram", "desk" …), the services."""

    person: PersonView
    channel: str
    services: Services

    @property
    def key(self) -> str:
        """Return the person's key, as the audit log records it."""
        return self.person.key

    @property
    def store(self) -> Store:
        """Return the store."""
        return self.services.store

    @property
    def now(self) -> dt.datetime:
        """Return the current instant as aware UTC (the stored form)."""
        return self.services.clock.utcnow()


class AppParts(Protocol):
    """What the outer shell's pieces (web pages, the reminder ticker, CLI checks) use of the application.

    bot.app.App has all of it; declaring the parts here keeps them from importing the composition root.
    """

    settings: Settings
    clock: Clock
    store: Store
    services: Services

    def scratch_file(self, prefix: str) -> Path:
        """Create an empty temporary file in this process's scratch directory and return its path."""
