"""`duban run`: every configured channel, the HTTP server, the outbox and the reminder ticker in one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from types import TracebackType

import aiohttp
from aiohttp import web

from bot.app import App
from bot.channels.base import Channel
from bot.config import DEFAULT_PUBLIC_URL, Settings
from bot.reminders.ticker import ReminderTicker
from bot.web import build_web_app

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"  # the console's desk is for whoever sits at this machine


class Runtime:
    """Start and stop everything `duban run` runs, in order; tests use it the same way.

    With receive=False only the channels' senders are set up (no HTTP server, no polling, no ticker),
    so a one-off command can deliver what is in the outbox.
    """

    def __init__(self, app: App, *, receive: bool = True) -> None:
        self.app = app
        self.receive = receive  # False: senders only, for `duban remind run-once` from cron
        self.channels: list[Channel] = []
        self.http_url = ""
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ticker: ReminderTicker | None = None

    async def start(self) -> None:
        """Build channels, start the HTTP server, then the channels, the outbox and the ticker."""
        s = self.app.settings
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        web_app = build_web_app(self.app)
        from bot.channels.wecom.channel import WeComAppChannel
        from bot.channels.wecom.robot import WeComRobotChannel

        install_pages(self.app, web_app)
        pipeline, clock = self.app.pipeline, self.app.clock
        self.channels.append(WeComRobotChannel(pipeline, s, self._session, self.app.store.chats.robot_key))
        if s.wecom_enabled:
            self.channels.append(WeComAppChannel(pipeline, s, clock, self._session))
        if s.telegram_enabled:
            from bot.channels.telegram import TelegramChannel

            self.channels.append(TelegramChannel(pipeline, s))
        if s.wecom_bot_enabled and self.receive:
            # Only the process holding the long connection can push over it; a cron run-once leaves its
            # pushes in the outbox for `duban run`.
            from bot.channels.wecom.aibot import WeComBotChannel

            self.channels.append(WeComBotChannel(pipeline, s, clock, self.app.store.leases))
        for ch in self.channels:
            ch.install(web_app)
        if s.wecom_enabled != s.wecom_bot_enabled:  # one person on both WeCom channels: the one configured stands in
            self.app.outbox.stand_ins.update({"wecom-bot": "wecom"} if s.wecom_enabled else {"wecom": "wecom-bot"})
        if not self.receive:
            return
        await self.app.tidy()
        await self.app.intake.load()  # leftovers first: before the server or a poll can receive anything new
        await self.app.services.reads.start()  # other processes' changes reach this one's read model
        self._runner, self.http_url = await listen(web_app, s, s.http_host)
        for ch in self.channels:
            await ch.start()
        self.app.intake.open()
        self._tasks.append(asyncio.create_task(self.app.outbox.run(self._stop), name="outbox"))
        if s.scheduler:
            ticker = ReminderTicker(self.app, on_swept=self.app.outbox.wake)
            ticker.start()
            self._ticker = ticker

    async def stop(self) -> None:
        """Stop gracefully: take nothing new, finish what is in hand, leave the rest stored for the next start.

        Messages kept but not yet handled stay in the intake, pushes not yet sent stay in the outbox; a sweep in
        progress finishes. Nothing is cancelled mid-transaction.
        """
        for ch in reversed(self.channels):
            try:
                await ch.stop_receiving()
            except Exception:
                log.exception("stopping %s failed", ch.name)
        await self.app.intake.stop()
        await self.app.services.reads.stop()
        if self._ticker is not None:
            await self._ticker.stop()
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for ch in reversed(self.channels):
            try:
                await ch.stop()
            except Exception:
                log.exception("stopping %s failed", ch.name)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


async def run_channels(app: App, *, console_user: str = "admin") -> None:
    """Run until interrupted; with no Telegram or WeCom credentials, the console is the channel."""
    s = app.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if s.telegram_enabled or s.wecom_enabled or s.wecom_bot_enabled:
        async with Runtime(app) as rt:
            print(f"督办助手已启动：{rt.http_url}（Ctrl-C 停止）", file=sys.stderr)
            _settle_startup_objects()
            await stop.wait()
        return
    await run_console(app, console_user, stop, desk=True)


def install_pages(app: App, web_app: web.Application) -> None:
    """Add the upload page and the desk to the HTTP server, and let chat hand out links to them."""
    from bot.desk.pages import Desk
    from bot.desk.upload import UploadPage

    page = UploadPage(app)
    page.install(web_app)
    app.services.upload_link = page.link
    desk = Desk(app)
    desk.install(web_app)
    app.services.desk_link = desk.link


async def listen(web_app: web.Application, s: Settings, host: str) -> tuple[web.AppRunner, str]:
    """Serve the HTTP app on host and DUBAN_HTTP_PORT; return its runner and its address (OSError when the port is
    taken)."""
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, s.http_port).start()
    except OSError:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1] if runner.addresses else s.http_port
    url = f"http://{host}:{port}"
    if s.public_url == DEFAULT_PUBLIC_URL and port != 8080:
        s.public_url = url  # links must point where we really listen (tests use port 0)
    log.info("HTTP server on %s", url)
    return runner, url


def _settle_startup_objects() -> None:
    """Move what start-up loaded (modules, settings, the plan's structure) out of the cycle collector's way.

    It lives as long as the process, yet every full collection walked all of it again, a cost every Telegram
    update paid (bench/bench_telegram.py). Garbage from start-up is collected first, so none is kept.
    """
    gc.collect()
    gc.freeze()


async def run_console(app: App, user: str, stop: asyncio.Event, *, desk: bool = False) -> None:
    """Chat in this terminal, with pushes (notices, reminders) printed here too; with desk, the desk on this machine."""
    from bot.channels.console import ConsoleChannel

    if not app.settings.coordinators:
        # Nobody configured: the terminal's owner coordinates (only someone at this machine can be console:admin).
        app.settings.coordinators = "console:admin"
    console = ConsoleChannel(app.pipeline, user, role_of=lambda u: "（节水办）" if
                             f"console:{u}" in app.settings.coordinator_keys else "")
    await app.tidy()
    runner = await _serve_desk_locally(app) if desk else None
    await app.intake.start()
    await app.services.reads.start()
    sender = asyncio.create_task(app.outbox.run(stop))
    ticker = None
    if app.settings.scheduler and sys.stdin.isatty():
        ticker = ReminderTicker(app, on_swept=app.outbox.wake)
        ticker.start()
    try:
        if app.settings.today and sys.stdin.isatty():
            print(f"（演示日期：{app.settings.today}，由 DUBAN_TODAY 设定）", file=sys.stderr)
        reader = asyncio.create_task(console.run())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        stopper.cancel()
        await app.outbox.drain()
    finally:
        if ticker is not None:
            await ticker.stop()
        await app.intake.stop()
        await app.services.reads.stop()
        stop.set()
        await sender
        if runner is not None:
            await runner.cleanup()


async def _serve_desk_locally(app: App) -> web.AppRunner | None:
    """Serve the desk and the upload page on this machine only, so a console user can open what /desk links to.

    A taken port is no reason to refuse the chat: the console goes on without the desk and says so.
    """
    s = app.settings
    web_app = build_web_app(app)
    install_pages(app, web_app)
    try:
        runner, url = await listen(web_app, s, LOOPBACK)
    except OSError as e:
        app.services.upload_link = app.services.desk_link = None
        print(f"端口{s.http_port}无法使用（{e.strerror or e}），督办台这次没有启动，控制台照常可用。"
              "可设置 DUBAN_HTTP_PORT 换一个端口后重新启动。", file=sys.stderr, flush=True)
        return None
    print(f"督办台：{url}/desk/（在控制台发送 /desk 获取登录链接）", file=sys.stderr, flush=True)
    return runner
