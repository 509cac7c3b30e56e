"""What the outbox does when WeCom refuses a message: retry later, mark the person unreachable, or give up.

One part of a reply can take several WeCom calls: its text, then a card or textcard, then a file. When a later
call fails, the failure carries what of the part is still undelivered (`TemporaryFailure.rest`), so a retry
never sends a message twice. Whether a retry can help at all is the errcode's verdict
(bot.channels.wecom.errcodes).
"""

from __future__ import annotations

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
