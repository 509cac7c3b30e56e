"""Composition root: builds the store, services, router, outbox and channels, and owns their lifecycle."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.actions.base import Services
from bot.actions.plans import preview_import
from bot.channels.pipeline import Pipeline
from bot.config import Settings
from bot.core.clock import Clock
from bot.core.units import UnitRegistry
from bot.core.views import ImportResult
from bot.handlers import build_router
from bot.handlers.router import Conversation, Router
from bot.intake import Intake
from bot.outbox import Outbox
from bot.planfiles.preview import ImportPreview
from bot.planfiles.read import read_plan
from bot.planfiles.result import ReadResult
from bot.planfiles.yamlfile import load_units_file
from bot.readmodel import ReadModel
from bot.store import housekeeping
from bot.store.store import Store, open_store

log = logging.getLogger(__name__)


def make_clock(settings: Settings) -> Clock:
    """Build the clock: real time in the plan's zone, with the date (and the time of day) pinned when set."""
    return Clock(tz=settings.tz, pinned_today=settings.today, pinned_time=settings.time)


@dataclass
class App:
    """Everything one duban process runs, built from settings."""

    settings: Settings
    clock: Clock
    store: Store
    units: UnitRegistry
    outbox: Outbox
    intake: Intake
    router: Router
    services: Services
    conversation: Conversation
    pipeline: Pipeline

    @classmethod
    async def create(cls, settings: Settings, clock: Clock | None = None) -> App:
        """Open the store (migrating it), load the shipped plan into an empty database, wire the services."""
        clock = clock or make_clock(settings)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        units = load_units_file(settings.units_file)
        store = await open_store(settings.db_url, settings.state_dir)
        app_outbox = Outbox(store, clock)
        router = build_router()
        services = Services(store=store, clock=clock, settings=settings, units=units, push=app_outbox.push,
                            reads=ReadModel(store))
        intake = Intake(store, clock)
        conversation = Conversation(services, router)
        scratch = _Scratch(settings.state_dir)
        app = cls(settings, clock, store, units, app_outbox, intake, router, services, conversation,
                  Pipeline(intake, conversation, app_outbox, scratch.file))
        if not await store.plans.list_plans():
            result = await app.import_plan(settings.plan_file, actor="system")
            log.info("loaded the shipped plan %s (%d tasks)", result.plan_key, result.tasks_added)
        return app

    async def import_plan(self, path: Path, actor: str) -> ImportResult:
        """Import a plan file (YAML, a spreadsheet or a Word table) into the store."""
        return await self.store.plans.import_plan(self.read_plan(path).plan, actor, self.clock.utcnow())

    def read_plan(self, path: Path, key: str | None = None) -> ReadResult:
        """Read a plan file (YAML, Excel or Word) with the values its reader had to infer."""
        return read_plan(path, self.units, key)

    async def preview_import(self, path: Path, key: str | None = None) -> ImportPreview:
        """Read a plan file and compare it with the most similar stored plan of its district; write nothing."""
        return await preview_import(self.store, self.units, path, key)

    @property
    def scratch_dir(self) -> Path:
        """Return this process's directory for temporary files (downloads before they are filed)."""
        return housekeeping.scratch_dir(self.settings.state_dir)

    def scratch_file(self, prefix: str) -> Path:
        """Create an empty temporary file in this process's scratch directory and return its path."""
        return _Scratch(self.settings.state_dir).file(prefix)

    async def tidy(self) -> housekeeping.TidyReport:
        """Remove what a killed process left (temporaries, partial copies) and report unreferenced evidence blobs."""
        report = await housekeeping.tidy(self.settings.state_dir, self.store)
        if report.orphans or report.removed_orphans:
            log.warning("evidence store: %d file(s) no row refers to, %d removed after the grace period",
                        report.orphans, report.removed_orphans)
        return report

    async def close(self) -> None:
        """Release the database."""
        await self.store.close()


@dataclass(frozen=True)
class _Scratch:
    """This process's directory for temporary files (downloads before they are filed); tidied after a crash."""

    state_dir: Path

    def file(self, prefix: str) -> Path:
        """Create an empty temporary file and return its path."""
        where = housekeeping.scratch_dir(self.state_dir)
        where.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=where, prefix=prefix)
        os.close(fd)
        return Path(name)
