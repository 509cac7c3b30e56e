"""Who holds the 智能机器人's long connection, and how it is kept up: a database lease and a supervisor.

A bot id allows one connection at a time (a newer one displaces the older). Several duban processes sharing a
database agree through a lease row: only the holder connects, renews the lease while it lives (every third of its
term) and gives it up when it stops; another process takes over once the lease lapsed (DUBAN_WECOM_BOT_LEASE_S).
The supervisor runs one connection at a time under the lease and decides what each ending means:
- a network loss: reconnect after a pause that doubles (1 s to 30 s), reset by a connection that came up;
- a displacement (another program connected with the same bot id): give the lease up and wait, doubling
  (1 minute to 30 minutes), so two holders never take turns displacing each other; a connection that had stayed
  up 10 minutes was in no such fight, and the wait after it starts at 1 minute again;
- a refused bot id/secret: one line in the log, then a long pause, never a loop;
- the lease taken over by another process: disconnect and stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bot.channels.wecom.openws import AuthRefused, ConnectionLost, Displaced, NotConnected, OpenWs
from bot.core.clock import Clock
from bot.store.leases import LeaseRepo

log = logging.getLogger(__name__)

BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0  # reconnecting after a network loss
DISPLACED_WAIT, DISPLACED_MAX = 60.0, 1800.0  # after a newer connection replaced ours: wait, doubling
HEALTHY = 600.0  # seconds connected after which a displacement is no fight: the wait starts short again
AUTH_RETRY = 600.0  # after the bot id/secret was refused: one line in the log, then a long pause


class LeaseLost(Exception):
    """Another process holds the connection's lease now."""


class Supervisor:
    """Hold the lease and keep one connection up under it; `state` says where things stand."""

    def __init__(self, ws: OpenWs, leases: LeaseRepo, clock: Clock, *, lease: str, ttl: dt.timedelta,
                 on_taken: Callable[[], Awaitable[None]],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ws = ws
        self.leases = leases
        self.clock = clock
        self.lease = lease
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._ttl = ttl
        self._on_taken = on_taken  # the lease became ours: handle what the previous holder left
        self._sleep = sleep
        self._monotonic = monotonic
        self._up_since = 0.0
        self._holding = False
        self.state = "stopped"  # standby | connecting | connected | refused | displaced | stopped

    async def run(self) -> None:
        """Take the lease, connect, and react to each ending of the connection; until cancelled."""
        backoff, displaced_wait = BACKOFF_MIN, DISPLACED_WAIT
        standby_logged = False
        while True:
            try:
                holding = await self._take_lease()
            except Exception:  # the database is away: no lease can be proven, so no connection
                log.exception("taking the wecom bot lease failed")
                holding = False
            if not holding:
                if not standby_logged:
                    log.info("另一个督办助手进程持有智能机器人的长连接，本进程待命 — "
                             "another instance holds the WeCom bot connection; standing by")
                    standby_logged = True
                self.state = "standby"
                await self._sleep(self._ttl.total_seconds() / 4)
                continue
            standby_logged = False
            self.state = "connecting"
            try:
                await self._connected_under_lease()
            except AuthRefused as e:
                self.state = "refused"
                log.error("企业微信拒绝了智能机器人的 BotID 或 Secret（errcode %s：%s），请检查 DUBAN_WECOM_BOT_ID 和 "
                          "DUBAN_WECOM_BOT_SECRET；%d 分钟后再试 — WeCom refused the bot id or secret; retrying in "
                          "%d min", e.errcode, e.errmsg, AUTH_RETRY // 60, AUTH_RETRY // 60)
                await self.release()
                await self._sleep(AUTH_RETRY)
                continue
            except Displaced:
                if self._monotonic() - self._up_since >= HEALTHY:
                    displaced_wait = DISPLACED_WAIT
                await self.release()  # before saying so: whoever sees "displaced" may take the lease at once
                self.state = "displaced"
                log.warning("智能机器人的长连接被同一 BotID 的新连接顶替，本进程让出连接，%d 秒后再看 — displaced by a "
                            "newer connection for the same bot; giving up the lease for %d s", displaced_wait,
                            displaced_wait)
                await self._sleep(displaced_wait)
                displaced_wait = min(displaced_wait * 2, DISPLACED_MAX)
                continue
            except LeaseLost:
                log.warning("智能机器人长连接的租约已由另一个进程接管，本进程断开 — lease taken over; disconnected")
                self._holding = False
                continue
            except (ConnectionLost, NotConnected, aiohttp.ClientError, OSError, TimeoutError) as e:
                log.warning("智能机器人长连接断开，%.0f 秒后重连 — connection lost, reconnecting in %.0f s: %s",
                            backoff, backoff, e)
            except Exception:  # a bug of ours: log it, keep the process and the connection attempts alive
                log.exception("wecom bot connection failed")
            if self.state == "connected":
                backoff, displaced_wait = BACKOFF_MIN, DISPLACED_WAIT
            self.state = "connecting"
            await self._sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def connected(self) -> None:
        """Note that the connection is up (the socket subscribed)."""
        self.state = "connected"
        self._up_since = self._monotonic()

    async def _connected_under_lease(self) -> None:
        """Run one connection while renewing the lease; end it when the lease is lost."""
        run = asyncio.create_task(self.ws.run(), name="wecom-bot-ws")
        renew = asyncio.create_task(self._renew(), name="wecom-bot-lease")
        try:
            await asyncio.wait({run, renew}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (run, renew):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({task})
        if renew.done() and not renew.cancelled():
            renew.result()
        run.result()

    async def _renew(self) -> None:
        """Renew the lease every third of its term; raise LeaseLost when another process has it."""
        every = self._ttl.total_seconds() / 3
        last_ok = time.monotonic()
        while True:
            await self._sleep(every)
            try:
                if not await self._take_lease():
                    raise LeaseLost()
                last_ok = time.monotonic()
            except LeaseLost:
                raise
            except Exception:
                log.exception("renewing the wecom bot lease failed")
                if time.monotonic() - last_ok > self._ttl.total_seconds() - every:
                    raise LeaseLost() from None  # it may lapse before we can renew: let go first

    async def _take_lease(self) -> bool:
        got = await self.leases.take(self.lease, self.holder, self.clock.real_utcnow(), self._ttl)
        if got and not self._holding:
            await self._on_taken()  # newly ours (at start, or after the previous holder died)
        self._holding = got
        return got

    async def release(self) -> None:
        """Give the lease up at once, so another process can connect without waiting for it to lapse."""
        if self._holding:
            self._holding = False
            with contextlib.suppress(Exception):
                await self.leases.release(self.lease, self.holder)
