"""Sending to WeCom: what the outbox does when a message is refused (retry later, mark the person unreachable,
or give up), and the pace WeCom allows.

One part of a reply can take several WeCom calls: its text, then a card or textcard, then a file. When a later
call fails, the failure carries what of the part is still undelivered (`TemporaryFailure.rest`), so a retry
never sends a message twice. Whether a retry can help at all is the errcode's verdict
(bot.channels.wecom.errcodes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.channels.wecom.errcodes import Verdict, describe, verdict
from bot.core.messages import Reply
from bot.outbox import Refused, TemporaryFailure, Unreachable

RETRY_AFTER = 30.0  # seconds before a send refused for now (busy, over a limit) is tried again


class Progress:
    """How far one part got, to turn a failure into what the outbox should do next."""

    def __init__(self) -> None:
        self.rest: Reply | None = None  # None: nothing delivered yet, a retry sends the whole part

    def sent(self, rest: Reply) -> None:
        """Record that a call went through and `rest` is what remains of the part."""
        self.rest = rest

    def refused(self, errcode: int, errmsg: str, *, unreachable: str) -> Exception:
        """Return the outbox's exception for a call WeCom answered with an errcode (`unreachable`: its text)."""
        why = describe(errcode, errmsg)
        match verdict(errcode):
            case Verdict.UNREACHABLE:
                return Unreachable(f"{unreachable}（{why}）")
            case Verdict.REFUSED:
                return Refused(f"企业微信拒绝了这条消息，重发也不会成功（{why}）")
        return self.later(f"企业微信暂时不接收（{why}）", RETRY_AFTER)

    def later(self, message: str, retry_after: float | None = None) -> TemporaryFailure:
        """Return a retry-later failure carrying only what is still undelivered."""
        return TemporaryFailure(message, retry_after=retry_after, rest=self.rest)


class Limiter:
    """Let at most `rate` calls through per `period` seconds; callers over it wait their turn."""

    def __init__(self, rate: int, period: float, monotonic: Callable[[], float]) -> None:
        self._rate = rate
        self._period = period
        self._monotonic = monotonic
        self._sent: list[float] = []
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one more call fits in the window."""
        async with self._lock:
            while True:
                now = self._monotonic()
                self._sent = [t for t in self._sent if t > now - self._period]
                if len(self._sent) < self._rate:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self._sent[0] + self._period - now)
