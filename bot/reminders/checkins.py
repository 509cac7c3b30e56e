"""Which progress check-ins (进展报送) are due: the lead units' open tasks that owe a report and have none yet.

On a plan's check-in day (DUBAN_CHECKIN_DAY of the period's last month, the workday before when it is off) each lead
unit's liaisons are asked for the tasks still unreported; on the period's last workday they are asked once more for
what is still unreported. Pure computation from a sweep's snapshot; the engine claims and sends (bot.reminders.engine).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from bot.core import checkins
from bot.core.checkins import Rhythm
from bot.core.chinese import weekday_name
from bot.core.views import PersonView, PlanView, TaskView
from bot.store.reminders import LedgerEntry, TaskSchedule

CHECKIN = "checkin"  # the stage of the check-in day
NUDGE = "checkin-2"  # the stage of the period's last workday


class Checkin(NamedTuple):
    """One liaison's check-in of a period and stage, with their unit's tasks still unreported (None: a preview of a
    unit nobody is bound to yet).

    The ledger keeps one entry per (period, stage, liaison), not one per task: the message is what is sent once,
    and which tasks it lists is read afresh from the reports. A unit's liaisons share one tuple of tasks.
    """

    period: str
    stage: str
    at: dt.datetime  # when it was due to go out
    recipient: PersonView | None
    key: str
    tasks: tuple[tuple[PlanView, TaskSchedule], ...]

    def entry(self) -> LedgerEntry:
        """Return the ledger entry that claims this check-in."""
        who = self.recipient.key if self.recipient is not None else ""
        return LedgerEntry(self.key, 0, 0, self.period, self.stage, who, self.at)


def rhythm_of(plan: PlanView) -> Rhythm | None:
    """Return the plan's check-in rhythm (None when it asks for no reports)."""
    return Rhythm(plan.checkin, dt.date(plan.year, 1, 1)) if plan.checkin is not None else None


def days(rhythm: Rhythm, start: dt.date, end: dt.date, day_of_month: int) -> list[tuple[dt.date, str, str]]:
    """List (day, period, stage) of the check-ins and nudges that fall in [start, end], by day."""
    out: list[tuple[dt.date, str, str]] = []
    period = checkins.period_of(start, rhythm.every)
    while (first := checkins.checkin_day(period, day_of_month)) <= end:  # a period's nudge is never before it
        nudge = checkins.nudge_day(period)
        if start <= first <= end:
            out.append((first, period, CHECKIN))
        if nudge != first and start <= nudge <= end:
            out.append((nudge, period, NUDGE))
        period = _next_period(period, rhythm)
    return sorted(out)


def _next_period(period: str, rhythm: Rhythm) -> str:
    year, month = map(int, checkins.period_months(period)[-1].split("-"))
    return checkins.period_of(dt.date(year + month // 12, month % 12 + 1, 1), rhythm.every)


def due(plans: Sequence[PlanView], tasks: dict[int, list[TaskSchedule]], liaisons: dict[str, list[PersonView]],
        window: tuple[dt.date, dt.date], now: dt.datetime, send_at: Callable[[dt.date], dt.datetime],
        reported: Callable[[int, int, str], bool], *, day_of_month: int, unbound: bool = False,
        skip: set[str] | None = None) -> list[Checkin]:
    """List every check-in sent on a day of `window` at or before `now`, one per lead unit liaison, period and stage.

    A task is listed when it owes a report for the period (open, no recurrence of its own, due more than 30 days
    after the check-in day) and `reported(plan id, task number, period)` says none came yet.
    """
    skip = skip or set()
    owed: dict[tuple[str, str, str, dt.datetime], list[tuple[PlanView, TaskSchedule]]] = {}
    for plan in plans:
        rhythm = rhythm_of(plan)
        if rhythm is None:
            continue
        for day, period, stage in days(rhythm, *window, day_of_month):
            at = send_at(day)
            if at > now:
                continue
            for task in tasks.get(plan.id, ()):
                if (task.recurrence is None
                        and checkins.owes(rhythm, task.deadline, task.status.is_open, period, day_of_month)
                        and not reported(plan.id, task.no, period)):
                    owed.setdefault((task.lead, period, stage, at), []).append((plan, task))
    out: list[Checkin] = []
    for (unit, period, stage, at), listed in owed.items():
        shared = tuple(listed)
        people: Iterable[PersonView | None] = liaisons.get(unit, ())
        if not people and unbound:
            people = (None,)
        for person in people:
            key = f"checkin:{period}:{stage}:{person.key if person else unit}"
            if key not in skip:
                out.append(Checkin(period, stage, at, person, key, shared))
    return out


def checkin_text(items: Sequence[tuple[Checkin, PlanView, TaskView]], today: dt.date, tz: dt.tzinfo, *,
                 total: int | None = None) -> str:
    """Write a liaison's check-in message: the unreported tasks, how to report, and when it becomes 未报送."""
    total = len(items) if total is None else total
    first, _, first_task = items[0]
    nudge = any(c.stage == NUDGE for c, _, _ in items)
    label = checkins.period_label(first.period)
    span = "本季度" if "Q" in first.period else "本月"
    late = min(c.at.astimezone(tz).date() for c, _, _ in items)
    head = "【进展报送·再次提醒】" if nudge else "【进展报送】"
    lines = [f"{head}{today.month}月{today.day}日（{weekday_name(today)}），{first_task.lead}以下{total}项任务"
             f"{span}（{label}）还没有报送进展："]
    several = len({plan.id for _, plan, _ in items}) > 1
    for n, (_, plan, t) in enumerate(items, 1):
        lines.append(f"{n}. {f'《{plan.title}》' if several else ''}任务{t.no} {t.short_title(24)}（截止{t.deadline_raw}）")
    if total > len(items):
        lines.append(f"……另有{total - len(items)}项，发送「这个月要报什么」查看全部。")
    lines.append(f"报送方式：发送「任务{first_task.no}进展：……」写明{span}做了什么；上传该任务的材料、/progress 登记进度、"
                 "提交审核也都算已报送。")
    last = checkins.nudge_day(first.period)
    if nudge:
        lines.append(f"今天是{label}最后一个工作日，今天之后仍未报送的记为{label}未报送（任务亮黄灯）。")
    else:
        lines.append(f"请在{last.month}月{last.day}日（{label}最后一个工作日）前报送，逾期记为{label}未报送。")
    if late < today:
        lines.append(f"（本条应于{late.month}月{late.day}日发送，督办助手当时未在运行，现补发。）")
    return "\n".join(lines)
