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


class CheckinDue(NamedTuple):
    """One check-in of one task for one liaison (None in a preview of a unit nobody is bound to yet)."""

    plan: PlanView
    task: TaskSchedule
    period: str
    stage: str
    at: dt.datetime  # when it was due to go out
    recipient: PersonView | None
    key: str

    def entry(self) -> LedgerEntry:
        """Return the ledger entry that claims this check-in."""
        who = self.recipient.key if self.recipient is not None else ""
        return LedgerEntry(self.key, self.plan.id, self.task.no, self.period, self.stage, who, self.at)


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
        skip: set[str] | None = None) -> list[CheckinDue]:
    """List every check-in sent on a day of `window` at or before `now`, per lead unit liaison.

    A task is asked about when it owes a report for the period (open, no recurrence of its own, due more than 30
    days after the check-in day) and `reported(plan id, task number, period)` says none came yet.
    """
    skip = skip or set()
    out: list[CheckinDue] = []
    for plan in plans:
        rhythm = rhythm_of(plan)
        if rhythm is None:
            continue
        for day, period, stage in days(rhythm, *window, day_of_month):
            at = send_at(day)
            if at > now:
                continue
            for task in tasks.get(plan.id, ()):
                if task.recurrence is not None or not checkins.owes(rhythm, task.deadline, task.status.is_open, period,
                                                                    day_of_month):
                    continue
                if reported(plan.id, task.no, period):
                    continue
                people: Iterable[PersonView | None] = liaisons.get(task.lead, ())
                if not people and unbound:
                    people = (None,)
                for person in people:
                    key = f"checkin:{plan.id}:{task.no}:{period}:{stage}:{person.key if person else ''}"
                    if key not in skip:
                        out.append(CheckinDue(plan, task, period, stage, at, person, key))
    return out


def checkin_text(items: Sequence[tuple[CheckinDue, TaskView]], today: dt.date, tz: dt.tzinfo, *,
                 total: int | None = None) -> str:
    """Write a liaison's check-in message: the unreported tasks, how to report, and when it becomes 未报送."""
    total = len(items) if total is None else total
    first, _ = items[0]
    nudge = any(d.stage == NUDGE for d, _ in items)
    label = checkins.period_label(first.period)
    span = "本季度" if "Q" in first.period else "本月"
    late = min(d.at.astimezone(tz).date() for d, _ in items)
    head = "【进展报送·再次提醒】" if nudge else "【进展报送】"
    lines = [f"{head}{today.month}月{today.day}日（{weekday_name(today)}），{first.task.lead}以下{total}项任务"
             f"{span}（{label}）还没有报送进展："]
    plans = {d.plan.id for d, _ in items}
    for n, (d, t) in enumerate(items, 1):
        plan = f"《{d.plan.title}》" if len(plans) > 1 else ""
        lines.append(f"{n}. {plan}任务{t.no} {t.short_title(24)}（截止{t.deadline_raw}）")
    if total > len(items):
        lines.append(f"……另有{total - len(items)}项，发送「这个月要报什么」查看全部。")
    no = items[0][1].no
    lines.append(f"报送方式：发送「任务{no}进展：……」写明{span}做了什么；上传该任务的材料、/progress 登记进度、提交审核也都算已报送。")
    last = checkins.nudge_day(first.period)
    if nudge:
        lines.append(f"今天是{label}最后一个工作日，今天之后仍未报送的记为{label}未报送（任务亮黄灯）。")
    else:
        lines.append(f"请在{last.month}月{last.day}日（{label}最后一个工作日）前报送，逾期记为{label}未报送。")
    if late < today:
        lines.append(f"（本条应于{late.month}月{late.day}日发送，督办助手当时未在运行，现补发。）")
    return "\n".join(lines)
