"""Speed of the reminder sweep over plans and people, beside a set-based floor measured in the same run, as JSON.

Issue target: 20 plans x 63 tasks x 2,000 liaisons, first sweep of a heavy day < 2 s, restart sweep
< 0.5 s, linear in people and plans. Each size gets its own database (SQLite by default; a PostgreSQL
server with BENCH_DATABASE_URL=postgresql+asyncpg://..., one database per size) holding the seed plan
imported under that many keys and the liaisons spread over the plan's 22 units (bound rows written
directly: binding them one by one through the store would take minutes at 10,000). The clock is at
2023-10-31 10:00 (a heavy day: 10-31 deadlines, 30 days before 11-30, overdue nudges, and the month's last
workday: the second progress check-in nudge).

Each figure is wall time (_s) and this process's CPU time (_cpu_s, both its threads: the event loop
and aiosqlite's; not the PostgreSQL server's), so a machine busy with other work shows in the gap.
Every measurement is repeated (3 by default) and the sizes are interleaved within each repeat, so a
slow moment of the machine falls on every size alike; each figure is given as min and median. Between
repeats the ledger, the outbox and the buttons' questions are emptied, so each first sweep starts on
an empty ledger again.

Figures per size:
- floor_read_s: raw SELECTs of the open tasks, their cooperating units and the liaisons (the least any
  sweep must read);
- floor_write_s: as many ledger rows and outbox rows as the first sweep wrote, inserted in one
  transaction with SQLAlchemy's executemany and rolled back (the plain way to write them: it says how
  much of first_sweep_s the writing alone would cost);
- first_sweep_s: the first sweep on an empty ledger: claims and enqueues the day's messages (with the
  reminders of the 3-day catch-up window), one per liaison;
- restart_sweep_s: a new process after that, same instant: nothing new; every key checked in the DB;
- tick_sweep_s: the same process ticking again: nothing new; keys known in memory;
- after_outage_sweep_s: a new process ten days later (2023-11-10 10:00): records what fell due while
  down as missed, and claims the catch-up window's reminders.
- checkin_first_sweep_s: the first sweep of a check-in day (2023-10-25 10:00) on an empty ledger: every lead
  unit's liaisons get their progress check-in (进展报送: the 全年 tasks and those due after November), beside
  that day's reminders; issue target < 2 s and < 200 MB at 20 x 2,000.
- run_once_peak_rss_mb: the peak resident memory of a real `duban remind run-once` process doing the first
  sweep of that day on an empty ledger (everything loaded: the plans, the liaisons, the messages);
  checkin_run_once_peak_rss_mb: the same on the check-in day.

Usage: bench_sweep.py [PLANSxLIAISONS ...] [--repeats N]   (default 1x66 20x66 100x66 20x2000 20x10000)
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchdb import BACKEND, drop_databases, fresh_database
from sqlalchemy import Table, delete, insert, text

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.core.messages import ChatKind, ChatRef, Choice, Push, Reply
from bot.planfiles.yamlfile import load_plan_file
from bot.reminders.engine import ReminderEngine
from bot.store.outbox import outbox_values
from bot.store.tables import OutboxRow, Person, QuestionRow, ReminderLedger

NOW = dt.datetime(2023, 10, 31, 10, 0, tzinfo=SHANGHAI)
AFTER_OUTAGE = NOW + dt.timedelta(days=10)
CHECKIN_NOW = dt.datetime(2023, 10, 25, 10, 0, tzinfo=SHANGHAI)  # a Wednesday: October's check-in day
DEFAULT_SIZES = ["1x66", "20x66", "100x66", "20x2000", "20x10000"]
PERSON: Table = Person.__table__  # type: ignore[attr-defined]
LEDGER: Table = ReminderLedger.__table__  # type: ignore[attr-defined]
OUTBOX: Table = OutboxRow.__table__  # type: ignore[attr-defined]
QUESTIONS: Table = QuestionRow.__table__  # type: ignore[attr-defined]
FLOOR_READ = ["SELECT id, plan_id, no, lead, deadline, recurrence, status FROM task "
              "WHERE status NOT IN ('submitted', 'approved')",
              "SELECT taskunit.task_id, taskunit.unit FROM taskunit JOIN task ON task.id = taskunit.task_id "
              "WHERE taskunit.role = 'cooperating' AND task.status NOT IN ('submitted', 'approved')",
              "SELECT * FROM person WHERE unit IS NOT NULL"]


async def build(n: int, plans: int, liaisons: int) -> tuple[App, str]:
    """Create a store with `plans` copies of the seed plan and `liaisons` liaisons spread over its units."""
    state = Path(tempfile.mkdtemp(prefix=f"duban-bench-sweep-{plans}x{liaisons}-"))
    url = await fresh_database(f"sweep{n}", state)
    settings = Settings(state_dir=state, database_url=url, today=NOW.date(), coordinators="console:admin",
                        _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings, Clock(tz=SHANGHAI, pinned_today=NOW.date(), pinned_time=NOW.time()))
    spec = load_plan_file(settings.plan_file, app.units)
    for copy in range(2, plans + 1):
        await app.store.plans.import_plan(dataclasses.replace(spec, key=f"{spec.key}-copy{copy}"), "bench",
                                          app.clock.utcnow())
    units = sorted({t.lead for t in spec.tasks} | {u for t in spec.tasks for u in t.cooperating})
    now = app.clock.utcnow()
    rows = [{"channel": "console", "user_id": f"liaison{i}", "name": f"{units[i % len(units)]}{i}",
             "coordinator": False, "unit": units[i % len(units)], "chat_id": f"liaison{i}", "created_at": now,
             "unreachable_reason": ""} for i in range(liaisons)]
    async with app.store.sessions() as s, s.begin():
        await s.exec(insert(PERSON), params=rows)  # type: ignore[call-overload]
    return app, url


async def clear_sweeps(app: App) -> None:
    """Empty what sweeps write, so the next first sweep starts on an empty ledger."""
    async with app.store.sessions() as s, s.begin():
        for table in (LEDGER, OUTBOX, QUESTIONS):
            await s.exec(delete(table))  # type: ignore[call-overload]


async def timed(out: dict[str, Any], name: str, coro: Any) -> Any:
    """Await coro; record its wall time as name_s and this process's CPU time (both threads) as name_cpu_s."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = await coro
    out[f"{name}_s"], out[f"{name}_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    return result


async def floor_read(app: App) -> int:
    """Run the raw reads every sweep needs; return the rows read."""
    n = 0
    async with app.store.engine.connect() as conn:
        for sql in FLOOR_READ:
            n += len((await conn.execute(text(sql))).all())
    return n


async def floor_write(app: App, ledger_rows: int, messages: int) -> None:
    """Insert as many ledger rows and outbox rows as the first sweep wrote, in one transaction, and roll back."""
    now = NOW.astimezone(dt.UTC)
    ledger = [{"key": f"floor:{i}", "plan_id": 1, "task_no": 1 + i % 63, "period": "", "stage": "d7",
               "recipient": f"console:liaison{i % max(messages, 1)}", "due_at": now, "status": "sent",
               "claimed_by": "floor", "claimed_at": now, "outbox_key": f"floor:{i % max(messages, 1)}"}
              for i in range(ledger_rows)]
    reply = Reply("提" * 1200, choices=tuple(Choice(f"查看任务{n}", f"token{n}:view") for n in range(7)))
    outbox = [outbox_values(Push(ChatRef("console", f"liaison{i}", ChatKind.PRIVATE), reply, dedupe_key=f"floor:{i}"),
                            now) for i in range(messages)]
    async with app.store.engine.connect() as conn:
        tx = await conn.begin()
        if ledger:
            await conn.execute(insert(LEDGER), ledger)
        if outbox:
            await conn.execute(insert(OUTBOX), outbox)
        await tx.rollback()


async def measure(app: App) -> dict[str, Any]:
    """Time the floors and the four kinds of sweep once on one store."""
    await clear_sweeps(app)
    out: dict[str, Any] = {}
    read_rows = await timed(out, "floor_read", floor_read(app))
    engine = ReminderEngine.for_app(app)
    first = await timed(out, "first_sweep", engine.sweep(NOW))
    restart = await timed(out, "restart_sweep", ReminderEngine.for_app(app).sweep(NOW))
    await timed(out, "tick_sweep", engine.sweep(NOW))
    outage = await timed(out, "after_outage_sweep", ReminderEngine.for_app(app).sweep(AFTER_OUTAGE))
    await timed(out, "floor_write", floor_write(app, first.claimed, first.messages))
    await clear_sweeps(app)
    checkin = await timed(out, "checkin_first_sweep", ReminderEngine.for_app(app).sweep(CHECKIN_NOW))
    out["counts"] = {"checkin_first_sweep": {"checkin_messages": checkin.checkins, "reminders": checkin.claimed,
                                             "reminder_messages": checkin.messages},"floor_read_rows": read_rows,
                     "first_sweep": {"claimed": first.claimed, "messages": first.messages, "missed": first.missed,
                                     "checkin_messages": first.checkins},
                     "restart_sweep_new": restart.claimed + restart.missed,
                     "after_outage_sweep": {"claimed": outage.claimed, "messages": outage.messages,
                                            "missed": outage.missed}}
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return min and median of each timed figure over the repeats, and the counts (equal in every repeat)."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        if key.endswith("_s"):
            values = [r[key] for r in runs]
            out[key] = {"min": round(min(values), 4), "median": round(statistics.median(values), 4)}
    out["counts"] = runs[0]["counts"]
    return out


RUN_ONCE_REPORTING_RSS = """
import sys
from bot.cli.main import main
status = main(["remind", "run-once"])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]) / 1024, file=sys.stderr)
sys.exit(status)
"""


async def run_once_rss(app: App, url: str, now: dt.datetime = NOW) -> float:
    """Run `duban remind run-once` on this store (emptied first) as its own process; return its peak RSS in MB.

    The process reads its own VmHWM as it ends: the kernel's ru_maxrss of a child counts the forked copy of
    this (much larger) bench process before exec, and /proc/<pid> is gone once it has exited.
    """
    await clear_sweeps(app)
    env = dict(os.environ, DUBAN_STATE_DIR=str(app.settings.state_dir), DUBAN_DATABASE_URL=url,
               DUBAN_TODAY=now.date().isoformat(), DUBAN_TIME=f"{now:%H:%M}", DUBAN_COORDINATORS="console:admin",
               DUBAN_LOG_LEVEL="CRITICAL")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", RUN_ONCE_REPORTING_RSS, env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    return round(float(err.decode().strip().splitlines()[-1]), 1)


async def main(sizes: list[tuple[int, int]], repeats: int) -> dict[str, Any]:
    apps = []
    for n, (plans, liaisons) in enumerate(sizes):
        apps.append(await build(n, plans, liaisons))
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {size: [] for size in sizes}
    try:
        for _ in range(repeats):
            for size, (app, _url) in zip(sizes, apps, strict=True):
                runs[size].append(await measure(app))
        rss = {size: await run_once_rss(app, url) for size, (app, url) in zip(sizes, apps, strict=True)}
        checkin_rss = {size: await run_once_rss(app, url, CHECKIN_NOW) for size, (app, url) in zip(sizes, apps,
                                                                                                  strict=True)}
    finally:
        for app, _url in apps:
            await app.close()
        await drop_databases([url for _app, url in apps])
    results = [{"plans": p, "tasks": 63 * p, "liaisons": n, **summarise(runs[(p, n)]),
                "run_once_peak_rss_mb": rss[(p, n)], "checkin_run_once_peak_rss_mb": checkin_rss[(p, n)]}
               for p, n in sizes]
    return {"bench": "sweep", "python": sys.version.split()[0],
            "database": BACKEND,
            "now": NOW.isoformat(), "checkin_now": CHECKIN_NOW.isoformat(), "repeats": repeats, "results": results}


if __name__ == "__main__":
    args = sys.argv[1:]
    reps = 3
    if "--repeats" in args:
        i = args.index("--repeats")
        reps = int(args[i + 1])
        del args[i:i + 2]
    wanted = [tuple(int(x) for x in a.split("x")) for a in args or DEFAULT_SIZES]
    print(json.dumps(asyncio.run(main([(p, n) for p, n in wanted], reps)), ensure_ascii=False, indent=2))
