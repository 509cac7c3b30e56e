"""Reminder schedules computed from deadlines, recurrence and the 2023 Chinese calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.clock import SHANGHAI
from bot.core.plan import Recurrence
from bot.core.workdays import is_workday
from bot.reminders.schedule import Occurrence, ReminderPolicy, Role, occurrences, period_deadlines

D = dt.date
POLICY = ReminderPolicy()
YEAR_2023 = (D(2023, 1, 1), D(2023, 12, 31))
START_2023 = D(2023, 1, 1)


def stages(found: list[Occurrence]) -> list[tuple[str, dt.date]]:
    """Reduce occurrences to (stage, send day) for readable assertions."""
    return [(o.stage, o.at.date()) for o in found]


def one_off(
    deadline: dt.date,
    role: Role = "lead",
    window: tuple[dt.date, dt.date] = YEAR_2023,
    policy: ReminderPolicy = POLICY,
    year_start: dt.date = START_2023,
) -> list[Occurrence]:
    """Compute a one-off task's occurrences with the 2023 defaults."""
    return occurrences(deadline, None, role, policy, window, year_start)


def test_task_due_2023_10_is_reminded_on_workdays_before_its_deadline() -> None:
    assert stages(one_off(D(2023, 10, 31), window=(START_2023, D(2023, 10, 31)))) == [
        ("d30", D(2023, 9, 28)),  # 10-01 is National Day; 09-29 and 09-30 are off too
        ("d14", D(2023, 10, 17)),
        ("d7", D(2023, 10, 24)),
        ("d3", D(2023, 10, 27)),  # 10-28 is an ordinary Saturday
        ("d1", D(2023, 10, 30)),
        ("d0", D(2023, 10, 31)),
    ]


def test_stage_on_a_make_up_saturday_stays_there() -> None:
    found = stages(one_off(D(2023, 10, 10), window=(START_2023, D(2023, 10, 10))))
    assert found == [
        ("d30", D(2023, 9, 8)),  # 09-10 is a Sunday
        ("d14", D(2023, 9, 26)),
        ("d7", D(2023, 9, 28)),  # 10-03 is a holiday
        ("d3", D(2023, 10, 7)),  # Saturday, but a make-up workday
        ("d1", D(2023, 10, 9)),
        ("d0", D(2023, 10, 10)),
    ]


def test_deadline_on_a_holiday_saturday_is_reminded_on_the_previous_workday_once() -> None:
    # 2023.9 ends on Saturday 09-30, which is also a National Day holiday; so is 09-29 (Mid-Autumn)
    assert not is_workday(D(2023, 9, 30)) and not is_workday(D(2023, 9, 29))
    found = stages(one_off(D(2023, 9, 30), window=(START_2023, D(2023, 9, 30))))
    assert found == [
        ("d30", D(2023, 8, 31)),
        ("d14", D(2023, 9, 15)),  # 09-16 is a Saturday
        ("d7", D(2023, 9, 22)),  # 09-23 is a Saturday
        ("d3", D(2023, 9, 27)),
        ("d0", D(2023, 9, 28)),  # d1 (09-29) would move to the same day: the nearer stage d0 wins
    ]


def test_stages_pushed_onto_one_day_keep_only_the_nearer_stage() -> None:
    # deadline Sunday 10-08 is a make-up workday; d3 (10-05) and d7 (10-01) both move back to 09-28
    found = stages(one_off(D(2023, 10, 8), window=(START_2023, D(2023, 10, 8))))
    assert ("d3", D(2023, 9, 28)) in found
    assert all(stage != "d7" for stage, _ in found)
    assert ("d1", D(2023, 10, 7)) in found and ("d0", D(2023, 10, 8)) in found


def test_overdue_nudges_go_weekly_and_move_forward_to_the_next_workday() -> None:
    found = one_off(D(2023, 9, 30), window=(D(2023, 10, 1), D(2023, 10, 31)))
    assert stages(found) == [
        ("overdue-1", D(2023, 10, 7)),  # make-up Saturday
        ("overdue-2", D(2023, 10, 16)),  # 10-14 is a Saturday: forward to Monday
        ("overdue-3", D(2023, 10, 23)),
        ("overdue-4", D(2023, 10, 30)),
    ]
    assert all(o.due == D(2023, 9, 30) for o in found)


def test_overdue_nudges_pushed_onto_one_day_keep_the_earlier_nudge() -> None:
    # overdue-1 falls on 01-21 (Spring Festival) and moves to the make-up Saturday 01-28,
    # where overdue-2 falls anyway
    found = stages(one_off(D(2023, 1, 14), window=(D(2023, 1, 15), D(2023, 2, 10))))
    assert found == [("overdue-1", D(2023, 1, 28)), ("overdue-3", D(2023, 2, 6))]


def test_overdue_nudges_run_up_to_the_window_end() -> None:
    found = stages(one_off(D(2023, 10, 31), window=(D(2023, 11, 1), D(2023, 11, 30))))
    assert found == [
        ("overdue-1", D(2023, 11, 7)),
        ("overdue-2", D(2023, 11, 14)),
        ("overdue-3", D(2023, 11, 21)),
        ("overdue-4", D(2023, 11, 28)),
    ]


def test_window_keeps_only_stages_sent_inside_it_inclusive() -> None:
    found = stages(one_off(D(2023, 10, 31), window=(D(2023, 10, 17), D(2023, 10, 27))))
    assert found == [("d14", D(2023, 10, 17)), ("d7", D(2023, 10, 24)), ("d3", D(2023, 10, 27))]
    assert one_off(D(2023, 10, 31), window=(D(2023, 10, 18), D(2023, 10, 16))) == []


def test_narrow_windows_return_exactly_the_matching_part_of_the_whole_schedule() -> None:
    deadline = D(2023, 9, 30)
    whole = one_off(deadline, window=YEAR_2023)
    for start in (D(2023, 8, 1), D(2023, 9, 28), D(2023, 10, 7)):
        window = (start, start + dt.timedelta(days=20))
        inside = [o for o in whole if window[0] <= o.at.date() <= window[1]]
        assert one_off(deadline, window=window) == inside


def test_cooperating_units_get_only_their_fewer_stages_and_no_overdue_nudges() -> None:
    found = stages(one_off(D(2023, 10, 31), role="cooperating"))
    assert found == [("d7", D(2023, 10, 24)), ("d1", D(2023, 10, 30))]


def test_cooperating_overdue_nudges_can_be_switched_on() -> None:
    policy = ReminderPolicy(cooperating_overdue=True)
    found = stages(one_off(D(2023, 10, 31), role="cooperating", policy=policy))
    assert ("overdue-1", D(2023, 11, 7)) in found


def test_stages_before_the_year_start_are_skipped() -> None:
    found = stages(one_off(D(2023, 10, 31), year_start=D(2023, 10, 10)))
    assert [stage for stage, _ in found][:5] == ["d14", "d7", "d3", "d1", "d0"]


def test_every_reminder_goes_out_at_nine_in_shanghai() -> None:
    found = one_off(D(2023, 10, 31))
    assert found
    for o in found:
        assert o.at.tzinfo is SHANGHAI
        assert o.at.utcoffset() == dt.timedelta(hours=8)
        assert (o.at.hour, o.at.minute) == (9, 0)
    later = one_off(D(2023, 10, 31), policy=ReminderPolicy(send_time=dt.time(15, 30)))
    assert {(o.at.hour, o.at.minute) for o in later} == {(15, 30)}


def test_one_off_deadline_has_one_unnamed_period() -> None:
    assert period_deadlines(D(2023, 10, 31), None, START_2023) == [("", D(2023, 10, 31))]


def test_monthly_task_for_the_whole_year_has_twelve_month_end_periods() -> None:
    periods = period_deadlines(D(2023, 12, 31), Recurrence.MONTHLY, START_2023)
    assert [label for label, _ in periods] == [f"2023-{m:02d}" for m in range(1, 13)]
    assert periods[1] == ("2023-02", D(2023, 2, 28))
    assert periods[8] == ("2023-09", D(2023, 9, 30))
    assert periods[-1] == ("2023-12", D(2023, 12, 31))


def test_quarterly_task_for_the_whole_year_has_four_quarter_end_periods() -> None:
    assert period_deadlines(D(2023, 12, 31), Recurrence.QUARTERLY, START_2023) == [
        ("2023-Q1", D(2023, 3, 31)),
        ("2023-Q2", D(2023, 6, 30)),
        ("2023-Q3", D(2023, 9, 30)),
        ("2023-Q4", D(2023, 12, 31)),
    ]


def test_recurring_periods_start_at_the_year_start_and_stop_at_the_deadline() -> None:
    assert period_deadlines(D(2023, 11, 30), Recurrence.QUARTERLY, D(2023, 5, 10)) == [
        ("2023-Q2", D(2023, 6, 30)),
        ("2023-Q3", D(2023, 9, 30)),
        ("2023-Q4", D(2023, 11, 30)),
    ]
    assert period_deadlines(D(2024, 2, 29), Recurrence.MONTHLY, D(2023, 11, 15)) == [
        ("2023-11", D(2023, 11, 30)),
        ("2023-12", D(2023, 12, 31)),
        ("2024-01", D(2024, 1, 31)),
        ("2024-02", D(2024, 2, 29)),
    ]


def test_monthly_periods_get_only_stages_shorter_than_a_month() -> None:
    found = occurrences(D(2023, 12, 31), Recurrence.MONTHLY, "lead", POLICY, YEAR_2023, START_2023)
    january = stages([o for o in found if o.period == "2023-01"])
    assert january == [
        ("d14", D(2023, 1, 17)),
        ("d7", D(2023, 1, 20)),  # 01-24 is Spring Festival
        ("d3", D(2023, 1, 28)),  # make-up Saturday
        ("d1", D(2023, 1, 30)),
        ("d0", D(2023, 1, 31)),
    ]
    assert {o.period for o in found} == {f"2023-{m:02d}" for m in range(1, 13)}
    december = stages([o for o in found if o.period == "2023-12"])
    # 12-30 and 12-31 are the 2024 New Year holiday: d1 and d0 both move to Friday 12-29, d0 wins
    assert december[-2:] == [("d3", D(2023, 12, 28)), ("d0", D(2023, 12, 29))]
    assert all(o.due == D(2023, 12, 31) for o in found if o.period == "2023-12")


def test_quarterly_periods_keep_the_thirty_day_stage() -> None:
    found = occurrences(D(2023, 12, 31), Recurrence.QUARTERLY, "lead", POLICY, YEAR_2023, START_2023)
    q3 = stages([o for o in found if o.period == "2023-Q3"])
    assert q3 == [
        ("d30", D(2023, 8, 31)),
        ("d14", D(2023, 9, 15)),
        ("d7", D(2023, 9, 22)),
        ("d3", D(2023, 9, 27)),
        ("d0", D(2023, 9, 28)),
    ]
    assert {o.period for o in found} == {"2023-Q1", "2023-Q2", "2023-Q3", "2023-Q4"}


def test_recurring_task_is_overdue_only_after_its_final_period() -> None:
    window = (D(2023, 1, 1), D(2024, 1, 31))
    found = occurrences(D(2023, 12, 31), Recurrence.MONTHLY, "lead", POLICY, window, START_2023)
    overdue = [o for o in found if o.stage.startswith("overdue")]
    assert stages(overdue) == [
        ("overdue-1", D(2024, 1, 8)),  # 01-07 is a Sunday
        ("overdue-2", D(2024, 1, 15)),
        ("overdue-3", D(2024, 1, 22)),
        ("overdue-4", D(2024, 1, 29)),
    ]
    assert {(o.period, o.due) for o in overdue} == {("2023-12", D(2023, 12, 31))}


@pytest.mark.parametrize("recurrence", [None, Recurrence.MONTHLY, Recurrence.QUARTERLY])
@pytest.mark.parametrize("role", ["lead", "cooperating"])
def test_no_task_is_reminded_twice_a_day_nor_on_a_day_off(recurrence: Recurrence | None, role: Role) -> None:
    window = (D(2023, 1, 1), D(2024, 1, 31))
    policy = ReminderPolicy(cooperating_overdue=True)
    day = D(2023, 1, 1)
    while day <= D(2023, 12, 31):
        found = occurrences(day, recurrence, role, policy, window, START_2023)
        sent = [o.at.date() for o in found]
        assert len(sent) == len(set(sent)), (day, stages(found))
        assert sent == sorted(sent)
        assert all(is_workday(d) for d in sent), (day, stages(found))
        for o in found:
            if o.stage.startswith("overdue"):
                assert o.at.date() > o.due
            else:
                assert o.at.date() <= o.due
        day += dt.timedelta(days=1)


def test_policy_rejects_negative_offsets_and_a_zero_overdue_interval() -> None:
    with pytest.raises(ValueError):
        ReminderPolicy(offsets_days=(7, -1))
    with pytest.raises(ValueError):
        ReminderPolicy(overdue_every_days=0)
