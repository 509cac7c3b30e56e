"""What the desk's overview and lists show: per-unit rows, plan totals, and the filters over tasks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.views import DEFAULT_RULE, TaskStatus, TaskView, WarningLevel, WarningRule
from bot.exports.counts import overdue_days, unit_counts

OVERDUE = "overdue"  # a status filter value beside the TaskStatus values


@dataclass(frozen=True)
class UnitRow:
    """One lead unit on the overview (or the plan's totals, as unit "合计")."""

    unit: str
    tasks: int
    done: int
    submitted: int
    overdue: int
    received: int
    required: int
    liaisons: int
    red: int = 0
    yellow: int = 0

    @property
    def percent(self) -> int:
        """Return the share of evidence items received, in whole percent; 100 when none are required."""
        return self.received * 100 // self.required if self.required else 100


def unit_rows(tasks: Sequence[TaskView], liaisons: Mapping[str, int], today: dt.date,
              rule: WarningRule = DEFAULT_RULE) -> list[UnitRow]:
    """Return a row per lead unit, the unit that lags most first (overdue, then 红, then least evidence, then open
    tasks)."""
    lights: dict[str, list[WarningLevel | None]] = {}
    for t in tasks:
        lights.setdefault(t.lead, []).append(t.warning(today, rule))
    rows = [UnitRow(c.unit, c.total, c.approved, c.submitted, c.overdue, c.received, c.required,
                    liaisons.get(c.unit, 0), lights[c.unit].count(WarningLevel.RED),
                    lights[c.unit].count(WarningLevel.YELLOW)) for c in unit_counts(tasks, today)]
    return sorted(rows, key=lambda r: (-r.overdue, -r.red, r.percent, -(r.tasks - r.done), r.unit))


def totals(tasks: Sequence[TaskView], liaisons: Mapping[str, int], today: dt.date,
           rule: WarningRule = DEFAULT_RULE) -> UnitRow:
    """Count the tasks by state and light and the evidence items received, a shared list once, as the row "合计"."""
    items = {i.id: i.files for t in tasks for i in t.items}
    lights = [t.warning(today, rule) for t in tasks]
    return UnitRow("合计", len(tasks), sum(t.status is TaskStatus.APPROVED for t in tasks),
                   sum(t.status is TaskStatus.SUBMITTED for t in tasks), sum(overdue_days(t, today) > 0 for t in tasks),
                   sum(1 for n in items.values() if n), len(items), sum(liaisons.values()),
                   lights.count(WarningLevel.RED), lights.count(WarningLevel.YELLOW))


# the task list's orders: the plan's own (by number), then what a coordinator sorts by to find work
SORTS = {"no": "序号", "deadline": "截止日期", "unit": "牵头单位", "status": "状态", "warning": "预警"}
# 状态 order: what needs the unit's work first, what is done last
STATUS_ORDER = {s: n for n, s in enumerate((TaskStatus.RETURNED, TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS,
                                            TaskStatus.SUBMITTED, TaskStatus.APPROVED))}
# 预警 order: red first; waiting for review and done (no light) last
LIGHT_ORDER = {WarningLevel.RED: 0, WarningLevel.YELLOW: 1, WarningLevel.GREEN: 2, None: 3}
MAX_QUERY = 60


@dataclass(frozen=True)
class Filters:
    """The overview's and task list's filters: deadline month ("2023-10"), status, traffic light, unit (lead or
    cooperating), the words or number searched for, and the order."""

    month: str = ""
    status: str = ""
    unit: str = ""
    q: str = ""
    sort: str = "no"
    warning: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Read the filters from a query string, ignoring values that mean nothing."""
        status = query.get("status", "")
        valid = {s.value for s in TaskStatus} | {OVERDUE}
        sort = query.get("sort", "no")
        warning = query.get("warning", "")
        return cls(query.get("month", "")[:7], status if status in valid else "", query.get("unit", "")[:MAX_QUERY],
                   " ".join(query.get("q", "").split())[:MAX_QUERY], sort if sort in SORTS else "no",
                   warning if warning in {w.value for w in WarningLevel} else "")

    def apply(self, tasks: Sequence[TaskView], today: dt.date, rule: WarningRule = DEFAULT_RULE) -> list[TaskView]:
        """Return the tasks that pass every filter set, in the order asked for."""
        out = []
        for t in tasks:
            if self.warning and t.warning(today, rule) != self.warning:
                continue
            if self.month and f"{t.deadline:%Y-%m}" != self.month:
                continue
            if self.status == OVERDUE and not overdue_days(t, today):
                continue
            if self.status and self.status != OVERDUE and t.status.value != self.status:
                continue
            if self.unit and t.role_of(self.unit) is None:
                continue
            if self.q and not matches(t, self.q):
                continue
            out.append(t)
        if self.sort == "deadline":
            out.sort(key=lambda t: (t.deadline, t.no))
        elif self.sort == "unit":
            out.sort(key=lambda t: (t.lead, t.no))
        elif self.sort == "status":
            out.sort(key=lambda t: (STATUS_ORDER[t.status], -overdue_days(t, today), t.no))
        elif self.sort == "warning":
            out.sort(key=lambda t: (LIGHT_ORDER[t.warning(today, rule)], -overdue_days(t, today), t.deadline, t.no))
        return out

    @property
    def active(self) -> bool:
        """Tell whether any filter is set (an order is not a filter)."""
        return bool(self.month or self.status or self.unit or self.q or self.warning)


def matches(t: TaskView, q: str) -> bool:
    """Tell whether a task is what was searched for: its number (「42」「任务42」), or every word in its text, units,
    notes or evidence items."""
    number = q.removeprefix("任务").removeprefix("第").removesuffix("项").strip()
    if number.isdigit():
        return t.no == int(number)
    haystack = " ".join((t.text, t.lead, *t.cooperating, *t.notes, *(i.title for i in t.items))).casefold()
    return all(word in haystack for word in q.casefold().split())


def month_options(tasks: Sequence[TaskView]) -> list[tuple[str, str]]:
    """Return the deadline months present, as (value, 2023年10月) pairs in order."""
    months = sorted({(t.deadline.year, t.deadline.month) for t in tasks})
    return [(f"{y}-{m:02d}", f"{y}年{m}月") for y, m in months]


def warning_options() -> list[tuple[str, str]]:
    """Return the traffic light filter's choices: the word, never the colour alone."""
    return [(w.value, w.label) for w in WarningLevel]


def status_options() -> list[tuple[str, str]]:
    """Return the status filter's choices in Chinese."""
    return [*((s.value, s.label) for s in TaskStatus), (OVERDUE, "逾期")]


@dataclass(frozen=True)
class Waiting:
    """A task waiting for review: since when (the day it was last reported done) and how many days."""

    task: TaskView
    since: dt.date | None
    days: int | None


def review_queue(tasks: Sequence[TaskView], submitted: Mapping[int, dt.datetime], today: dt.date,
                 tz: dt.tzinfo) -> list[Waiting]:
    """Return the tasks waiting for review, the longest-waiting first (as chat's /review lists them)."""
    out = []
    for t in tasks:
        if t.status is not TaskStatus.SUBMITTED:
            continue
        at = submitted.get(t.no)
        day = at.astimezone(tz).date() if at is not None else None
        out.append(Waiting(t, day, (today - day).days if day is not None else None))
    return sorted(out, key=lambda w: (w.since is None, w.since or dt.date.max, w.task.no))
