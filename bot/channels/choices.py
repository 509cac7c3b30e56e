"""Choices offered as numbered lines, for platforms without buttons (or clients that do not show them)."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.chinese import whole_number
from bot.core.messages import Choice

CHOICE_TTL = 24 * 3600.0  # seconds a numbered choice stays answerable


@dataclass
class _OpenChoices:
    """Choices shown to one chat as numbered lines, answerable until `expires`."""

    choices: list[Choice] = field(default_factory=list)
    expires: float = 0.0


class NumberedChoices:
    """Remember, per chat and in memory, the choices shown as numbered lines, and read answers to them.

    Numbering continues while earlier questions are open (three screenshots sent at once get 1–5, 6–10,
    11–15); any other text closes them. A number outside the open range is passed on as text, so "40" still
    means task 40. The memory is lost on a restart: a bare number then reads as a task number.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._open: dict[str, _OpenChoices] = {}

    def pick(self, chat: str, text: str) -> Choice | None:
        """Return the open choice a bare number (or an exact label) answers; otherwise close them all."""
        open_ = self._open.pop(chat, None)
        if open_ is None or open_.expires < self._monotonic():
            return None
        raw = unicodedata.normalize("NFKC", text).strip().rstrip(".。、")
        picked: Choice | None = None
        if (n := whole_number(raw)) is not None and 1 <= n <= len(open_.choices):
            picked = open_.choices[n - 1]
        else:
            picked = next((c for c in open_.choices if c.label == text.strip()), None)
        if picked is not None:
            self._open[chat] = open_  # the other questions stay answerable
        return picked

    def number(self, chat: str, choices: tuple[Choice, ...]) -> list[str]:
        """Remember choices for a chat and return their numbered lines."""
        open_ = self._open.get(chat)
        if open_ is None or open_.expires < self._monotonic():
            open_ = self._open[chat] = _OpenChoices()
        start = len(open_.choices)
        open_.choices.extend(choices)
        open_.expires = self._monotonic() + CHOICE_TTL
        return [f"{start + i}. {c.label}" for i, c in enumerate(choices, 1)]
