"""Speed of the reminder sweep at 1, 10 and 100 plans of 63 tasks, 3 liaisons per unit (SQLite), as JSON.

Issue target: 100 plans under 1 s, growing linearly. Each size gets a fresh database holding the
seed plan imported under that many keys, with three liaisons bound for every unit the plan names,
and the clock at 2023-10-31 10:00 (a heavy day: 10-31 deadlines, 30 days before 11-30, overdue nudges).

Figures per size:
- baseline_select_tasks_s: one raw SELECT of every task row (the least any sweep must read);
- baseline_read_tasks_s: every plan's tasks with progress through the store (PlanRepo.tasks, first
  read: what reading the plans the usual way costs; the sweep reads open tasks in two queries instead);
- first_sweep_s: the first sweep on an empty ledger: claims and enqueues the day's messages (with the
  reminders of the 3-day catch-up window), one per liaison;
- restart_sweep_s: a new process after that, same instant: nothing new; every key checked in the DB;
- tick_sweep_s: the same process ticking again (median of 5): nothing new; keys known in memory;
- after_outage_sweep_s: a new process ten days later (2023-11-10 10:00): records what fell due while
  down as missed, and claims the catch-up window's reminders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import select

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.reminders.engine import ReminderEngine
from bot.store.planfile import load_plan_file
from bot.store.tables import Task

NOW = dt.datetime(2023, 10, 31, 10, 0, tzinfo=SHANGHAI)
AFTER_OUTAGE = NOW + dt.timedelta(days=10)
LIAISONS_PER_UNIT = 3


async def build(plans: int) -> App:
    """Create a fresh store with `plans` copies of the seed plan and three liaisons per unit."""
    tmp = Path(tempfile.mkdtemp(prefix=f"duban-bench-sweep-{plans}-"))
    settings = Settings(state_dir=tmp, today=NOW.date(), coordinators="console:admin",
                        _env_file=None)  # type: ignore[call-arg]
    clock = Clock(tz=SHANGHAI, pinned_today=NOW.date(), pinned_time=NOW.time())
    app = await App.create(settings, clock)  # imports the seed plan once
    spec = load_plan_file(settings.plan_file, app.units)
    for n in range(2, plans + 1):
        await app.store.plans.import_plan(dataclasses.replace(spec, key=f"{spec.key}-copy{n}"), "bench",
                                          clock.utcnow())
    units = sorted({t.lead for t in spec.tasks} | {u for t in spec.tasks for u in t.cooperating})
    for unit in units:
        for i in range(LIAISONS_PER_UNIT):
            user = f"{abs(hash(unit)) % 10**8}-{i}"
            person = await app.store.people.identify("console", user, name=f"{unit}{i}", chat_id=user,
                                                     now=clock.utcnow())
            code = await app.store.people.create_invite(unit, by="bench", now=clock.utcnow(), days=7)
            await app.store.people.bind(person, code, now=clock.utcnow())
    return app


async def measure(plans: int) -> dict[str, object]:
    """Time the baseline read and the three kinds of sweep at one size."""
    app = await build(plans)
    try:
        t0 = time.perf_counter()
        async with app.store.sessions() as s:
            rows = (await s.exec(select(Task))).all()
        raw = time.perf_counter() - t0
        assert len(rows) == 63 * plans

        t0 = time.perf_counter()
        all_plans = await app.store.plans.list_plans()
        tasks = 0
        for p in all_plans:
            tasks += len(await app.store.plans.tasks(p.id))
        baseline = time.perf_counter() - t0

        engine = ReminderEngine.for_app(app)
        t0 = time.perf_counter()
        first = await engine.sweep(NOW)
        first_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        restart = await ReminderEngine.for_app(app).sweep(NOW)
        restart_s = time.perf_counter() - t0

        ticks = []
        for _ in range(5):
            t0 = time.perf_counter()
            await engine.sweep(NOW)
            ticks.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        outage = await ReminderEngine.for_app(app).sweep(AFTER_OUTAGE)
        outage_s = time.perf_counter() - t0
        liaisons = len(await app.store.people.liaisons())
        return {
            "plans": len(all_plans), "tasks": tasks, "liaisons": liaisons,
            "baseline_select_tasks_s": round(raw, 4),
            "baseline_read_tasks_s": round(baseline, 4),
            "first_sweep_s": round(first_s, 4),
            "first_sweep": {"claimed": first.claimed, "messages": first.messages, "missed": first.missed},
            "restart_sweep_s": round(restart_s, 4),
            "restart_sweep_new": restart.claimed + restart.missed,
            "tick_sweep_s": round(statistics.median(ticks), 4),
            "after_outage_sweep_s": round(outage_s, 4),
            "after_outage_sweep": {"claimed": outage.claimed, "messages": outage.messages, "missed": outage.missed},
        }
    finally:
        await app.close()


async def main(sizes: list[int]) -> dict[str, object]:
    results = [await measure(n) for n in sizes]
    by_size = {r["plans"]: r for r in results}
    growth = {}
    if 1 in by_size and 100 in by_size:
        for key in ("baseline_select_tasks_s", "baseline_read_tasks_s", "first_sweep_s", "restart_sweep_s", "tick_sweep_s",
                    "after_outage_sweep_s"):
            one, hundred = by_size[1][key], by_size[100][key]
            assert isinstance(one, float) and isinstance(hundred, float)
            growth[key.removesuffix("_s") + "_100_over_1"] = round(hundred / one, 1) if one else None
    return {"bench": "sweep", "python": sys.version.split()[0], "database": "sqlite", "now": NOW.isoformat(),
            "liaisons_per_unit": LIAISONS_PER_UNIT, "results": results, "growth": growth}


if __name__ == "__main__":
    wanted = [int(a) for a in sys.argv[1:]] or [1, 10, 100]
    print(json.dumps(asyncio.run(main(wanted)), ensure_ascii=False, indent=2))
