"""A channel in a few dozen lines: the pipeline's whole adapter contract, recording what it is asked to deliver."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from bot.channels.pipeline import Pipeline
from bot.core.messages import Attachment, ChatRef, Envelope, Media, Reply


class Recorder:
    """A channel in a few dozen lines: the pipeline's adapter contract, recording what it is asked to deliver.

    Answers are kept by the message they answer, pushes in order; `failures` are raised by the next deliveries,
    `fetch_failures` by the next fetches (a file server away).
    """

    numbered = ""
    gather = 0.0
    measure = staticmethod(len)

    def __init__(self, name: str = "console", failures: Sequence[Exception] = (), limit: int = 3500,
                 fetch_failures: Sequence[Exception] = ()) -> None:
        self.name = name
        self.page = self.limit = limit
        self.failures = list(failures)
        self.fetch_failures = list(fetch_failures)
        self.answers: dict[str, list[Reply]] = {}
        self.pushed: list[tuple[ChatRef, Reply]] = []

    async def handle(self, pipeline: Pipeline, envelope: Envelope) -> list[Reply]:
        """Hand an envelope to the pipeline as the platform would, and return the replies delivered for it."""
        await pipeline.keep([envelope])
        await pipeline.intake.idle()
        return self.answers.pop(envelope.key, [])

    @property
    def delivered(self) -> list[tuple[ChatRef, str]]:
        """Return the pushes delivered, as (chat, text)."""
        return [(chat, reply.text) for chat, reply in self.pushed]

    def decode(self, raw: dict[str, object]) -> Envelope | None:
        return None

    async def fetch(self, media: Media, dest: Path) -> Attachment:
        if self.fetch_failures:
            raise self.fetch_failures.pop(0)
        shutil.copyfile(media.ref, dest)
        return Attachment(media.name, dest, media.mime_type, dest.stat().st_size)

    async def begin(self, answering: Envelope, replies: list[Reply]) -> list[Reply]:
        return replies

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        if self.failures:
            raise self.failures.pop(0)
        if answering is None:
            self.pushed.append((chat, reply))
        else:
            self.answers.setdefault(answering.key, []).append(reply)
