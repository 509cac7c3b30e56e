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

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.actions.base import AppParts
from bot.reminders.engine import ReminderEngine, SweepResult

log = logging.getLogger(__name__)
JOB_ID = "reminder-sweep"


class _UncancellingExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """APScheduler's asyncio executor, except that shutting down does not cancel a job already submitted.

    The stock one cancels pending runs, and a cancelled run is logged as "Error running job" with a
    CancelledError traceback. Our job returns at once (it only starts a sweep task), so letting it finish is
    harmless; `ReminderTicker.stop` makes a late one a no-op.
    """

    def shutdown(self, wait: bool = True) -> None:
        """Let submitted runs finish; nothing new is submitted after the scheduler shut down."""


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
        self._running: asyncio.Task[SweepResult | None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start ticking every `tick_seconds`, with a first sweep right away (catch-up after downtime)."""
        s = self.app.settings
        self._stopping = False
        scheduler = AsyncIOScheduler(timezone=s.tz, executors={"default": _UncancellingExecutor()}, job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        # The scheduler runs on wall-clock time; the sweep itself reads the injected clock.
        scheduler.add_job(self._fire, "interval", seconds=s.tick_seconds, id=JOB_ID, replace_existing=True,
                          next_run_time=dt.datetime.now(s.tz))
        scheduler.start()
        self.scheduler = scheduler

    async def _fire(self) -> None:
        """The scheduled job: start a sweep unless one is running, and return at once.

        The sweep runs in a task of its own, not inside the job: APScheduler's shutdown cancels running jobs,
        and a sweep cancelled mid-transaction logs a traceback. `stop()` waits for the sweep instead.
        """
        if self._stopping:
            return
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self.tick(), name="reminder-sweep")

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

    async def stop(self) -> None:
        """Stop ticking and let a sweep in progress finish (its claims and outbox rows commit together)."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        if self._running is not None:
            await asyncio.wait([self._running])
            self._running = None
