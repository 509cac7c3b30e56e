"""Telegram: duban beside a payload-matched python-telegram-bot bot on the same fake Bot API server, as JSON.

Issue targets: CPU per update <= 1.25x the payload-matched bot's, and >= 0.8x its updates per second
without a rate limiter, on SQLite and PostgreSQL (BENCH_DATABASE_URL=postgresql+asyncpg://..., see
benchdb.py).

The other bot (bench/echo_bot.py) sends, for each question, exactly the replies duban gives it: the same
HTML text (~490 characters for "我单位有哪些任务"), parse mode, buttons and number of messages, with
the same number of updates handled at once (MAX_CONCURRENT); what it lacks is duban's work. Both run in their own process
(`duban run` exactly as deployed); the fake server and the driver run here. Two questions are asked:
a unit's task list and "what's due" (本月到期的), both through the Telegram path.

For each bot, question and limiter setting: n updates from 20 users are queued at once and the bot's
updates per second measured until its last reply; the bot's CPU per update is read from
/proc/<pid>/stat (utime + stime) around that burst; then p50 latency of single messages (queued on the
server -> the reply's sendMessage arriving). Everything is repeated 3 times, the bots and settings
interleaved within each repeat (so a busy moment of the machine hits both alike); min and median given.

Two settings: without a rate limiter (the bots' own cost: what the ratio is about), and with PTB's
AIORateLimiter (production). With it, both bots are held to Telegram's 30 messages/s, so its rate
shows the cap and only says whether duban keeps up with it; its CPU per update is still each bot's own.
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
QUESTIONS = {"unit_tasks": "我单位有哪些任务", "whats_due": "本月到期的"}
TODAY = dt.date(2023, 10, 20)
LATENCY_SAMPLES = 50
CAP_NOTE = ("with AIORateLimiter both bots are held to Telegram's 30 messages/s (after a first burst of 30): "
            "updates_per_s shows that cap "
            "(and whether duban keeps up with it), not the bots' speed; cpu_per_update_ms is still each bot's own")


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
        answers = {}
        for question in QUESTIONS.values():
            user = str(FIRST_USER)
            replies = await app.conversation.handle(Message(channel="telegram", user_id=user, chat=ChatRef(
                "telegram", user), text=question, user_name="", reply_limit=REPLY_LIMIT))
            # the HTML duban's Telegram channel sends (it escapes the text; these answers carry no link or file)
            assert all(r.link is None and r.file is None for r in replies)
            answers[question] = [{"html": html.escape(r.text, quote=False),
                                  "buttons": [[c.label[:60], c.data] for c in r.choices]} for r in replies]
    finally:
        await app.close()
    return url, answers


async def measure(tg: FakeTelegram, pid: int, question: str, per_update: int, n: int) -> dict[str, float]:
    """Return updates/s, CPU ms per update (the bot's and this driver's) for n queued at once, then p50 ms."""
    # Warm up: the bot is polling and every user has asked once (a liaison's very first message records their
    # name: once in their working life, not in every burst), so the burst measures the steady state.
    for u in range(USERS):
        tg.send_text(FIRST_USER + u, question)
    await tg.wait_for(count=USERS * per_update, timeout=60)
    cpu0, driver0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
    for i in range(n):
        tg.send_text(FIRST_USER + i % USERS, question)
    await tg.wait_for(count=n * per_update, timeout=600)
    elapsed = time.perf_counter() - t0
    cpu, driver = cpu_seconds(pid) - cpu0, time.process_time() - driver0
    lat = []
    for i in range(LATENCY_SAMPLES):
        t1 = time.perf_counter()
        tg.send_text(FIRST_USER + i % USERS, question)
        await tg.wait_for(count=per_update, timeout=30)
        lat.append(time.perf_counter() - t1)
    return {"updates_per_s": n / elapsed, "cpu_per_update_ms": cpu / n * 1e3,
            "driver_cpu_per_update_ms": driver / n * 1e3, "p50_ms": statistics.median(lat) * 1e3}


async def run_bot(argv: list[str], env: dict[str, str], tg: FakeTelegram, answers: dict[str, list[dict[str, Any]]],
                  n: int) -> dict[str, Any]:
    """Start a bot process, measure every question on it, stop it."""
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        out: dict[str, Any] = {name: await measure(tg, proc.pid, q, len(answers[q]), n) for name, q in QUESTIONS.items()}
        out["peak_rss_mb"] = peak_rss_mb(proc.pid)
        return out
    finally:
        proc.terminate()
        await proc.wait()


def summary(samples: list[float]) -> dict[str, float]:
    return {"min": round(min(samples), 3), "median": round(statistics.median(samples), 3)}


async def main(n_free: int, n_capped: int, repeats: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="duban-bench-tg-"))
    url, answers = await prepare_duban(state)
    replies_file = state / "replies.json"
    replies_file.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    py = sys.executable
    runs: dict[tuple[bool, str], list[dict[str, Any]]] = {}
    try:
        for _ in range(repeats):
            for limited in (False, True):
                for bot in ("echo_bot", "duban"):
                    # A bot of its own per run: a fresh fake server counts update ids from 1 again, which the
                    # same bot on the same database would take for redeliveries (a real bot's ids only grow).
                    runs_so_far = sum(len(v) for v in runs.values())
                    async with FakeTelegram(token=f"{700000 + runs_so_far}:BENCH") as tg:
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
                        runs.setdefault((limited, bot), []).append(
                            await run_bot(argv, env, tg, answers, n_capped if limited else n_free))
    finally:
        await drop_databases([url])

    out: dict[str, Any] = {"bench": "telegram", "python": sys.version.split()[0], "database": BACKEND,
                           "repeats": repeats, "concurrent_updates": MAX_CONCURRENT, "users": USERS,
                           "targets": {"cpu_per_update_vs_echo": "<= 1.25", "updates_per_s_vs_echo": ">= 0.8"},
                           "payload": {name: {"messages": len(answers[q]),
                                              "html_chars": [len(r["html"]) for r in answers[q]],
                                              "buttons": [len(r["buttons"]) for r in answers[q]]}
                                       for name, q in QUESTIONS.items()}}
    for limited, label in ((False, "without_rate_limiter"), (True, "with_rate_limiter")):
        section: dict[str, Any] = {"updates": n_capped if limited else n_free}
        if limited:
            section["what_it_measures"] = CAP_NOTE
        for name in QUESTIONS:
            figures: dict[str, Any] = {}
            for bot in ("echo_bot", "duban"):
                figures[bot] = {key: summary([r[name][key] for r in runs[(limited, bot)]])
                                for key in ("updates_per_s", "cpu_per_update_ms", "driver_cpu_per_update_ms",
                                            "p50_ms")}
            duban, echo = figures["duban"], figures["echo_bot"]
            figures["duban_vs_echo_median"] = {
                "updates_per_s": round(duban["updates_per_s"]["median"] / echo["updates_per_s"]["median"], 3),
                "cpu_per_update": round(duban["cpu_per_update_ms"]["median"] / echo["cpu_per_update_ms"]["median"],
                                        3)}
            section[name] = figures
        section["peak_rss_mb"] = {bot: max(r["peak_rss_mb"] for r in runs[(limited, bot)])
                                  for bot in ("echo_bot", "duban")}
        out[label] = section
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    free, capped, reps = (args + [300, 120, 3][len(args):])[:3]
    print(json.dumps(asyncio.run(main(free, capped, reps)), ensure_ascii=False, indent=2))
