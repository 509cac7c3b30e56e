"""One path for every message, whatever the channel: keep → fetch → converse → deliver.

A channel's adapter does three things: **decode** a raw platform payload into an `Envelope` (once, when it
arrives), **fetch** a media reference into a local file, and **deliver** one reply. Everything between lives here,
once: keeping before acknowledging and handling per chat in order (the intake), numbered choices for platforms
without buttons, refusals of files that could not be fetched, the conversation, splitting a reply to what one
platform message holds, and leaving to the outbox what cannot go now. Pushes from the outbox (reminders, notices,
digests) take the same delivery path, so a reply and a push are split and numbered alike.

A passing failure while handling (the database or the network away for a moment) leaves the message kept and
handles it again after a pause (the intake's `Transient`); only a bug gets the apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from bot.channels.choices import NumberedChoices
from bot.core.errors import Transient
from bot.core.messages import Attachment, ChatRef, Envelope, Media, Message, Reply
from bot.handlers.router import Conversation
from bot.intake import Intake
from bot.outbox import Outbox, Refused, TemporaryFailure, Unreachable, undelivered

log = logging.getLogger(__name__)

FETCH_ATTEMPTS = 5  # handlings of a message whose file could not be fetched for a passing reason, before giving up


class FetchFailed(Exception):
    """A file could not be fetched; `text` tells the sender in Chinese. `passing`: worth trying again later."""

    def __init__(self, text: str, *, passing: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.passing = passing


class Adapter(Protocol):
    """What a channel gives the pipeline: its traits, and decode, fetch and deliver."""

    name: str  # the ChatRef.channel it serves
    page: int  # characters one listing page may hold (handlers page long lists to this)
    limit: int  # how much one platform message holds, as `measure` counts
    numbered: str  # the prompt before choices shown as numbered lines; "" where the platform shows buttons only
    gather: float  # seconds to wait for the rest of a group of messages (an album)

    def measure(self, text: str) -> int:
        """Count text the way the platform's limit counts it (characters, or UTF-8 bytes)."""

    def decode(self, raw: dict[str, Any]) -> Envelope | None:
        """Turn a platform payload into an envelope; None for what is not a message for us."""

    async def fetch(self, media: Media, dest: Path) -> Attachment:
        """Fetch a media reference into `dest`; raise FetchFailed with a Chinese sentence when it cannot."""

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Send one reply (it fits the limit): as the answer to `answering` where the platform can, else pushed.

        Raise bot.outbox.TemporaryFailure (try later) or Unreachable (the person cannot be reached)."""

    async def begin(self, answering: Envelope, replies: list[Reply]) -> list[Reply]:
        """Do what the platform needs before a message's replies go out; return the replies left to deliver."""


class Pipeline:
    """Keep envelopes, handle them per chat in order, deliver replies and pushes through the channel's adapter."""

    def __init__(self, intake: Intake, conversation: Conversation, outbox: Outbox,
                 scratch_file: Callable[[str], Path], choices: NumberedChoices | None = None) -> None:
        self.intake = intake
        self.conversation = conversation
        self.outbox = outbox
        self.scratch_file = scratch_file
        self.choices = choices or NumberedChoices()
        self.adapters: dict[str, Adapter] = {}
        intake.handler = self._handle

    def add(self, adapter: Adapter, *, online: bool = True) -> None:
        """Take a channel's messages, and send its pushes from the outbox while it is `online`."""
        self.adapters[adapter.name] = adapter
        self.intake.register(adapter.name, adapter.decode, gather=adapter.gather)
        self.online(adapter.name, online)

    def online(self, channel: str, up: bool) -> None:
        """Say whether pushes can go out on a channel now (the long connection is up); they wait in the outbox."""
        if up:
            self.outbox.senders[channel] = _Pushes(self, self.adapters[channel])
            self.outbox.wake()
        else:
            self.outbox.senders.pop(channel, None)

    async def keep(self, envelopes: Sequence[Envelope]) -> int:
        """Commit envelopes before the platform is acknowledged; return how many were new (not redeliveries)."""
        return len(await self.intake.keep(envelopes))

    # ---- handling ----------------------------------------------------------------------------------
    async def _handle(self, batch: list[Envelope], attempt: int) -> None:
        """Fetch, converse and deliver one message (an album's envelopes together)."""
        first = batch[0]
        adapter = self.adapters[first.channel]
        atts: list[Attachment] = []
        refusals: list[Reply] = []
        try:
            for envelope in batch:
                for media in envelope.media:
                    try:
                        atts.append(await adapter.fetch(media, self.scratch_file(f"{adapter.name}-")))
                    except FetchFailed as e:
                        if e.passing and attempt + 1 < FETCH_ATTEMPTS:
                            raise Transient(e.text) from e
                        refusals.append(Reply(e.text))
            replies = refusals
            if atts or not refusals:
                replies = refusals + await self.conversation.handle(self._message(adapter, batch, atts))
            replies = await adapter.begin(first, replies)
            await self.deliver(adapter, first.chat, replies, first)
        finally:
            for att in atts:
                att.path.unlink(missing_ok=True)

    def _message(self, adapter: Adapter, batch: list[Envelope], atts: list[Attachment]) -> Message:
        first = batch[0]
        text = next((e.text for e in batch if e.text), "")
        callback = first.callback
        if callback is None and text and not atts:
            picked = self.choices.pick(first.chat.key(), text)  # a bare number answers choices shown as lines
            if picked is not None:
                callback, text = picked.data, ""
        return Message(channel=first.channel, user_id=first.user_id, chat=first.chat, text=text,
                        user_name=first.user_name, attachments=tuple(atts), callback=callback,
                        message_id=first.message_id, reply_limit=adapter.page, event=first.event)

    # ---- delivering --------------------------------------------------------------------------------
    async def deliver(self, adapter: Adapter, chat: ChatRef, replies: Sequence[Reply],
                      answering: Envelope) -> None:
        """Answer a message now; what cannot go now (rate limit, network) is left to the outbox, never dropped."""
        pending = [part for reply in replies for part in self.parts(adapter, chat, reply)]
        for n, part in enumerate(pending):
            try:
                await adapter.deliver(chat, part, answering)
            except TemporaryFailure as e:
                log.warning("reply to %s deferred to the outbox: %s", chat.key(), e)
                await self.outbox.defer(chat, undelivered(pending[n:], e), answering.key)
                return
            except Unreachable as e:
                await self.outbox.unreachable(chat, e)
                return
            except Refused as e:  # sending it again cannot help: the next parts may still go
                log.error("reply to %s refused for good, not retried: %s", chat.key(), e)
            except Exception:  # the platform refused this part (a bug of ours): log it, send the others
                log.exception("reply to %s failed", chat.key())

    def parts(self, adapter: Adapter, chat: ChatRef, reply: Reply) -> list[Reply]:
        """Render a reply for the adapter's platform: choices as numbered lines where needed, then split to fit.

        A push whose first parts went out comes back with its lines already numbered: they are not added twice.
        """
        if reply.choices and adapter.numbered and adapter.numbered not in reply.text:
            lines = self.choices.number(chat.key(), reply.choices)
            reply = dataclasses.replace(reply, text="\n".join([reply.text, "", adapter.numbered, *lines]).strip())
        return split_reply(reply, adapter.limit, adapter.measure)


class Keeper:
    """Keep envelopes from a platform that hands each message over once and never again (a long connection).

    Nothing can be acknowledged later, so what arrived is queued in memory and kept in arrival order, as many as
    have arrived in one transaction, trying until the database takes them; `close` waits for the queue.
    """

    def __init__(self, pipeline: Pipeline, name: str) -> None:
        self._pipeline = pipeline
        self._name = name
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._task = asyncio.create_task(self._keep(), name=f"{name}-keep")

    def put(self, envelope: Envelope) -> None:
        """Queue an envelope to be kept (never blocks the platform's reader)."""
        self._queue.put_nowait(envelope)

    async def close(self, within: float) -> None:
        """Wait up to `within` seconds for what arrived to be kept (it is unless the database is away), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _keep(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            delay = 0.5
            while True:
                try:
                    await asyncio.shield(self._pipeline.keep(batch))  # a stop lets the commit finish
                    break
                except Exception:  # the database is away: these exist only here, so try until they are kept
                    log.exception("keeping %d %s message(s) failed; retrying", len(batch), self._name)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            for _ in batch:
                self._queue.task_done()


class _Pushes:
    """The outbox's sender for one channel: a push is rendered and delivered like a reply."""

    def __init__(self, pipeline: Pipeline, adapter: Adapter) -> None:
        self._pipeline = pipeline
        self._adapter = adapter

    def parts(self, chat: ChatRef, reply: Reply) -> list[Reply]:
        """Render a push as the platform's messages."""
        return self._pipeline.parts(self._adapter, chat, reply)

    async def send(self, chat: ChatRef, part: Reply) -> None:
        """Deliver one part as a push."""
        await self._adapter.deliver(chat, part, None)


def utf8_len(text: str) -> int:
    """Count text as UTF-8 bytes (WeCom's limits)."""
    return len(text.encode())


def split_reply(reply: Reply, limit: int, measure: Callable[[str], int] = len) -> list[Reply]:
    """Split a reply longer than one platform message holds into several, at line ends where possible.

    Lists page themselves; this is the safety net under every answer and push. Buttons, links and files go with
    the last part; only the first part may replace the pressed message.
    """
    if measure(reply.text) <= limit:
        return [reply]
    texts = split_text(reply.text, limit, measure)
    last = len(texts) - 1
    return [Reply(text, choices=reply.choices if n == last else (), file=reply.file if n == last else None,
                  link=reply.link if n == last else None, edit=reply.edit and n == 0)
            for n, text in enumerate(texts)]


@functools.lru_cache(maxsize=256)
def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> tuple[str, ...]:
    """Split text at line ends into pieces of at most `limit` (as `measure` counts); remembered, because the same
    answer (a unit's task list) goes out many times a day.

    A line is cut, at a character boundary, only when it alone exceeds the limit. When no line is cut,
    newline-joining the pieces gives the text back.
    """
    if measure("\U0010ffff") > limit:
        raise ValueError("the limit must hold at least one character")
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        line_size = measure(line)
        if current and size + 1 + line_size > limit:
            pieces.append("\n".join(current))
            current, size = [], 0
        if line_size > limit:
            cut = _cut(line, limit, measure)
            pieces.extend(cut[:-1])
            line, line_size = cut[-1], measure(cut[-1])
        size += line_size + (1 if current else 0)
        current.append(line)
    if current:
        pieces.append("\n".join(current))
    return tuple(p for p in pieces if p)


def _cut(line: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Cut one overlong line into pieces that each fit, at character boundaries."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in line:
        ch_size = measure(ch)
        if size + ch_size > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += ch_size
    pieces.append("".join(current))
    return pieces
