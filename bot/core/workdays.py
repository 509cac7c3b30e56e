"""Mainland China working days: statutory holidays are off, 调休 weekend days are worked.

Backed by the chinesecalendar package; for years it has no data for, falls back to Monday-Friday
and warns the operators once per year (the package needs updating each December, when the State
Council publishes the next year's arrangement).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

import chinese_calendar
from chinese_calendar import constants as chinese_calendar_data

log = logging.getLogger(__name__)

_ONE_DAY = dt.timedelta(days=1)


@functools.cache
def calendar_coverage() -> tuple[dt.date, dt.date]:
    """Return the first and last day that chinesecalendar has holiday data for."""
    years = [day.year for day in chinese_calendar_data.holidays]
    return dt.date(min(years), 1, 1), dt.date(max(years), 12, 31)


@functools.cache
def _warn_uncovered(year: int) -> None:
    """Warn once per year that working days are guessed as Monday-Friday."""
    first, last = calendar_coverage()
    log.warning(
        "chinesecalendar has no holiday data for %d (it covers %d-%d): treating Monday-Friday as "
        "working days for that year; upgrade the chinesecalendar package",
        year,
        first.year,
        last.year,
    )


@functools.lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> bool:
    """Tell whether `day` is a working day (调休 weekend days are; holidays and other weekends are not)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered(day.year)
        return day.weekday() < 5


def previous_workday(day: dt.date) -> dt.date:
    """Return `day` if it is a working day, else the nearest earlier working day."""
    while not is_workday(day):
        day -= _ONE_DAY
    return day


def next_workday(day: dt.date) -> dt.date:
    """Return `day` if it is a working day, else the nearest later working day."""
    while not is_workday(day):
        day += _ONE_DAY
    return day


def add_workdays(day: dt.date, n: int) -> dt.date:
    """Return the day `n` working days after `day` (before it for negative `n`; `day` itself for 0)."""
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    remaining = abs(n)
    while remaining:
        day += step
        if is_workday(day):
            remaining -= 1
    return day


def first_workday_of_month(year: int, month: int) -> dt.date:
    """Return the first working day of the month."""
    return next_workday(dt.date(year, month, 1))
