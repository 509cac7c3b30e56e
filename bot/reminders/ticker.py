"""The APScheduler wiring: an in-memory interval job that runs the sweep, once at start and then every tick.

The scheduler only says "look now"; what is due and whether it was sent lives in the ledger, so a
missed tick, a restart or a second process changes nothing (TECH-NOTES §3: APScheduler's job store
is not trusted with correctness).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.reminders.engine import AppParts, ReminderEngine, SweepResult

log = logging.getLogger(__name__)
JOB_ID = "reminder-sweep"


class ReminderTicker:
    """Run the reminder sweep on a timer inside the running event loop."""

    def __init__(self, app: AppParts, engine: ReminderEngine | None = None,
                 on_swept: Callable[[], None] | None = None) -> None:
        self.app = app
        self.on_swept = on_swept  # the outbox's wake(): send what the sweep queued without waiting for a poll
        self.engine = engine or ReminderEngine.for_app(app)
        self.scheduler: AsyncIOScheduler | None = None
        self.ticks = 0
        self.last: SweepResult | None = None
        self.ticked = asyncio.Event()  # set after each sweep (tests wait on it instead of sleeping)

    def start(self) -> None:
        """Start ticking every `tick_seconds`, with a first sweep right away (catch-up after downtime)."""
        s = self.app.settings
        scheduler = AsyncIOScheduler(timezone=s.tz, job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        # The scheduler runs on wall-clock time; the sweep itself reads the injected clock.
        scheduler.add_job(self.tick, "interval", seconds=s.tick_seconds, id=JOB_ID, replace_existing=True,
                          next_run_time=dt.datetime.now(s.tz))
        scheduler.start()
        self.scheduler = scheduler

    async def tick(self) -> SweepResult | None:
        """Run one sweep; a failure is logged and the next tick tries again."""
        try:
            self.last = await self.engine.sweep()
            if self.on_swept is not None:
                self.on_swept()
            return self.last
        except Exception:
            log.exception("reminder sweep failed")
            return None
        finally:
            self.ticks += 1
            self.ticked.set()

    def stop(self) -> None:
        """Stop ticking (a sweep in progress finishes on its own; its claims are already atomic)."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
