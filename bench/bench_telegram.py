"""Telegram throughput through the fake Bot API server, duban beside a bare PTB echo bot, as JSON.

Issue target: duban handles "我单位有哪些任务" at >= 0.7x the echo bot's updates per second (the
framework floor: same PTB, same server, no work). Also the p50 time from an update being queued on
the server to the bot's sendMessage arriving. Measured twice: without a rate limiter (duban's own
cost), and with PTB's AIORateLimiter on both (production: Telegram's 30 messages/s caps both).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.telegram_api import FakeTelegram
from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.runner import Runtime

USERS = 20


async def rate(tg: FakeTelegram, n: int, text: str) -> float:
    """Queue n updates from USERS users at once; return updates handled per second."""
    await tg.wait_for(lambda s: True, timeout=0.01) if tg.sent else None
    t0 = time.perf_counter()
    for i in range(n):
        tg.send_text(3000 + i % USERS, text)
    await tg.wait_for(count=n, timeout=120)
    return n / (time.perf_counter() - t0)


async def latency(tg: FakeTelegram, n: int, text: str) -> dict[str, float]:
    """Send one update at a time; return p50/p99 ms from queueing to the reply's sendMessage."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        tg.send_text(3000 + i % USERS, text)
        await tg.wait_for(timeout=30)
        out.append(time.perf_counter() - t0)
    out.sort()
    return {"p50_ms": round(out[len(out) // 2] * 1e3, 2), "p99_ms": round(out[int(len(out) * 0.99) - 1] * 1e3, 2)}


async def echo_bot(n: int, limited: bool) -> dict[str, Any]:
    async with FakeTelegram() as tg:
        builder = ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url)
        if limited:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
        app = builder.build()

        async def echo(update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.effective_message is not None
            await update.effective_message.reply_text(update.effective_message.text or "")

        app.add_handler(MessageHandler(filters.TEXT, echo))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            r = await rate(tg, n, "我单位有哪些任务")
            lat = await latency(tg, min(n, 100), "我单位有哪些任务")
            await app.updater.stop()
            await app.stop()
    return {"updates_per_s": round(r, 1), **lat}


async def duban_bot(n: int, limited: bool) -> dict[str, Any]:
    async with FakeTelegram() as tg:
        tmp = Path(tempfile.mkdtemp(prefix="duban-bench-tg-"))
        settings = Settings(state_dir=tmp, today=dt.date(2023, 10, 20), telegram_token=tg.token,
                            telegram_api_url=tg.root, http_port=0, scheduler=False, telegram_rate_limit=limited,
                            _env_file=None)  # type: ignore[call-arg]
        app = await App.create(settings, Clock(tz=SHANGHAI, pinned_today=dt.date(2023, 10, 20)))
        for u in range(USERS):
            code = await app.store.people.create_invite("区教育局", by="bench", now=app.clock.utcnow(), days=7)
            await app.store.people.identify("telegram", str(3000 + u), name="", chat_id=str(3000 + u),
                                            now=app.clock.utcnow())
            person = await app.store.people.get(f"telegram:{3000 + u}")
            assert person is not None
            await app.store.people.bind(person, code, now=app.clock.utcnow())
        async with Runtime(app):
            r = await rate(tg, n, "我单位有哪些任务")
            lat = await latency(tg, min(n, 100), "我单位有哪些任务")
        await app.close()
    return {"updates_per_s": round(r, 1), **lat}


async def main(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "telegram", "updates": n, "target_ratio": 0.7}
    for label, limited in (("without_rate_limiter", False), ("with_rate_limiter", True)):
        echo = await echo_bot(n, limited)
        duban = await duban_bot(n, limited)
        out[label] = {"echo_bot": echo, "duban": duban,
                      "ratio_vs_echo": round(duban["updates_per_s"] / echo["updates_per_s"], 3)}
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)), ensure_ascii=False,
                     indent=2))
