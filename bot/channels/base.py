"""What `duban run` expects of a channel: routes on the shared HTTP server, a lifecycle, and a sender."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bot.core.messages import ChatRef, Reply


class Channel(Protocol):
    """A chat platform adapter: translates platform payloads to Incoming and replies back, nothing more."""

    name: str  # the ChatRef.channel it serves: "telegram", "wecom", "wecom-robot", "console"

    def install(self, web_app: web.Application) -> None:
        """Add this channel's HTTP routes (callbacks, webhooks) before the server starts."""

    async def start(self) -> None:
        """Begin receiving (e.g. long polling); the HTTP server is already listening."""

    async def stop_receiving(self) -> None:
        """Take no more messages from the platform (what is kept is handled, or resumed on the next start)."""

    async def stop(self) -> None:
        """Release connections (after the intake finished what it was handling)."""

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Deliver a proactive reply; raise bot.outbox.TemporaryFailure or Unreachable on failure."""
