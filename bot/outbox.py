"""The outbox service: proactive pushes are stored first, then sent by each channel's sender.

Reminders, digests and notices call `push`; a row is written (de-duplicated by key), and the
dispatcher loop claims due rows atomically, so two duban processes never send one row twice and a
crash before sending leaves the row to be sent on the next start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.core.clock import Clock
from bot.core.messages import ChatRef, Push, Reply
from bot.store.outbox import OutboxItem
from bot.store.store import Store

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


class Sender(Protocol):
    """A channel's way to deliver one reply to a stored chat."""

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Deliver, or raise TemporaryFailure / Unreachable."""


class TemporaryFailure(Exception):
    """Try again later (rate limit, network); `retry_after` in seconds when the platform said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(Exception):
    """The recipient cannot be reached (blocked the bot, never started it, left the company)."""


class Outbox:
    """Durable, de-duplicated proactive sends."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.senders: dict[str, Sender] = {}
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._settled = asyncio.Condition()
        self._settled_count = 0  # bumped on every settled send: a waiter sees one that came while it checked

    async def push(self, push: Push) -> None:
        """Store a push for sending; a repeated dedupe key is ignored."""
        if not push.dedupe_key:
            push = Push(push.to, push.reply, f"push:{self.clock.utcnow().isoformat()}:{push.to.key()}", push.tags)
        await self.store.outbox.enqueue(push, self.clock.utcnow())
        self._wake.set()

    async def answer(self, sender: Sender, chat: ChatRef, replies: Sequence[Reply], key: str) -> None:
        """Send a message's replies now; what cannot go now (rate limit, network) is left here, never dropped.

        `key` is the inbound message's key, so a reply deferred twice (the message handled again after a
        restart) is stored once.
        """
        for n, reply in enumerate(replies):
            try:
                await sender.send(chat, reply)
            except TemporaryFailure as e:
                log.warning("reply to %s deferred to the outbox: %s", chat.key(), e)
                for m, rest in enumerate(replies[n:], n):
                    await self.push(Push(chat, rest, dedupe_key=f"reply:{key}:{m}"))
                return
            except Unreachable as e:
                log.warning("reply to %s undeliverable: %s", chat.key(), e)
                await self.store.people.mark_unreachable(chat.channel, chat.chat_id, str(e), self.clock.utcnow())
                return
            except Exception:  # the platform refused this reply (a bug of ours): log it, send the others
                log.exception("reply to %s failed", chat.key())

    def wake(self) -> None:
        """Ask the dispatcher to look for due rows now (after a sweep wrote some)."""
        self._wake.set()

    async def drain(self) -> int:
        """Send every due row whose channel has a sender here; return how many were sent."""
        sent = 0
        while True:
            batch = await self.store.outbox.claim(self.clock.utcnow(), self.worker, self.senders.keys())
            if not batch:
                return sent
            for item in batch:
                try:
                    sent += await self._send(item)
                finally:
                    await self._notify()

    async def _send(self, item: OutboxItem) -> int:
        """Send one claimed row and settle it; return 1 when it was delivered."""
        sender = self.senders[item.chat.channel]  # claim() only returns rows of channels we have
        now = self.clock.utcnow()
        try:
            await sender.send(item.chat, item.reply)
        except Unreachable as e:
            await self.store.outbox.settle(item.id, "unreachable", now, error=str(e))
            await self.store.people.mark_unreachable(item.chat.channel, item.chat.chat_id, str(e), now)
            log.warning("unreachable %s: %s", item.chat.key(), e)
            return 0
        except Exception as e:  # any other failure is retried, never dropped silently
            if item.attempts >= MAX_ATTEMPTS:
                await self.store.outbox.settle(item.id, "failed", now, error=repr(e))
                log.error("giving up on %s after %d attempts: %r", item.dedupe_key, item.attempts, e)
                return 0
            retry = getattr(e, "retry_after", None)
            delay = max(float(retry or 0), min(2.0 ** item.attempts, 600.0))
            await self.store.outbox.settle(item.id, "pending", now, error=repr(e),
                                           retry_at=now + dt.timedelta(seconds=delay))
            if not isinstance(e, TemporaryFailure):
                log.exception("send failed for %s", item.dedupe_key)
            return 0
        await self.store.outbox.settle(item.id, "sent", self.clock.utcnow())
        return 1

    async def until(self, predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
        """Wait until `predicate` holds, re-checking after each settled send (tests, shutdown)."""
        async with asyncio.timeout(within):
            while True:
                seen = self._settled_count
                if await predicate():
                    return
                async with self._settled:
                    await self._settled.wait_for(lambda seen=seen: self._settled_count != seen)  # type: ignore[misc]

    async def _notify(self) -> None:
        async with self._settled:
            self._settled_count += 1
            self._settled.notify_all()

    async def run(self, stop: asyncio.Event) -> None:
        """Drain whenever woken, and at least every few seconds for retries; until `stop` is set."""
        while not stop.is_set():
            self._wake.clear()  # before draining: a push that lands during the drain wakes the next round
            try:
                await self.drain()
            except Exception:
                log.exception("outbox drain failed")
            next_due = await self.store.outbox.next_due()
            wait = 5.0
            if next_due is not None:
                wait = min(wait, max(0.05, (next_due - self.clock.utcnow()).total_seconds()))
            waker = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waker, stopper}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            stopper.cancel()
