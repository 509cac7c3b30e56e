"""Desk page speed as JSON: server time of the overview and a task page beside a bare aiohttp handler.

Two databases (SQLite files):
- "plan_2023": the shipped 2023 plan with one file per evidence item;
- "plans_20": 20 copies of the plan (63 tasks each) with 2,000 files in each plan (40,000 file rows and as
  many audit rows), the desk showing one of them.
For each, one aiohttp server holds the real desk and a bare "hello" handler; a signed-in coordinator
requests /desk/ (overview), /desk/tasks/44 (a task page with its files and history) and /hello in
turn, `rounds` times `n` requests each after a warm-up. Server time is measured by a middleware around
the handler (rendering included, socket writes not); the client round trip is reported beside it.
The chart image is a separate request and is not in the overview's figure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web
from sqlalchemy import Table, insert
from sqlmodel import col, select

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.desk.pages import Desk
from bot.planfiles.yamlfile import load_plan_file
from bot.store.tables import Audit, EvidenceFile, EvidenceItem, EvidenceList, Task
from bot.web import build_web_app

COORDINATOR = "console:admin"
PAGES = {"overview": "/desk/", "task_44": "/desk/tasks/44", "hello": "/hello"}


def stats(samples: list[float]) -> dict[str, float]:
    """Return p50/p99/mean in milliseconds."""
    s = sorted(samples)
    return {"p50_ms": round(s[len(s) // 2] * 1e3, 3), "p99_ms": round(s[max(int(len(s) * 0.99) - 1, 0)] * 1e3, 3),
            "mean_ms": round(statistics.fmean(s) * 1e3, 3), "n": len(s)}


async def add_plans(app: App, copies: int) -> list[str]:
    """Import the shipped plan `copies` times under new keys; return every plan key."""
    spec = load_plan_file(app.settings.plan_file, app.units)
    for i in range(1, copies):
        await app.store.plans.import_plan(dataclasses.replace(spec, key=f"{spec.key}-copy{i}"), "bench",
                                          app.clock.utcnow())
    return [p.key for p in await app.store.plans.list_plans()]


async def add_files(app: App, plan_key: str, count: int) -> int:
    """Insert `count` evidence file rows (and their audit rows) spread over the plan's items, in bulk."""
    plan = await app.store.plans.plan(plan_key)
    async with app.store.sessions() as s:
        items = (await s.exec(select(EvidenceItem.id, EvidenceItem.no, Task.no, Task.lead)
                              .join(EvidenceList, col(EvidenceList.id) == EvidenceItem.list_id)
                              .join(Task, col(Task.evidence_list_id) == EvidenceList.id)
                              .where(EvidenceList.plan_id == plan.id))).all()
    now = app.clock.utcnow()
    files, audits = [], []
    for n, (item_id, item_no, task_no, lead) in zip(range(count), itertools.cycle(items), strict=False):
        at = now - dt.timedelta(minutes=count - n)
        sha = f"{n:064x}"
        files.append({"item_id": item_id, "sha256": sha, "size": 100_000 + n, "file_name": f"材料{n}.pdf",
                      "mime_type": "application/pdf", "unit": lead, "uploaded_by": f"wecom:liaison{n % 40}",
                      "uploaded_at": at})
        audits.append({"at": at, "actor": f"wecom:liaison{n % 40}", "channel": "wecom", "action": "evidence.add",
                       "plan_id": plan.id, "task_no": task_no,
                       "detail": {"item": item_no, "file": f"材料{n}.pdf", "sha256": sha}})
    async with app.store.engine.begin() as c:
        await c.execute(insert(cast(Table, EvidenceFile.__table__)), files)  # type: ignore[attr-defined]
        await c.execute(insert(cast(Table, Audit.__table__)), audits)  # type: ignore[attr-defined]
    return len(files)


async def measure(app: App, n: int, rounds: int) -> dict[str, Any]:
    """Serve the desk and a bare handler from one server; return server and client times per page."""
    server: dict[str, list[float]] = defaultdict(list)
    client: dict[str, list[float]] = defaultdict(list)
    names = {path: name for name, path in PAGES.items()}
    recording = False

    @web.middleware
    async def timed(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        t0 = time.perf_counter()
        response = await handler(request)
        if recording and request.path in names:
            server[names[request.path]].append(time.perf_counter() - t0)
        return response

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    web_app = build_web_app(app)
    web_app.middlewares.append(timed)
    desk = Desk(app)
    desk.install(web_app)
    web_app.router.add_get("/hello", hello)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    app.settings.public_url = base
    person = await app.store.people.get(COORDINATOR)
    assert person is not None
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(desk.link(person), allow_redirects=False) as resp:
                assert resp.status == 303, resp.status
            for rnd in range(rounds + 1):
                recording = rnd > 0  # round 0 warms caches (plan structure, templates)
                for _ in range(n):
                    for name, path in PAGES.items():
                        t0 = time.perf_counter()
                        async with http.get(base + path) as resp:
                            assert resp.status == 200, (path, resp.status)
                            await resp.read()
                        if recording:
                            client[name].append(time.perf_counter() - t0)
    finally:
        await runner.cleanup()
    return {name: {"server": stats(server[name]), "client_round_trip": stats(client[name])} for name in PAGES}


async def scenario(copies: int, files_per_plan: int | None, n: int, rounds: int) -> dict[str, Any]:
    """Build a fresh database for one scenario and measure it."""
    tmp = Path(tempfile.mkdtemp(prefix="duban-bench-desk-"))
    settings = Settings(state_dir=tmp, coordinators=COORDINATOR, scheduler=False, today=dt.date(2023, 10, 20),
                        _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings, Clock(tz=SHANGHAI, pinned_today=dt.date(2023, 10, 20)))
    try:
        keys = await add_plans(app, copies)
        shown = keys[-1]  # the first imported: the shipped plan's own key
        app.settings.plan = shown
        plan = await app.store.plans.plan(shown)
        tasks = await app.store.plans.tasks(plan.id)
        items = sum(len(t.items) for t in tasks)
        total = sum([await add_files(app, key, files_per_plan or items) for key in keys])
        await app.store.people.set_coordinator("console", "admin", True, actor="bench", now=app.clock.utcnow())
        figures = await measure(app, n, rounds)
    finally:
        await app.close()
    return {"plans": copies, "tasks_per_plan": len(tasks), "files": total,
            **figures, "overview_vs_hello_p50": round(figures["overview"]["server"]["p50_ms"]
                                                      / figures["hello"]["server"]["p50_ms"], 1)}


async def main(n: int, rounds: int) -> dict[str, Any]:
    return {
        "bench": "desk", "python": sys.version.split()[0], "cpus": os.cpu_count(), "n_per_round": n,
        "rounds": rounds,
        "plan_2023": await scenario(1, None, n, rounds),
        "plans_20": await scenario(20, 2000, n, rounds),
        "targets": {"overview_p50_ms_1_plan": 50, "overview_p50_ms_20_plans": 200},
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(asyncio.run(main(count, repeat)), ensure_ascii=False, indent=2))
