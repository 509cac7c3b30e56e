"""Plans: which ones are served, what importing a new plan file would do, importing it, archiving and reviving.

The command line and the desk import through the same two steps: a preview that writes nothing (the plan read, what
the reader inferred, and how it differs from the most similar stored plan), then the import of what was previewed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.actions.access import require_coordinator
from bot.actions.base import Actor, Services
from bot.core.units import UnitRegistry
from bot.core.views import ImportResult, PlanView
from bot.planfiles.compare import carry_forward, compare_plans, most_similar_plan
from bot.planfiles.preview import ImportPreview
from bot.planfiles.read import read_plan
from bot.store.store import Store


async def served_plans(services: Services) -> list[PlanView]:
    """Return the plans this process serves, newest first: every active plan, or DUBAN_PLAN's alone when it is set.

    With none active, the newest plan, so that what refuses can name the way out.
    """
    plans = await services.reads.active_plans()
    if services.settings.plan:
        plans = [p for p in plans if p.key == services.settings.plan] or [await services.reads.plan(
            services.settings.plan)]
    return plans or [await services.reads.plan(None)]


async def preview_import(store: Store, units: UnitRegistry, path: Path, key: str | None = None) -> ImportPreview:
    """Read a plan file and compare it with the most similar stored plan of its district; write nothing.

    `key` names the plan (an existing key updates that plan). Reading parses a spreadsheet or Word file: in a
    thread, so the server keeps answering meanwhile.
    """
    read = await asyncio.to_thread(read_plan, path, units, key)
    stored = [await store.plans.spec(p.key) for p in await store.plans.list_plans()]
    earlier = most_similar_plan(read.plan, stored)
    if earlier is None:
        return ImportPreview(read)
    comparison = compare_plans(read.plan, earlier)
    return ImportPreview(carry_forward(read, comparison, keep_key=key is not None), comparison)


async def import_previewed(actor: Actor, preview: ImportPreview) -> ImportResult:
    """Import a previewed plan (coordinators): new tasks added, changed ones updated, progress and files kept."""
    require_coordinator(actor.person)
    return await actor.store.plans.import_plan(preview.read.plan, actor.key, actor.now, continues=preview.continues,
                                               channel=actor.channel)


async def set_plan_active(actor: Actor, key: str, active: bool) -> PlanView:
    """Archive a plan (no reminders, not served in chat or on the desk; records and files kept) or revive it."""
    require_coordinator(actor.person)
    return await actor.store.plans.set_active(key, active, actor=actor.key, now=actor.now, channel=actor.channel)
