"""The one source of "now": injected everywhere so tests and demos can pin the date."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Clock:
    """Tell the time in the plan's zone; `pinned_today` freezes the date (DUBAN_TODAY) but lets the time run.

    `offset` lets tests move time forward without sleeping.
    """

    tz: ZoneInfo = SHANGHAI
    pinned_today: dt.date | None = None
    offset: dt.timedelta = dt.timedelta(0)
    pinned_time: dt.time | None = None
    _today: tuple[tuple[object, ...], dt.date] | None = field(default=None, init=False, repr=False, compare=False)

    def now(self) -> dt.datetime:
        """Return the aware current time in the plan's zone."""
        real = dt.datetime.now(self.tz)
        if self.pinned_today is not None:
            t = self.pinned_time or real.timetz().replace(tzinfo=None)
            real = dt.datetime.combine(self.pinned_today, t, self.tz)
        return real + self.offset

    def today(self) -> dt.date:
        """Return today's date in the plan's zone (asked for every message: worked out once per second)."""
        key = (int(time.time()), self.tz, self.pinned_today, self.pinned_time, self.offset)
        if self._today is None or self._today[0] != key:
            self._today = (key, self.now().date())
        return self._today[1]

    def utcnow(self) -> dt.datetime:
        """Return now as aware UTC, the form stored in the database."""
        return self.now().astimezone(dt.UTC)

    def real_utcnow(self) -> dt.datetime:
        """Return now as aware UTC ignoring DUBAN_TODAY: signature and token windows must follow the real clock.

        `offset` still applies, so tests can expire a token without sleeping.
        """
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        """Move time forward (tests and demos only)."""
        self.offset += delta
