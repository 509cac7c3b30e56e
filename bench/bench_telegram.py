"""Telegram throughput through the fake Bot API server: duban beside a bare PTB echo bot, as JSON.

Issue target: duban handles "我单位有哪些任务" at >= 0.7x the echo bot's updates per second (the
framework floor: same PTB, same server, no work), and the p50 time from an update being queued on
the server to the bot's sendMessage arriving.

Each bot runs in its own process (`duban run`, exactly as deployed, and bench/echo_bot.py); the fake
server and the driver run here. Measured twice: without a rate limiter (the bots' own cost), and
with PTB's AIORateLimiter on both (production, where Telegram's 30 messages/s caps both).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.telegram_api import FakeTelegram  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import Settings  # noqa: E402

USERS = 20
TEXT = "我单位有哪些任务"


async def measure(tg: FakeTelegram, n: int) -> dict[str, Any]:
    """Return updates/s for n queued at once, then p50/p99 ms one at a time."""
    tg.send_text(3000, TEXT)  # warm up: the bot is polling and its first reply is out
    await tg.wait_for(timeout=60)
    t0 = time.perf_counter()
    for i in range(n):
        tg.send_text(3000 + i % USERS, TEXT)
    await tg.wait_for(count=n, timeout=300)
    rate = n / (time.perf_counter() - t0)
    lat = []
    for i in range(min(n, 100)):
        t1 = time.perf_counter()
        tg.send_text(3000 + i % USERS, TEXT)
        await tg.wait_for(timeout=30)
        lat.append(time.perf_counter() - t1)
    lat.sort()
    return {"updates_per_s": round(rate, 1), "p50_ms": round(lat[len(lat) // 2] * 1e3, 2),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1e3, 2)}


async def run_bot(argv: list[str], env: dict[str, str], tg: FakeTelegram, n: int) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        return await measure(tg, n)
    finally:
        proc.terminate()
        await proc.wait()


async def prepare_duban(state: Path) -> None:
    """Create the database and bind USERS liaisons of 区教育局, as `duban invite` + /bind would."""
    settings = Settings(state_dir=state, today=dt.date(2023, 10, 20), _env_file=None)  # type: ignore[call-arg]
    app = await App.create(settings)
    for u in range(USERS):
        code = await app.store.people.create_invite("区教育局", by="bench", now=app.clock.utcnow(), days=7)
        person = await app.store.people.identify("telegram", str(3000 + u), name="", chat_id=str(3000 + u),
                                                 now=app.clock.utcnow())
        await app.store.people.bind(person, code, now=app.clock.utcnow())
    await app.close()


async def main(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "telegram", "updates": n, "target_ratio": 0.7}
    py = sys.executable
    for label, limited in (("without_rate_limiter", False), ("with_rate_limiter", True)):
        async with FakeTelegram() as tg:
            echo = await run_bot([py, str(ROOT / "bench" / "echo_bot.py"), tg.token, tg.root,
                                  *(["--rate-limit"] if limited else [])], dict(os.environ), tg, n)
        state = Path(tempfile.mkdtemp(prefix="duban-bench-tg-"))
        await prepare_duban(state)
        async with FakeTelegram() as tg:
            env = dict(os.environ, DUBAN_STATE_DIR=str(state), DUBAN_TODAY="2023-10-20", DUBAN_TELEGRAM_TOKEN=tg.token,
                       DUBAN_TELEGRAM_API_URL=tg.root, DUBAN_HTTP_PORT="0", DUBAN_SCHEDULER="false",
                       DUBAN_TELEGRAM_RATE_LIMIT=str(limited).lower())
            duban = await run_bot([py, *os.environ.get("BENCH_PROFILE", "").split(), "-m", "bot", "run"], env, tg, n)
        out[label] = {"echo_bot": echo, "duban": duban,
                      "ratio_vs_echo": round(duban["updates_per_s"] / echo["updates_per_s"], 3)}
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)), ensure_ascii=False,
                     indent=2))
