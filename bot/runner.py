"""`duban run`: start every configured channel, the outbox and the reminder ticker in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from bot.app import App

log = logging.getLogger(__name__)


async def run_channels(app: App, *, console_user: str = "admin") -> None:
    """Run until interrupted; with no Telegram or WeCom credentials, the console is the channel."""
    s = app.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(app.outbox.run(stop), name="outbox")]
    if not (s.telegram_enabled or s.wecom_enabled):
        from bot.channels.console import ConsoleChannel

        console = ConsoleChannel(app.conversation, console_user)
        app.outbox.senders["console"] = console
        if not sys.stdin.isatty():
            await console.run()
            await app.outbox.drain()
            stop.set()
        else:
            reader = asyncio.create_task(console.run())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            reader.cancel()
    else:
        await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
