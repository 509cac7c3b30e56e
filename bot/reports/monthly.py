"""The 月度通报: the month's ranking of lead units, published on the first workday of the next month.

Per lead unit: tasks done, 红 and 黄 today, the on-time completion rate, last month's progress reports (reported of
asked) and returns not yet answered; the units with the most 红 first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.clock import SHANGHAI
from bot.core.views import DEFAULT_RULE, TaskStatus, TaskView, WarningLevel, WarningRule


@dataclass
class UnitMonth:
    """A lead unit's figures in the monthly report."""

    unit: str
    total: int = 0
    approved: int = 0
    red: int = 0
    yellow: int = 0
    due: int = 0  # tasks whose deadline has passed
    on_time: int = 0  # of those, submitted by the deadline and approved
    asked: int = 0  # progress reports owed last period
    reported: int = 0  # of those, reports that came
    returned: int = 0  # returns not yet resubmitted

    @property
    def on_time_text(self) -> str:
        """Say the on-time completion rate: 按时完成 1/2（50%）, or — when nothing is due yet."""
        return f"{self.on_time}/{self.due}（{self.on_time * 100 // self.due}%）" if self.due else "—"


def on_time(t: TaskView) -> bool:
    """Tell whether a task was completed on time: approved, and submitted by its (effective) deadline."""
    return (t.status is TaskStatus.APPROVED and t.submitted_at is not None
            and t.submitted_at.astimezone(SHANGHAI).date() <= t.deadline)


def unit_months(tasks: Sequence[TaskView], today: dt.date, rule: WarningRule = DEFAULT_RULE) -> list[UnitMonth]:
    """Count each lead unit's month, the most 红 first, then the most 黄, then the fewest done."""
    units: dict[str, UnitMonth] = {}
    for t in tasks:
        u = units.setdefault(t.lead, UnitMonth(t.lead))
        u.total += 1
        u.approved += t.status is TaskStatus.APPROVED
        level = t.warning(today, rule)
        u.red += level is WarningLevel.RED
        u.yellow += level is WarningLevel.YELLOW
        if t.deadline < today:
            u.due += 1
            u.on_time += on_time(t)
        reported = t.reporting(today, rule, previous=True)
        u.asked += reported is not None
        u.reported += reported is True
        u.returned += t.returned_at is not None and t.status.is_open
    return sorted(units.values(), key=lambda u: (-u.red, -u.yellow, u.approved / u.total, u.unit))


def monthly_report_text(title: str, tasks: Sequence[TaskView], today: dt.date,
                        rule: WarningRule = DEFAULT_RULE) -> str:
    """Write the 月度通报 of the month before `today`'s: totals, then one line per lead unit, the most 红 first."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    rows = unit_months(tasks, today, rule)
    total = UnitMonth("合计")
    for u in rows:
        for name in ("total", "approved", "red", "yellow", "due", "on_time", "asked", "reported", "returned"):
            setattr(total, name, getattr(total, name) + getattr(u, name))
    lines = [f"📊 {title}月度通报（{last.year}年{last.month}月，{today:%Y-%m-%d}发布）",
             f"任务{total.total}项：已完成{total.approved} · 🔴红{total.red} · 🟡黄{total.yellow}"
             f" · 按时完成率 {total.on_time_text}",
             f"{last.month}月进展报送：应报{total.asked}项，已报{total.reported}项"
             + (f"（{total.reported * 100 // total.asked}%）" if total.asked else "")
             + (f" · 退回待重新提交{total.returned}项" if total.returned else ""),
             "", "各牵头单位（红灯多的在前）："]
    for n, u in enumerate(rows, 1):
        lines.append(f"{n}. {u.unit}：完成{u.approved}/{u.total} · 红{u.red} 黄{u.yellow} · 按时完成{u.on_time_text}"
                     + (f" · 进展报送{u.reported}/{u.asked}" if u.asked else "")
                     + (f" · 退回待改{u.returned}" if u.returned else ""))
    lines += ["", "按时完成率：截止日期已过的任务中，在截止日期前提交并已审核通过的比例。"
              "进展报送：上月应报送进展的任务中，当月有进展、材料、进度或提交的项数。"]
    return "\n".join(lines)
