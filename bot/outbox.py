"""The outbox service: proactive pushes are stored first, then sent through each channel's delivery.

Reminders, digests and notices call `push`; a row is written (de-duplicated by key), and the
dispatcher loop claims due rows atomically, so two duban processes never send one row twice and a
crash before sending leaves the row to be sent on the next start. Replies that could not go out at once
(a rate limit, the network) are left here too (`defer`). A push goes out in the parts one platform message
holds; when a later part fails, the row keeps only the parts not delivered.

A morning's reminders go to thousands of chats: the dispatcher sends to many chats at once and each chat's rows one
after another, in the order they were pushed, so the platform's own pace (Telegram: 30 messages a second, which the
channel keeps to) is what limits the burst, not one send waiting for the previous. When a chat's row must wait (the
platform said `retry_after`), that chat's later rows wait as long instead of overtaking it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.core.clock import Clock
from bot.core.messages import ChatRef, Push, Reply
from bot.store.outbox import OutboxItem
from bot.store.store import Store

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
LANES = 64  # chats sent to at once: more than Telegram's 30 messages a second need while each send waits its turn
AHEAD = 256  # rows claimed ahead of sending, so that a claim's round trips never leave the lanes idle
CLAIM = 32  # rows claimed at once: the first sends start after one small claim, not after claiming all AHEAD


class Sender(Protocol):
    """A channel's way to deliver a push to a stored chat, in the parts one platform message holds."""

    def parts(self, chat: ChatRef, reply: Reply) -> list[Reply]:
        """Render a push as the platform's messages."""

    async def send(self, chat: ChatRef, part: Reply) -> None:
        """Deliver one part, or raise TemporaryFailure / Unreachable."""


class TemporaryFailure(Exception):
    """Try again later (rate limit, network); `retry_after` in seconds when the platform said.

    `rest`: one part takes several platform calls (a text, then its card, then its file) and a later call failed;
    `rest` is what of the part is still undelivered, and all a retry sends of it.
    """

    def __init__(self, message: str, retry_after: float | None = None, rest: Reply | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rest = rest


class Unreachable(Exception):
    """The recipient cannot be reached (blocked the bot, never started it, left the company)."""


class Refused(Exception):
    """The platform refused this message for good (a chat that does not exist, content it never takes): no retry."""


class Outbox:
    """Durable, de-duplicated proactive sends."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.senders: dict[str, Sender] = {}
        # channel -> the channel that delivers its private chats when it has no sender here: one person on both WeCom
        # channels, with only one of them configured (their last chat was on the other)
        self.stand_ins: dict[str, str] = {}
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

    async def defer(self, chat: ChatRef, parts: Sequence[Reply], key: str) -> None:
        """Keep the parts of a message's answer that could not go now; they are sent like pushes.

        `key` is the message's intake key, so parts deferred twice (the message handled again after a restart)
        are stored once.
        """
        for n, part in enumerate(parts):
            await self.push(Push(chat, part, dedupe_key=f"reply:{key}:{n}"))

    async def unreachable(self, chat: ChatRef, error: Unreachable) -> None:
        """Record that a person cannot be reached (coordinators see it in /liaisons)."""
        log.warning("unreachable %s: %s", chat.key(), error)
        await self.store.people.mark_unreachable(chat.channel, chat.chat_id, str(error), self.clock.utcnow())

    def wake(self) -> None:
        """Ask the dispatcher to look for due rows now (after a sweep wrote some)."""
        self._wake.set()

    async def drain(self) -> int:
        """Send every due row whose channel has a sender here, chats at once, each chat's in order; return how many."""
        sent = 0
        lanes: dict[str, deque[OutboxItem]] = {}
        waits: dict[str, dt.datetime] = {}  # chats whose row must wait: their later rows wait as long
        progress = asyncio.Event()
        slots = asyncio.Semaphore(LANES)

        async def lane(key: str) -> None:
            nonlocal sent
            queue = lanes[key]
            async with slots:
                while queue:
                    item = queue[0]
                    try:
                        if key in waits:  # claimed behind a row that must wait: back to pending, after it
                            await self.store.outbox.settle(item.id, "pending", self.clock.utcnow(), retry_at=waits[key],
                                                           error="waits for an earlier push to the same chat")
                            continue
                        delivered, wait = await self._send(item)
                        sent += delivered
                        if wait is not None:
                            waits[key] = wait
                    finally:
                        queue.popleft()
                        progress.set()
                        await self._notify()
            del lanes[key]  # no await since the queue was found empty: nothing was added to it meanwhile

        async with asyncio.TaskGroup() as group:
            while True:
                progress.clear()
                self._wake.clear()  # a push from now on is claimed by the next round of this loop
                queued = sum(map(len, lanes.values()))
                standing_in = [c for c, o in self.stand_ins.items() if o in self.senders and c not in self.senders]
                batch = await self.store.outbox.claim(self.clock.utcnow(), self.worker, self.senders.keys(),
                                                      min(CLAIM, AHEAD - queued), private=standing_in) \
                    if queued < AHEAD else []
                for item in batch:
                    key = item.chat.key()
                    if key in lanes:
                        lanes[key].append(item)
                    else:
                        lanes[key] = deque([item])
                        group.create_task(lane(key))
                if not batch:
                    if not lanes:
                        return sent
                    await _either(progress, self._wake)  # a chat waiting a minute holds up no one pushed meanwhile

    async def _send(self, item: OutboxItem) -> tuple[bool, dt.datetime | None]:
        """Send one claimed row and settle it; return whether it was delivered, and until when its chat must wait."""
        chat = item.chat
        if chat.channel not in self.senders:  # claim() only returns rows of channels we have or stand in for
            chat = ChatRef(self.stand_ins[chat.channel], chat.chat_id, chat.kind)
        sender = self.senders[chat.channel]
        parts = sender.parts(chat, item.reply)
        for n, part in enumerate(parts):
            try:
                await sender.send(chat, part)
            except Exception as e:
                left = undelivered(parts[n:], e)
                return False, await self._failed(item, e, rest=_joined(left) if n or left[0] is not part else None)
        await self.store.outbox.settle(item.id, "sent", self.clock.utcnow())
        return True, None

    async def _failed(self, item: OutboxItem, e: Exception, *, rest: Reply | None) -> dt.datetime | None:
        """Settle a row whose send failed: unreachable, given up, or pending again (only `rest` when some went out).

        Return when it is tried again, if it is.
        """
        now = self.clock.utcnow()
        if isinstance(e, Unreachable):  # the person first: whoever sees the row settled sees them marked
            await self.unreachable(item.chat, e)
            await self.store.outbox.settle(item.id, "unreachable", now, error=str(e), rest=rest)
            return None
        if isinstance(e, Refused):
            await self.store.outbox.settle(item.id, "failed", now, error=str(e), rest=rest)
            log.error("%s refused for good, not retried: %s", item.dedupe_key, e)
            return None
        if item.attempts >= MAX_ATTEMPTS:  # any other failure is retried, never dropped silently
            await self.store.outbox.settle(item.id, "failed", now, error=repr(e), rest=rest)
            log.error("giving up on %s after %d attempts: %r", item.dedupe_key, item.attempts, e)
            return None
        retry = getattr(e, "retry_after", None)
        retry_at = now + dt.timedelta(seconds=max(float(retry or 0), min(2.0 ** item.attempts, 600.0)))
        await self.store.outbox.settle(item.id, "pending", now, error=repr(e), retry_at=retry_at, rest=rest)
        if not isinstance(e, TemporaryFailure):
            log.exception("send failed for %s", item.dedupe_key)
        return retry_at

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


async def _either(*events: asyncio.Event) -> None:
    """Return when one of the events is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def undelivered(parts: Sequence[Reply], e: Exception) -> list[Reply]:
    """Return what is left of `parts` when the first of them failed with `e`: less of it when some went out."""
    rest = e.rest if isinstance(e, TemporaryFailure) else None
    return [rest or parts[0], *parts[1:]]


def _joined(parts: Sequence[Reply]) -> Reply:
    """One reply holding the parts not delivered yet (split again the same way when sent)."""
    last = parts[-1]
    return Reply("\n".join(p.text for p in parts), choices=last.choices, file=last.file, link=last.link)
