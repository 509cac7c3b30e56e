"""Desk page speed as JSON: server time of the overview, the task list and a task page beside a bare aiohttp handler.

Two databases (SQLite files, or PostgreSQL with BENCH_DATABASE_URL), measured side by side:
- "plan_1": the shipped 2023 plan with one file per evidence item and a liaison per unit;
- "plans_20": 20 copies of the plan (63 tasks each), 2,000 liaisons spread over the plan's units and 50,000 files
  (2,500 a plan, with as many audit rows) given by them, the desk showing one of the plans.
Both have ten tasks waiting for review and five extension requests in the plan shown, so the overview's 待办 panel
has work to list. Each scenario's server holds the real desk and a bare "hello" handler; a signed-in coordinator
requests /desk/ (overview), /desk/tasks (task list), /desk/tasks/44 (a task page with its files and history) and
/hello in turn, `n` requests each, the two scenarios interleaved round by round after a warm-up round. Server time is
measured by a middleware around the handler (rendering included, socket writes not); the client round trip is
reported beside it. The chart image is a separate request and is not in the overview's figure.

    .venv/bin/python bench/bench_desk.py [n] [rounds]
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web
from benchdb import BACKEND, drop_databases, fresh_database
from sqlalchemy import Table, insert
from sqlmodel import col, select

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.core.views import TaskStatus
from bot.desk.pages import Desk
from bot.planfiles.yamlfile import load_plan_file
from bot.store.tables import Audit, EvidenceFile, EvidenceItem, EvidenceList, Person, Task
from bot.web import build_web_app

COORDINATOR = "console:admin"
PAGES = {"overview": "/desk/", "task_list": "/desk/tasks", "task_44": "/desk/tasks/44", "hello": "/hello"}
TODAY = dt.date(2023, 10, 20)


def stats(samples: list[float]) -> dict[str, float]:
    """Return p50/p95 in milliseconds."""
    s = sorted(samples)
    return {"p50_ms": round(s[len(s) // 2] * 1e3, 2), "p95_ms": round(s[max(int(len(s) * 0.95) - 1, 0)] * 1e3, 2),
            "n": len(s)}


async def add_plans(app: App, copies: int) -> list[str]:
    """Import the shipped plan `copies` times under new keys; return every plan key."""
    spec = load_plan_file(app.settings.plan_file, app.units)
    for i in range(1, copies):
        await app.store.plans.import_plan(dataclasses.replace(spec, key=f"{spec.key}-copy{i}"), "bench",
                                          app.clock.utcnow())
    return [p.key for p in await app.store.plans.list_plans()]


async def add_liaisons(app: App, count: int) -> list[str]:
    """Bind `count` liaisons (in bulk), spread over the units of the shipped plan's tasks; return their keys."""
    plan = await app.store.plans.plan()
    tasks = await app.store.plans.tasks(plan.id)
    units = list(dict.fromkeys([*(t.lead for t in tasks), *(u for t in tasks for u in t.cooperating)]))
    now = app.clock.utcnow()
    rows = [{"channel": "wecom", "user_id": f"liaison{n}", "name": f"联络员{n}", "unit": units[n % len(units)],
             "chat_id": f"liaison{n}", "created_at": now} for n in range(count)]
    async with app.store.engine.begin() as c:
        await c.execute(insert(cast(Table, Person.__table__)), rows)  # type: ignore[attr-defined]
    return [f"wecom:liaison{n}" for n in range(count)]


async def add_files(app: App, plan_key: str, count: int, uploaders: list[str]) -> int:
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
        sha = f"{plan.id:08x}{n:056x}"
        who = uploaders[n % len(uploaders)]
        files.append({"item_id": item_id, "sha256": sha, "size": 100_000 + n, "file_name": f"材料{n}.pdf",
                      "mime_type": "application/pdf", "unit": lead, "uploaded_by": who, "uploaded_at": at})
        audits.append({"at": at, "actor": who, "channel": "wecom", "action": "evidence.add",
                       "plan_id": plan.id, "task_no": task_no,
                       "detail": {"item": item_no, "file": f"材料{n}.pdf", "sha256": sha}})
    async with app.store.engine.begin() as c:
        await c.execute(insert(cast(Table, EvidenceFile.__table__)), files)  # type: ignore[attr-defined]
        await c.execute(insert(cast(Table, Audit.__table__)), audits)  # type: ignore[attr-defined]
    return len(files)


async def add_work(app: App, plan_key: str) -> None:
    """Put ten tasks in the review queue and five extension requests before the coordinators."""
    plan = await app.store.plans.plan(plan_key)
    tasks = await app.store.plans.tasks(plan.id)
    now = app.clock.utcnow()
    for t in tasks[:10]:
        await app.store.plans.set_status(plan.id, t.no, TaskStatus.SUBMITTED, actor="bench", channel="bench", now=now)
    for t in tasks[10:15]:
        await app.store.extensions.request(plan.id, t.no, t.deadline + dt.timedelta(days=30), "等待验收",
                                           unit=t.lead, by="wecom:liaison0", channel="bench", now=now)


@dataclasses.dataclass
class Times:
    """Each page's server and client times, recorded once the warm-up is over."""

    server: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    client: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    recording: bool = False


@dataclasses.dataclass
class Served:
    """One scenario's app behind its own server, with a signed-in coordinator's client."""

    name: str
    app: App
    runner: web.AppRunner
    base: str
    http: aiohttp.ClientSession
    times: Times


async def serve(name: str, app: App) -> Served:
    """Serve the desk and a bare handler from one server, and sign a coordinator in."""
    names = {path: page for page, path in PAGES.items()}
    times = Times()

    @web.middleware
    async def timed(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        t0 = time.perf_counter()
        response = await handler(request)
        if times.recording and request.path in names:
            times.server[names[request.path]].append(time.perf_counter() - t0)
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
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    app.settings.public_url = base
    person = await app.store.people.get(COORDINATOR)
    assert person is not None
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(desk.link(person), allow_redirects=False) as resp:
        assert resp.status == 303, resp.status
    return Served(name, app, runner, base, http, times)


async def requests(served: Served, n: int) -> None:
    """Ask for every page `n` times, recording the client's round trip when the server records its time."""
    for _ in range(n):
        for page, path in PAGES.items():
            t0 = time.perf_counter()
            async with served.http.get(served.base + path) as resp:
                assert resp.status == 200, (path, resp.status)
                await resp.read()
            if served.times.recording:
                served.times.client[page].append(time.perf_counter() - t0)


async def scenario(label: str, copies: int, liaisons: int, files_per_plan: int | None, urls: list[str]) -> App:
    """Build a fresh database for one scenario; return its app."""
    tmp = Path(tempfile.mkdtemp(prefix="duban-bench-desk-"))
    url = await fresh_database(label, tmp)
    urls.append(url)
    settings = Settings(state_dir=tmp, database_url=url, coordinators=COORDINATOR, scheduler=False, today=TODAY,
                        _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings, Clock(tz=SHANGHAI, pinned_today=TODAY))
    keys = await add_plans(app, copies)
    shown = keys[-1]  # the first imported: the shipped plan's own key
    app.settings.plan = shown
    people = await add_liaisons(app, liaisons)
    plan = await app.store.plans.plan(shown)
    items = sum(len(t.items) for t in await app.store.plans.tasks(plan.id))
    for key in keys:
        await add_files(app, key, files_per_plan or items, people)
    await add_work(app, shown)
    await app.store.people.set_coordinator("console", "admin", True, actor="bench", now=app.clock.utcnow())
    return app


async def main(n: int, rounds: int) -> dict[str, Any]:
    urls: list[str] = []
    apps = {"plan_1": await scenario("one", 1, 12, None, urls),
            "plans_20": await scenario("twenty", 20, 2000, 2500, urls)}
    servers = [await serve(name, app) for name, app in apps.items()]
    try:
        for rnd in range(rounds + 1):
            for served in servers if rnd % 2 else reversed(servers):  # interleaved, neither always first
                served.times.recording = rnd > 0  # round 0 warms caches (plan structure, templates, the read model)
                await requests(served, n)
        figures: dict[str, Any] = {}
        for served in servers:
            async with served.app.store.sessions() as s:
                files = len((await s.exec(select(EvidenceFile.id))).all())
                people = len((await s.exec(select(Person.id))).all())
            figures[served.name] = {
                "plans": len(await served.app.store.plans.list_plans()), "people": people, "files": files,
                **{page: {"server": stats(served.times.server[page]),
                          "client_round_trip": stats(served.times.client[page])}
                   for page in PAGES}}
    finally:
        for served in servers:
            await served.http.close()
            await served.runner.cleanup()
        for app in apps.values():
            await app.close()
        await drop_databases(urls)
    return {"bench": "desk", "backend": BACKEND, "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "n_per_round": n, "rounds": rounds, **figures,
            "targets": {"overview_p50_ms_1_plan": 50, "overview_p50_ms_20_plans": 200}}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    print(json.dumps(asyncio.run(main(count, repeat)), ensure_ascii=False, indent=2))
