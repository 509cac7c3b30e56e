"""When to remind whom about a deadline: pure computation from the plan, the policy and the calendar.

Stages before a deadline move back to the previous working day (a reminder never lands on a weekend
or holiday, but a 调休 Saturday is used); overdue nudges move forward to the next working day.
One task never gets two reminders on the same day: the stage nearer to its deadline wins.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from bot.core.clock import SHANGHAI
from bot.core.plan import Recurrence
from bot.core.workdays import next_workday, previous_workday

Role = Literal["lead", "cooperating"]

# A recurring task's period only gets the stages that fit inside a short period of that kind,
# so a monthly task is not reminded about next month's report 30 days ahead.
_PERIOD_OFFSET_LIMIT_DAYS = {Recurrence.MONTHLY: 28, Recurrence.QUARTERLY: 90}


@dataclass(frozen=True)
class ReminderPolicy:
    """How far ahead, how often and at what time reminders go out."""

    offsets_days: tuple[int, ...] = (30, 14, 7, 3, 1, 0)  # before the deadline; 0 = on the day
    cooperating_offsets_days: tuple[int, ...] = (7, 1)  # cooperating units get fewer stages
    overdue_every_days: int = 7  # weekly while overdue
    send_time: dt.time = dt.time(9, 0)
    tz: ZoneInfo = SHANGHAI
    cooperating_overdue: bool = False  # overdue nudges go to the lead unit, which answers for the task

    def __post_init__(self) -> None:
        if any(offset < 0 for offset in (*self.offsets_days, *self.cooperating_offsets_days)):
            raise ValueError("reminder offsets must be >= 0 days")
        if self.overdue_every_days < 1:
            raise ValueError("overdue_every_days must be >= 1")


@dataclass(frozen=True)
class Occurrence:
    """One reminder to send: which period and stage, for which deadline, and when."""

    period: str  # "" for a one-off deadline; "2023-10" for monthly; "2023-Q3" for quarterly
    stage: str  # "d30".."d0" before/at the deadline; "overdue-1", "overdue-2", ... after it
    due: dt.date  # the (period) deadline this stage refers to
    at: dt.datetime  # aware, in the policy's zone, send_time on the chosen working day


def period_deadlines(
    deadline: dt.date, recurrence: Recurrence | None, year_start: dt.date
) -> list[tuple[str, dt.date]]:
    """List (period, deadline) pairs: one for a one-off task, one per month or quarter for a recurring one.

    Periods run from the one containing `year_start` to the one containing `deadline`; each ends on
    the last calendar day of its month or quarter, except that none ends after `deadline`.
    """
    if recurrence is None:
        return [("", deadline)]
    months = 1 if recurrence is Recurrence.MONTHLY else 3
    start = min(year_start, deadline)
    year, month = start.year, (start.month - 1) // months * months + 1  # first month of the period
    periods: list[tuple[str, dt.date]] = []
    while (year, month) <= (deadline.year, deadline.month):
        last_month = month + months - 1
        end = dt.date(year, last_month, calendar.monthrange(year, last_month)[1])
        if recurrence is Recurrence.MONTHLY:
            label = f"{year:04d}-{month:02d}"
        else:
            label = f"{year:04d}-Q{(month - 1) // 3 + 1}"
        periods.append((label, min(end, deadline)))
        month += months
        if month > 12:
            year, month = year + 1, month - 12
    return periods


def occurrences(
    deadline: dt.date,
    recurrence: Recurrence | None,
    role: Role,
    policy: ReminderPolicy,
    window: tuple[dt.date, dt.date],
    year_start: dt.date,
) -> list[Occurrence]:
    """List the reminders for one task and role whose send day falls inside `window` (inclusive), by time.

    Before each period's deadline: one stage per offset, on the previous working day when the
    nominal day is off, skipped when the nominal day is before `year_start`. After the final
    deadline: "overdue-k" every `overdue_every_days` calendar days, on the next working day.
    The result does not depend on `window` beyond the filtering: a stage keeps its name and day.
    """
    lead = role == "lead"
    offsets = sorted(set(policy.offsets_days if lead else policy.cooperating_offsets_days))
    periods = period_deadlines(deadline, recurrence, year_start)
    if recurrence is not None:
        limit = _PERIOD_OFFSET_LIMIT_DAYS[recurrence]
        offsets = [offset for offset in offsets if offset < limit]

    # (days between nominal day and due, occurrence): the smaller distance wins a shared send day
    candidates: list[tuple[int, Occurrence]] = []
    for period, due in periods:
        for offset in offsets:
            nominal = due - dt.timedelta(days=offset)
            if nominal < year_start:
                continue
            at = _send_at(previous_workday(nominal), policy)
            candidates.append((offset, Occurrence(period, f"d{offset}", due, at)))

    window_start, window_end = window
    if lead or policy.cooperating_overdue:
        period, final_due = periods[-1]
        k = 1
        while (nominal := final_due + dt.timedelta(days=k * policy.overdue_every_days)) <= window_end:
            at = _send_at(next_workday(nominal), policy)
            candidates.append(((nominal - final_due).days, Occurrence(period, f"overdue-{k}", final_due, at)))
            k += 1

    kept: dict[dt.date, Occurrence] = {}
    for _, occurrence in sorted(candidates, key=lambda candidate: candidate[0]):
        kept.setdefault(occurrence.at.date(), occurrence)
    return sorted(
        (o for day, o in kept.items() if window_start <= day <= window_end),
        key=lambda o: o.at,
    )


def _send_at(day: dt.date, policy: ReminderPolicy) -> dt.datetime:
    """Return the aware send time on `day`."""
    return dt.datetime.combine(day, policy.send_time.replace(tzinfo=None), tzinfo=policy.tz)
