"""Telegram: duban beside a payload-matched python-telegram-bot bot on the same fake Bot API server, as JSON.

Issue 25's targets: duban's CPU per update <= 0.85x the bare bot's in a burst and <= 1.0x at a steady 20 updates/s.

The other bot (bench/echo_bot.py) sends, for the question, exactly the replies duban gives it: the same HTML text
(~490 characters for "我单位有哪些任务"), parse mode, buttons and number of messages, handling updates the way
duban's intake does (up to MAX_CONCURRENT chats at once, one at a time and in order within a chat); what it lacks
is duban's work. Both run in their own process (`duban run` exactly as deployed); the fake server and the driver
run here. Three shapes, each bot's CPU per update read from /proc/<pid>/stat (utime + stime) from the first update
queued to the last reply:

- burst: n updates from 20 users queued at once, no rate limiter (the bots' own cost; updates/s is their speed);
- steady: updates arriving at 20 a second, no rate limiter (a busy morning as it comes);
- limited: a burst with the rate limiter each bot runs in production (duban's own pacing; PTB's AIORateLimiter
  for the bare bot), so both are held to Telegram's 30 messages/s: updates/s shows the cap, CPU is still each bot's.

Rounds are interleaved (each round runs both bots in every shape, the first bot alternating), so a busy moment of
the machine hits both alike; every round is in the JSON, with medians and duban/echo ratios of the medians.
On PostgreSQL: BENCH_DATABASE_URL=postgresql+asyncpg://... (benchdb.py).

Usage: bench_telegram.py [BURST [LIMITED [STEADY [ROUNDS]]]]  (updates per shape; defaults 300 120 200 5)
"""


from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from benchdb import BACKEND, drop_databases, fresh_database  # noqa: E402
from fakes.telegram_api import FakeTelegram  # noqa: E402
from procstat import cpu_seconds, peak_rss_mb  # noqa: E402

from bot.app import App  # noqa: E402
from bot.channels.telegram import REPLY_LIMIT  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.messages import ChatRef, Message  # noqa: E402
from bot.intake import MAX_CONCURRENT  # noqa: E402

USERS = 20
FIRST_USER = 3000
QUESTION = "我单位有哪些任务"
TODAY = dt.date(2023, 10, 20)
STEADY_RATE = 20.0  # updates a second in the steady shape


async def prepare_duban(state: Path) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """Create duban's database with USERS bound liaisons of 区教育局; return its URL and duban's answers."""
    url = await fresh_database("telegram", state)
    settings = Settings(state_dir=state, database_url=url, today=TODAY, _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings)
    try:
        for u in range(USERS):
            code = await app.store.people.create_invite("区教育局", by="bench", now=app.clock.utcnow(), days=7)
            person = await app.store.people.identify("telegram", str(FIRST_USER + u), name="",
                                                     chat_id=str(FIRST_USER + u), now=app.clock.utcnow())
            await app.store.people.bind(person, code, now=app.clock.utcnow())
        user = str(FIRST_USER)
        replies = await app.conversation.handle(Message(channel="telegram", user_id=user, chat=ChatRef(
            "telegram", user), text=QUESTION, user_name="", reply_limit=REPLY_LIMIT))
        # the HTML duban's Telegram channel sends (it escapes the text; this answer carries no link or file)
        assert all(r.link is None and r.file is None for r in replies)
        answers = {QUESTION: [{"html": html.escape(r.text, quote=False),
                               "buttons": [[c.label[:60], c.data] for c in r.choices]} for r in replies]}
    finally:
        await app.close()
    return url, answers


async def warm_up(tg: FakeTelegram, per_update: int) -> None:
    """Let every user ask once: the bot is polling, and a liaison's first message (which records their name, once in
    their working life) is not in the figures."""
    for u in range(USERS):
        tg.send_text(FIRST_USER + u, QUESTION)
    await tg.wait_for(count=USERS * per_update, timeout=60)


async def shape(tg: FakeTelegram, pid: int, per_update: int, n: int, rate: float | None) -> dict[str, float]:
    """Queue n updates (all at once, or `rate` a second); return updates/s and CPU ms per update until the last reply."""
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for i in range(n):
        if rate is not None:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        tg.send_text(FIRST_USER + i % USERS, QUESTION)
    await tg.wait_for(count=n * per_update, timeout=600)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    return {"updates": n, "seconds": round(elapsed, 3), "updates_per_s": round(n / elapsed, 1),
            "cpu_per_update_ms": round(cpu / n * 1e3, 3)}


async def run_bot(argv: list[str], env: dict[str, str], tg: FakeTelegram, per_update: int,
                  shapes: dict[str, tuple[int, float | None]]) -> dict[str, Any]:
    """Start a bot process, run the shapes on it in turn, stop it."""
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await warm_up(tg, per_update)
        out: dict[str, Any] = {name: await shape(tg, proc.pid, per_update, n, rate)
                               for name, (n, rate) in shapes.items()}
        out["peak_rss_mb"] = peak_rss_mb(proc.pid)
        return out
    finally:
        proc.terminate()
        await proc.wait()


def median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


async def main(n_burst: int, n_limited: int, n_steady: int, rounds: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="duban-bench-tg-"))
    url, answers = await prepare_duban(state)
    per_update = len(answers[QUESTION])
    replies_file = state / "replies.json"
    replies_file.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    py = sys.executable
    free = {"burst": (n_burst, None), "steady": (n_steady, STEADY_RATE)}
    capped = {"limited": (n_limited, None)}
    per_round: list[dict[str, Any]] = []
    runs = 0
    try:
        for r in range(rounds):
            bots = ("echo_bot", "duban") if r % 2 == 0 else ("duban", "echo_bot")
            for limited in (False, True):
                for bot in bots:
                    # A bot of its own per run: a fresh fake server counts update ids from 1 again, which the
                    # same bot on the same database would take for redeliveries (a real bot's ids only grow).
                    runs += 1
                    async with FakeTelegram(token=f"{700000 + runs}:BENCH") as tg:
                        if bot == "echo_bot":
                            argv = [py, str(ROOT / "bench" / "echo_bot.py"), tg.token, tg.root, str(replies_file),
                                    *(["--rate-limit"] if limited else [])]
                            env = dict(os.environ)
                        else:
                            argv = [py, "-m", "bot", "run"]
                            env = dict(os.environ, DUBAN_STATE_DIR=str(state), DUBAN_DATABASE_URL=url,
                                       DUBAN_TODAY=TODAY.isoformat(), DUBAN_TELEGRAM_TOKEN=tg.token,
                                       DUBAN_TELEGRAM_API_URL=tg.root, DUBAN_HTTP_PORT="0", DUBAN_SCHEDULER="false",
                                       DUBAN_TELEGRAM_RATE_LIMIT=str(limited).lower())
                        out = await run_bot(argv, env, tg, per_update, capped if limited else free)
                    rss = out.pop("peak_rss_mb")
                    for name, figures in out.items():
                        per_round.append({"round": r + 1, "bot": bot, "shape": name, **figures, "peak_rss_mb": rss})
    finally:
        await drop_databases([url])

    medians: dict[str, Any] = {}
    for name in ("burst", "steady", "limited"):
        section: dict[str, Any] = {}
        for bot in ("echo_bot", "duban"):
            mine = [x for x in per_round if x["shape"] == name and x["bot"] == bot]
            section[bot] = {key: median(mine, key) for key in ("updates_per_s", "cpu_per_update_ms")}
        section["duban_vs_echo"] = {
            key: round(section["duban"][key] / section["echo_bot"][key], 3) for key in ("updates_per_s", "cpu_per_update_ms")}
        medians[name] = section
    return {"bench": "telegram", "python": sys.version.split()[0], "database": BACKEND, "rounds": rounds,
            "concurrent_updates": MAX_CONCURRENT, "users": USERS, "steady_rate": STEADY_RATE,
            "targets": {"burst_cpu_per_update_vs_echo": "<= 0.85", "steady_cpu_per_update_vs_echo": "<= 1.0"},
            "payload": {"question": QUESTION, "messages": per_update,
                        "html_chars": [len(r["html"]) for r in answers[QUESTION]],
                        "buttons": [len(r["buttons"]) for r in answers[QUESTION]]},
            "median": medians, "per_round": per_round}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    burst, limited, steady, reps = (args + [300, 120, 200, 5][len(args):])[:4]
    print(json.dumps(asyncio.run(main(burst, limited, steady, reps)), ensure_ascii=False, indent=2))
