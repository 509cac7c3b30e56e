"""Counts the 台账 shows — days overdue, each lead unit's tasks by state — for the exports and the desk alike.

Kept apart from the spreadsheet writers so that counting does not load openpyxl (and numpy under it): about
40 MB and 0.15 s of start-up in every process, needed only when someone exports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.views import TaskStatus, TaskView


def overdue_days(task: TaskView, today: dt.date) -> int:
    """Return how many days an open task is past its deadline (0 when not overdue)."""
    if not task.status.is_open or task.deadline >= today:
        return 0
    return (today - task.deadline).days


@dataclass
class UnitCount:
    """One row of the summary sheet."""

    unit: str
    total: int = 0
    approved: int = 0
    submitted: int = 0
    in_progress: int = 0
    not_started: int = 0
    returned: int = 0
    overdue: int = 0
    received: int = 0
    required: int = 0

    def row(self) -> tuple[object, ...]:
        return (self.unit, self.total, self.approved, self.submitted, self.in_progress, self.not_started,
                self.returned, self.overdue, self.received, self.required)


def unit_counts(tasks: Sequence[TaskView], today: dt.date) -> list[UnitCount]:
    """Count each lead unit's tasks by state; a shared evidence list's items count once per unit."""
    counts: dict[str, UnitCount] = {}
    items: dict[str, dict[int, int]] = {}
    by_state = {TaskStatus.APPROVED: "approved", TaskStatus.SUBMITTED: "submitted",
                TaskStatus.IN_PROGRESS: "in_progress", TaskStatus.NOT_STARTED: "not_started",
                TaskStatus.RETURNED: "returned"}
    for t in tasks:
        c = counts.setdefault(t.lead, UnitCount(t.lead))
        c.total += 1
        setattr(c, by_state[t.status], getattr(c, by_state[t.status]) + 1)
        c.overdue += overdue_days(t, today) > 0
        for i in t.items:
            items.setdefault(t.lead, {})[i.id] = i.files
    for unit, files in items.items():
        counts[unit].required = len(files)
        counts[unit].received = sum(1 for n in files.values() if n)
    return list(counts.values())
