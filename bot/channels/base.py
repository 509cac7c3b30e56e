"""What `duban run` expects of a channel: routes on the shared HTTP server and a lifecycle (its decode, fetch and
deliver are the pipeline's `Adapter`)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web


class Channel(Protocol):
    """A chat platform's receiving side: where payloads come in, and when."""

    name: str  # the ChatRef.channel it serves: "telegram", "wecom", "wecom-robot", "console"

    def install(self, web_app: web.Application) -> None:
        """Add this channel's HTTP routes (callbacks, webhooks) before the server starts."""

    async def start(self) -> None:
        """Begin receiving (e.g. long polling); the HTTP server is already listening."""

    async def stop_receiving(self) -> None:
        """Take no more messages from the platform (what is kept is handled, or resumed on the next start)."""

    async def stop(self) -> None:
        """Release connections (after the intake finished what it was handling)."""
