"""What `duban run` expects of a channel, with the defaults most channels keep.

A channel is the pipeline's adapter for one platform (decode, fetch, deliver: bot.channels.pipeline.Adapter)
plus a receiving side with a lifecycle: routes on the shared HTTP server, a poll loop or a long connection.
`ChannelBase` gives the hooks a channel does not need their do-nothing form, so each channel states only what its
platform does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from bot.channels.pipeline import FetchFailed
from bot.core.messages import Attachment, Envelope, Media, Reply


class Channel(Protocol):
    """A chat platform's receiving side: where payloads come in, and when."""

    name: str  # the ChatRef.channel it serves: "telegram", "wecom", "wecom-bot", "wecom-robot", "console"

    def install(self, web_app: web.Application) -> None:
        """Add this channel's HTTP routes (callbacks, webhooks) before the server starts."""

    async def start(self) -> None:
        """Begin receiving (e.g. long polling); the HTTP server is already listening."""

    async def stop_receiving(self) -> None:
        """Take no more messages from the platform (what is kept is handled, or resumed on the next start)."""

    async def stop(self) -> None:
        """Release connections (after the intake finished what it was handling)."""


class ChannelBase:
    """Do-nothing forms of the hooks: no routes, nothing to start or stop, nothing to decode, fetch or prepare."""

    numbered = ""  # the platform shows buttons (or asks nothing): choices are not numbered
    gather = 0.0

    def install(self, web_app: web.Application) -> None:
        """Add no HTTP routes."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop_receiving(self) -> None:
        """Nothing to stop."""

    async def stop(self) -> None:
        """Nothing to release."""

    def decode(self, raw: dict[str, Any]) -> Envelope | None:
        """Nothing arrives in another form."""
        return None

    async def fetch(self, media: Media, dest: Path) -> Attachment:
        """Nothing to fetch: this platform sends no files."""
        raise FetchFailed("这个渠道不接收文件。")

    async def begin(self, answering: Envelope, replies: list[Reply]) -> list[Reply]:
        """Nothing to do before the replies go out."""
        return replies
