"""Speed of the plan store and the conversation core on the seed plan (SQLite), as JSON.

Issue targets: unit resolution < 1 ms, a unit's task list from the store < 5 ms, a "what's due" message
p50 < 5 ms from Message to replies (< 1 ms warm, from memory, with 20 active plans), free-text intent + unit
resolution p50 < 1 ms. Each figure is printed beside a baseline measured in the same run (a bare SELECT 1 round
trip, a dict lookup, the same question with one active plan), so a slow machine shows up in both.

    .venv/bin/python bench/bench_core.py [N] [--plans 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

from bot.app import App
from bot.config import Settings
from bot.core import intents
from bot.core.clock import SHANGHAI, Clock
from bot.core.messages import ChatRef, Message


def stats(samples: list[float]) -> dict[str, float]:
    """Return p50/p99/mean in milliseconds."""
    s = sorted(samples)
    return {"p50_ms": round(s[len(s) // 2] * 1e3, 4), "p99_ms": round(s[int(len(s) * 0.99) - 1] * 1e3, 4),
            "mean_ms": round(statistics.fmean(s) * 1e3, 4), "n": len(s)}


def timed_sync(fn: Callable[[], object], n: int) -> dict[str, float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return stats(out)


async def timed(fn: Callable[[], Awaitable[object]], n: int) -> dict[str, float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return stats(out)


async def main(n: int, plans: int = 1) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="duban-bench-"))
    settings = Settings(state_dir=tmp, today=dt.date(2023, 10, 20), coordinators="console:admin",
                        _env_file=None)  # type: ignore[call-arg]
    clock = Clock(tz=SHANGHAI, pinned_today=dt.date(2023, 10, 20))
    t0 = time.perf_counter()
    app = await App.create(settings, clock)  # migrations + first import of the 63-task plan
    first_start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        await app.import_plan(settings.plan_file, actor="bench")
        reimport = time.perf_counter() - t0
        plan = await app.store.plans.plan()
        code = await app.store.people.create_invite("区水务局", by="bench", now=clock.utcnow(), days=7)
        chat = ChatRef("console", "li")
        await app.conversation.handle(Message("console", "li", chat, text=f"/bind {code}"))

        async def select_one() -> None:
            async with app.store.sessions() as s:
                await s.exec(text("SELECT 1"))  # type: ignore[call-overload]

        async def unit_tasks() -> None:
            tasks = await app.store.plans.tasks(plan.id)
            [t for t in tasks if t.role_of("区水务局")]

        msg = Message("console", "li", chat, text="我单位有哪些任务")
        free = Message("console", "li", chat, text="十月份要完成什么")
        aliases = {u.name: u for u in app.units.all()}
        one_plan = await timed(lambda: app.conversation.handle(msg), n)
        spec = await app.store.plans.spec(plan.key)
        for k in range(1, plans):  # more active plans: the same table under other keys and titles
            await app.store.plans.import_plan(dataclasses.replace(spec, key=f"bench-{k}", title=f"{spec.title}（专项{k}）"),
                                              "bench", clock.utcnow())
        result = {
            "bench": "core", "python": sys.version.split()[0], "n": n, "active_plans": plans,
            "whats_due_message_one_plan": one_plan,
            "first_start_with_plan_import_s": round(first_start, 4),
            "plan_reimport_s": round(reimport, 4),
            "baseline_dict_lookup": timed_sync(lambda: aliases.get("区住房和城乡建设局"), n),
            "unit_resolve_abbrev": timed_sync(lambda: app.units.resolve("住建局"), n),
            "unit_resolve_fuzzy": timed_sync(lambda: app.units.resolve("住房建设局"), n),
            "intent_plus_unit": timed_sync(lambda: intents.parse("住建局十月份要交什么", today=clock.today(),
                                                                 plan_year=2023, units=app.units), n),
            "baseline_select_1": await timed(select_one, n),
            "unit_task_list_from_store": await timed(unit_tasks, n),
            "whats_due_message": await timed(lambda: app.conversation.handle(msg), n),
            "free_text_month_message": await timed(lambda: app.conversation.handle(free), n),
        }
        return result
    finally:
        await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=300, help="samples per figure")
    parser.add_argument("--plans", type=int, default=1, help="active plans while the questions are asked")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.n, args.plans)), ensure_ascii=False, indent=2))
