"""The durable intake shared by every receiving channel: keep first, acknowledge, then handle — per chat, in order.

A platform considers a message delivered once we acknowledge it (Telegram: the next getUpdates offset or the
webhook's 200; WeCom: the callback's 200; the long connection: the frame read). So a channel hands each batch to
`keep()` and acknowledges only after it returns: the rows are committed, keyed by the platform's delivery id
(a redelivery is recognised and dropped). Handling then runs in the background, one message at a time per chat
(a liaison's "/done 12" never overtakes the file sent just before it) and different chats concurrently. A message
is marked handled after its handler returned; what a crash or a stop left unhandled is loaded on the next start
before anything new is received (`load`), and handled first, in the order it arrived.

Marking handled is a group commit: a finished message's id rides in the next transaction — the next `keep()`
of any channel folds it in, or a marker task commits whatever finished meanwhile — so a busy process commits
once per batch, not twice per message, and an idle one marks at once. While other chats are being handled
(messages are arriving) the marker first gives a keep `RIDE` seconds to carry the marks. The chat's worker
waits for its mark before taking the chat's next message, so the window in which a kill makes a message be
handled twice stays the one between its reply and its mark (at most `RIDE` longer when busy).

A message whose handling failed for a passing reason (`Transient`: the database or the network away for a moment)
is not marked: it stays first in its chat's queue and is handled again after a pause that grows with each attempt,
so the user gets one real answer, late. A message whose handler raised anything else is marked handled: the user
got an apology, and a message that crashes its handler must not be retried on every start. A kill between a reply going out and the mark lets the message be
handled once more after the restart; the effects are idempotent (evidence is stored by content hash and filed once),
the reply may repeat — at-least-once is the honest promise for a platform without idempotent sends.

Several messages can be handled together: a Telegram album arrives as one update per photo, each envelope's
`group` names the album, and its photos are gathered (waiting the channel's `gather` seconds for the rest) into
one batch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.clock import Clock
from bot.core.errors import Transient
from bot.core.messages import Envelope
from bot.store.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[list[Envelope], int], Awaitable[None]]  # a batch (one message, or an album) and its attempt
Decoder = Callable[[dict[str, Any]], Envelope | None]
MAX_CONCURRENT = 32  # chats handled at once: bounds database and HTTP connections under a burst (the morning's
# reminders bring a few dozen liaisons at once; questions are answered from memory, so most of them need neither)
RIDE = 0.005  # seconds marks wait for a keep to carry them, when other chats are being handled
KEEP_HANDLED = dt.timedelta(days=7)  # handled rows are only needed to recognise redeliveries, which come within hours
RETRY_FIRST, RETRY_MAX = 0.5, 60.0  # seconds before handling a message again after a passing failure, doubling


@dataclass(frozen=True)
class Kept:
    """A message the intake kept: its row's id and its envelope."""

    id: int
    envelope: Envelope


@dataclass(frozen=True)
class _Channel:
    decode: Decoder  # reads a row kept in the platform's own form (before envelopes were kept) after a restart
    gather: float  # seconds to wait for the rest of a group (an album)


class Intake:
    """Keep, then handle per chat in order; resume what a crash left."""

    def __init__(self, store: Store, clock: Clock, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store = store
        self.clock = clock
        self.handler: Handler | None = None
        self._sleep = sleep
        self._channels: dict[str, _Channel] = {}
        self._queues: dict[str, deque[Kept]] = {}
        self._known: set[int] = set()  # ids queued or being handled here: loading leftovers must not queue them twice
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._marks: list[tuple[list[int], asyncio.Future[None]]] = []  # handled, waiting for their mark's commit
        self._marker: asyncio.Task[None] | None = None
        self._closing = False
        self._paused = True  # until open(): messages queue up, leftovers first, but nothing is handled yet
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    @functools.cached_property
    def _loop(self) -> asyncio.AbstractEventLoop:
        """The loop this intake runs on, looked up once: in Python 3.11 every asyncio.get_running_loop() (and so
        every asyncio.create_task()) makes a getpid() system call, and the intake needs the loop several times
        for each message."""
        return asyncio.get_running_loop()

    def register(self, channel: str, decode: Decoder, *, gather: float = 0.0) -> None:
        """Take a channel's messages: how its leftovers in the platform's own form are read, how long to gather groups."""
        self._channels[channel] = _Channel(decode, gather)

    async def keep(self, envelopes: Sequence[Envelope]) -> list[Kept]:
        """Commit a batch, queue the new messages for handling, and return them; acknowledge after this returns."""
        marks, self._marks = self._marks, []
        try:
            ids = await self.store.intake.keep(envelopes, self.clock.utcnow(),
                                                handled=[i for ids, _ in marks for i in ids])
        except BaseException:
            if marks:  # not marked: the marker tries again
                self._marks[:0] = marks
                self._start_marker()
            raise
        self._marked(marks, ok=True)
        kept = []
        for envelope in envelopes:
            if (id_ := ids.pop(envelope.key, None)) is not None:
                kept.append(Kept(id_, envelope))
                self._enqueue(kept[-1])
        return kept

    async def start(self) -> None:
        """Load what was left (`load`) and start handling (`open`): for a process whose channels are ready."""
        await self.load()
        self.open()

    async def load(self) -> None:
        """Before receiving starts: queue what a crash or a stop left kept but unhandled, in arrival order.

        Loaded first, leftovers stay ahead of anything received after the restart, and a redelivery of one of
        them is recognised by its key and not queued twice. Nothing is handled until `open()`.
        """
        self._closing, self._paused = False, True
        await self.store.intake.forget_handled(self.clock.utcnow() - KEEP_HANDLED)
        for channel in self._channels:
            await self.resume(channel)

    def open(self) -> None:
        """Start handling the queued messages (the channels can send replies now)."""
        self._paused = False
        for chat, queue in self._queues.items():
            if queue and chat not in self._workers:
                self._spawn(chat)

    async def resume(self, channel: str) -> int:
        """Queue what a channel left kept but unhandled, for a channel that starts receiving later.

        The WeCom bot's long connection is held by one process at a time: the one that takes it over handles
        what the previous holder left. Messages queued or being handled here are not queued again.
        """
        decode = self._channels[channel].decode
        left = 0
        for row in await self.store.intake.unhandled(channel):
            if row.id in self._known:
                continue
            envelope = Envelope.from_json(row.payload) or decode(row.payload)
            if envelope is None:
                log.error("a kept %s message could not be read and is dropped: %s", channel, row.key)
                await self.store.intake.handled([row.id], self.clock.utcnow())
                continue
            log.warning("handling %s message left from before a restart: %s", channel, row.key)
            self._enqueue(Kept(row.id, envelope))
            left += 1
        return left

    async def idle(self) -> None:
        """Wait until nothing is queued or being handled (tests, a graceful stop)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Finish the messages being handled now and mark them; leave the queued ones kept for the next start."""
        self._closing = True
        workers = list(self._workers.values())
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        if self._marker is not None:
            await asyncio.gather(self._marker, return_exceptions=True)
        self._queues.clear()
        self._known.clear()

    def _enqueue(self, msg: Kept) -> None:
        if msg.envelope.channel not in self._channels:
            raise RuntimeError(f"no intake registered for channel {msg.envelope.channel!r}")
        if self._closing:
            return  # kept: the next start resumes it
        chat = msg.envelope.chat.key()
        self._queues.setdefault(chat, deque()).append(msg)
        self._known.add(msg.id)
        if chat not in self._workers and not self._paused:
            self._spawn(chat)

    def _spawn(self, chat: str) -> None:
        self._idle.clear()
        self._workers[chat] = self._loop.create_task(self._work(chat), name=f"intake:{chat}")

    async def _work(self, chat: str) -> None:
        """Handle one chat's queue until it is empty (or the process is stopping)."""
        queue = self._queues[chat]
        assert self.handler is not None, "the pipeline sets the intake's handler before opening it"
        try:
            while queue and not self._closing:
                batch = await self._next_batch(queue)
                attempt = 0
                while True:
                    try:
                        async with self._slots:
                            await self.handler([m.envelope for m in batch], attempt)
                    except Transient as e:
                        attempt += 1
                        pause = min(RETRY_FIRST * 2 ** (attempt - 1), RETRY_MAX)
                        log.warning("handling %s failed for a passing reason (%s); trying again in %.1f s",
                                    ", ".join(m.envelope.key for m in batch), e.__cause__ or e, pause)
                        await self._sleep(pause)
                        if not self._closing:
                            continue
                        queue.extendleft(reversed(batch))  # kept and unmarked: the next start handles it
                        return
                    except Exception:
                        log.exception("handling %s failed", ", ".join(m.envelope.key for m in batch))
                    break
                await self._mark([m.id for m in batch])
        finally:
            del self._workers[chat]
            if not queue or self._closing:
                self._queues.pop(chat, None)
            if not self._workers:
                self._idle.set()

    async def _mark(self, ids: list[int]) -> None:
        """Mark handled in the next commit (a keep's or the marker's) and wait for it."""
        done = self._loop.create_future()
        self._marks.append((ids, done))
        self._start_marker()
        await done

    def _start_marker(self) -> None:
        if self._marker is None:
            self._marker = self._loop.create_task(self._mark_handled(), name="intake-marker")

    async def _mark_handled(self) -> None:
        """Commit the waiting marks until none are left; those finished during a commit go in the next one."""
        try:
            await asyncio.sleep(0)  # let the other handlers finishing in this turn of the loop join
            if len(self._workers) > 1:  # busy: the next keep is near, and its commit can carry these marks
                await asyncio.sleep(RIDE)
            while self._marks:
                marks, self._marks = self._marks, []
                try:
                    await self.store.intake.handled([i for ids, _ in marks for i in ids], self.clock.utcnow())
                except Exception:
                    # They stay kept, and known here so this process does not handle them twice: the next start does.
                    log.exception("marking %d message(s) handled failed; they are handled again on the next start",
                                  len(marks))
                    self._marked(marks, ok=False)
                else:
                    self._marked(marks, ok=True)
        finally:
            self._marker = None

    def _marked(self, marks: list[tuple[list[int], asyncio.Future[None]]], *, ok: bool) -> None:
        for ids, done in marks:
            if ok:
                self._known.difference_update(ids)
            if not done.done():
                done.set_result(None)

    async def _next_batch(self, queue: deque[Kept]) -> list[Kept]:
        """Take the next message, with the rest of its group (an album) when it belongs to one."""
        first = queue.popleft()
        group = first.envelope.group
        if not group:
            return [first]
        await asyncio.sleep(self._channels[first.envelope.channel].gather)  # the album's photos arrive one by one
        batch = [first] + [m for m in queue if m.envelope.channel == first.envelope.channel
                           and m.envelope.group == group]
        for m in batch[1:]:
            queue.remove(m)
        return batch
