"""The rhythm of 进展报送: which period a day is in, when its check-in and last nudge fall, and who owes one.

Pure calendar arithmetic, shared by the sweep (what to ask), the warning (未报送 last period) and the views that
list unreported tasks. A period is a calendar month ("2023-10") or quarter ("2023-Q4"); a task reports for a
period by any activity in it (a note, a file, a /progress figure, a submission).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from bot.core.plan import Recurrence
from bot.core.workdays import previous_workday

HORIZON_DAYS = 30  # a task due within this many days of the check-in day is followed by its deadline reminders
DEFAULT_DAY = 25  # the check-in day of the month (moved to the workday before when it is off)


@dataclass(frozen=True)
class Rhythm:
    """How often a task reports progress: its plan's cadence, from the plan's first day."""

    every: Recurrence
    start: dt.date  # the plan's first day: no report is owed for a period whose check-in day is before it
    since: dt.date | None = None  # the day the plan reached duban: a period asked before it is not held against anyone


def period_of(day: dt.date, cadence: Recurrence) -> str:
    """Name the period a day falls in: "2023-10" (monthly) or "2023-Q4" (quarterly)."""
    if cadence is Recurrence.QUARTERLY:
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}-{day.month:02d}"


def period_months(period: str) -> tuple[str, ...]:
    """List the months ("2023-10") a period covers."""
    year, _, part = period.partition("-")
    if part.startswith("Q"):
        first = (int(part[1:]) - 1) * 3 + 1
        return tuple(f"{year}-{m:02d}" for m in range(first, first + 3))
    return (period,)


def period_label(period: str) -> str:
    """Say a period in Chinese: 2023-10 → 10月, 2023-Q4 → 第4季度."""
    _, _, part = period.partition("-")
    return f"第{part[1:]}季度" if part.startswith("Q") else f"{int(part)}月"


def _last_month(period: str) -> tuple[int, int]:
    year, month = period_months(period)[-1].split("-")
    return int(year), int(month)


def checkin_day(period: str, day_of_month: int = DEFAULT_DAY) -> dt.date:
    """Return the period's check-in day: the `day_of_month` of its last month, or the workday before it."""
    year, month = _last_month(period)
    return previous_workday(dt.date(year, month, min(day_of_month, calendar.monthrange(year, month)[1])))


def nudge_day(period: str) -> dt.date:
    """Return the day of the second nudge: the period's last workday."""
    year, month = _last_month(period)
    return previous_workday(dt.date(year, month, calendar.monthrange(year, month)[1]))


def previous_period(period: str) -> str:
    """Return the period before this one, of the same cadence."""
    year, month = _last_month(period)
    months = 3 if "Q" in period else 1
    month -= months
    if month < 1:
        year, month = year - 1, month + 12
    return period_of(dt.date(year, month, 1), Recurrence.QUARTERLY if months == 3 else Recurrence.MONTHLY)


def owes(rhythm: Rhythm | None, deadline: dt.date, open_: bool, period: str,
         day_of_month: int = DEFAULT_DAY) -> bool:
    """Tell whether a task owes a report for `period`.

    It does when it has a rhythm (its plan's, unless its own recurrence is its rhythm), is open (not waiting for
    review, not done) and is due more than HORIZON_DAYS after the period's check-in day, which is not before the
    plan's start: nearer deadlines are followed by their reminders.
    """
    if rhythm is None or not open_:
        return False
    day = checkin_day(period, day_of_month)
    return day >= rhythm.start and (deadline - day).days > HORIZON_DAYS


def held_against(rhythm: Rhythm, period: str, day_of_month: int = DEFAULT_DAY) -> bool:
    """Tell whether a missing report for `period` counts (未报送): its check-in came after the plan reached duban."""
    return rhythm.since is None or checkin_day(period, day_of_month) >= rhythm.since


def reported(activity_months: Collection[str], period: str) -> bool:
    """Tell whether any activity fell in the period."""
    return any(m in activity_months for m in period_months(period))


CHECKIN_WORDS = {"monthly": Recurrence.MONTHLY, "每月": Recurrence.MONTHLY, "quarterly": Recurrence.QUARTERLY,
                 "每季度": Recurrence.QUARTERLY, "none": None, "不报送": None}


def cadence_name(cadence: Recurrence | None) -> str:
    """Say a plan's cadence the way its table does: 每月, 每季度 or 不报送."""
    return next(word for word, every in CHECKIN_WORDS.items() if every is cadence and not word.isascii())


def cadence_from(value: str) -> Recurrence | None:
    """Read how often a plan asks for progress reports: monthly / quarterly / none (or 每月 / 每季度 / 不报送)."""
    try:
        return CHECKIN_WORDS[value.strip()]
    except KeyError:
        raise ValueError(f"无法识别：“{value}”（可用：monthly（每月）、quarterly（每季度）、none（不报送））") from None
