"""Working days in mainland China, checked against the 2023 State Council arrangement."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest

from bot.core import workdays
from bot.core.workdays import (
    add_workdays,
    calendar_coverage,
    first_workday_of_month,
    is_workday,
    next_workday,
    previous_workday,
)

D = dt.date


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Forget cached answers and warnings so a test sees the first call of its own."""
    workdays.is_workday.cache_clear()
    workdays._warn_uncovered.cache_clear()
    yield
    workdays.is_workday.cache_clear()
    workdays._warn_uncovered.cache_clear()


def test_national_day_and_mid_autumn_2023_are_off_from_sep_29_to_oct_6() -> None:
    off = [D(2023, 9, 29) + dt.timedelta(days=i) for i in range(8)]
    assert off[-1] == D(2023, 10, 6)
    assert not any(is_workday(day) for day in off)


def test_make_up_weekend_days_after_national_day_2023_are_workdays() -> None:
    assert D(2023, 10, 7).weekday() == 5 and is_workday(D(2023, 10, 7))
    assert D(2023, 10, 8).weekday() == 6 and is_workday(D(2023, 10, 8))


def test_ordinary_weekends_are_off_and_weekdays_are_worked() -> None:
    assert not is_workday(D(2023, 10, 14))
    assert not is_workday(D(2023, 10, 15))
    assert is_workday(D(2023, 10, 16))


def test_spring_festival_2023_is_off_and_its_make_up_weekend_is_worked() -> None:
    assert not any(is_workday(D(2023, 1, day)) for day in range(21, 28))
    assert is_workday(D(2023, 1, 28)) and is_workday(D(2023, 1, 29))


def test_previous_workday_skips_back_over_the_national_day_holiday() -> None:
    assert previous_workday(D(2023, 10, 1)) == D(2023, 9, 28)
    assert previous_workday(D(2023, 9, 30)) == D(2023, 9, 28)
    assert previous_workday(D(2023, 10, 7)) == D(2023, 10, 7)


def test_next_workday_lands_on_the_make_up_saturday() -> None:
    assert next_workday(D(2023, 9, 29)) == D(2023, 10, 7)
    assert next_workday(D(2023, 10, 31)) == D(2023, 10, 31)


def test_add_workdays_counts_only_working_days() -> None:
    assert add_workdays(D(2023, 9, 28), 1) == D(2023, 10, 7)
    assert add_workdays(D(2023, 9, 28), 3) == D(2023, 10, 9)
    assert add_workdays(D(2023, 10, 9), -2) == D(2023, 10, 7)
    assert add_workdays(D(2023, 10, 1), 0) == D(2023, 10, 1)


def test_first_workday_of_month_skips_holidays() -> None:
    assert first_workday_of_month(2023, 10) == D(2023, 10, 7)
    assert first_workday_of_month(2023, 1) == D(2023, 1, 3)
    assert first_workday_of_month(2023, 11) == D(2023, 11, 1)


def test_calendar_coverage_spans_whole_years_including_2023() -> None:
    first, last = calendar_coverage()
    assert first == D(2004, 1, 1)
    assert (last.month, last.day) == (12, 31)
    assert last.year >= 2025


def test_days_inside_coverage_do_not_warn(fresh_caches: None, caplog: pytest.LogCaptureFixture) -> None:
    _, last = calendar_coverage()
    with caplog.at_level(logging.WARNING, logger="bot.core.workdays"):
        is_workday(last)
        is_workday(D(2023, 10, 7))
    assert caplog.records == []


def test_years_beyond_coverage_fall_back_to_monday_to_friday_and_warn_once(
    fresh_caches: None, caplog: pytest.LogCaptureFixture
) -> None:
    year = calendar_coverage()[1].year + 1
    monday = D(year, 3, 1) + dt.timedelta(days=-D(year, 3, 1).weekday() + 7)
    with caplog.at_level(logging.WARNING, logger="bot.core.workdays"):
        week = [is_workday(monday + dt.timedelta(days=i)) for i in range(7)]
        assert next_workday(monday + dt.timedelta(days=5)) == monday + dt.timedelta(days=7)
    assert week == [True] * 5 + [False] * 2
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(year) in message and message.isascii()


def test_years_before_coverage_fall_back_too(fresh_caches: None) -> None:
    assert is_workday(D(2003, 10, 1))  # a Wednesday; the package has no 2003 data
    assert not is_workday(D(2003, 10, 4))
