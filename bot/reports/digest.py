"""The digest: plan-wide or per-unit progress for coordinators' groups (text and chart rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.chinese import days_phrase
from bot.core.views import TaskStatus, TaskView
from bot.reports.chart import UnitProgressRow, render_progress_chart
from bot.store.files import atomic_path


@dataclass(frozen=True)
class UnitStats:
    """Counts of a unit's lead tasks by state."""

    unit: str
    total: int
    approved: int
    submitted: int
    overdue: int

    @property
    def open(self) -> int:
        """Count tasks neither approved nor waiting for review."""
        return self.total - self.approved - self.submitted


def unit_stats(tasks: Sequence[TaskView], today: dt.date) -> list[UnitStats]:
    """Count each lead unit's tasks, most overdue first (the ranking coordinators look at)."""
    units: dict[str, list[TaskView]] = {}
    for t in tasks:
        units.setdefault(t.lead, []).append(t)
    stats = [UnitStats(u, len(ts), sum(t.status is TaskStatus.APPROVED for t in ts),
                       sum(t.status is TaskStatus.SUBMITTED for t in ts),
                       sum(t.status.is_open and t.deadline < today for t in ts)) for u, ts in units.items()]
    return sorted(stats, key=lambda s: (-s.overdue, -(s.open), s.unit))


def digest_text(title: str, tasks: Sequence[TaskView], today: dt.date, *, unit: str | None = None,
                horizon_days: int = 14) -> str:
    """Write the digest: totals, overdue ranking by unit, deadlines ahead, submissions awaiting review."""
    scope = [t for t in tasks if unit is None or t.role_of(unit) == "lead"]
    total = len(scope)
    approved = sum(t.status is TaskStatus.APPROVED for t in scope)
    submitted = [t for t in scope if t.status is TaskStatus.SUBMITTED]
    overdue = [t for t in scope if t.status.is_open and t.deadline < today]
    ahead = sorted((t for t in scope if t.status.is_open and today <= t.deadline <= today + dt.timedelta(horizon_days)),
                   key=lambda t: (t.deadline, t.no))
    unique = {i.id: i for t in scope for i in t.items}  # a shared list counts once
    items = len(unique)
    got = sum(1 for i in unique.values() if i.files)
    lines = [f"📋 {unit or title}进度简报（{today:%Y-%m-%d}）",
             f"任务{total}项：已完成{approved} · 待审核{len(submitted)} · 未完成{total - approved - len(submitted)}"
             f" · 逾期{len(overdue)}",
             f"佐证材料：已收 {got}/{items} 项（{(got * 100 // items) if items else 100}%）"]
    if unit is None:
        ranking = [s for s in unit_stats(scope, today) if s.overdue]
        if ranking:
            lines.append("")
            lines.append("逾期任务（按单位）：")
            lines += [f"{n}. {s.unit}：逾期{s.overdue}项（共{s.total}项，已完成{s.approved}项）"
                      for n, s in enumerate(ranking, 1)]
    elif overdue:
        lines.append("")
        lines.append("逾期任务：")
        lines += [f"· 任务{t.no} {t.short_title(20)}（{days_phrase(t.deadline, today)}，材料{t.evidence_done}/"
                  f"{len(t.items)}）" for t in sorted(overdue, key=lambda t: t.no)]
    lines.append("")
    if ahead:
        lines.append(f"未来{horizon_days}天到期（{len(ahead)}项）：")
        lines += [f"· 任务{t.no}（{t.lead}）{t.deadline:%m月%d日}，{days_phrase(t.deadline, today)}" for t in ahead[:15]]
    else:
        lines.append(f"未来{horizon_days}天没有到期的任务。")
    if submitted:
        lines.append("")
        lines.append(f"待审核（{len(submitted)}项）：" + "、".join(f"任务{t.no}（{t.lead}）" for t in submitted))
    for t in scope:
        if t.progress is not None and t.targets:
            lines.append(f"进度：任务{t.no} {t.progress:g}（目标{t.targets[0].phrase}）")
    return "\n".join(lines)


async def write_progress_chart(state_dir: Path, title: str, tasks: Sequence[TaskView], today: dt.date) -> Path:
    """Render the per-unit chart (off the event loop) to a PNG in the state directory and return its path."""
    import asyncio

    rows = [UnitProgressRow(s.unit, s.approved, s.submitted, s.open, s.overdue) for s in unit_stats(tasks, today)]
    data = await asyncio.to_thread(render_progress_chart, rows, f"{title}\n各单位完成情况（{today:%Y-%m-%d}）",
                                   state_dir / "cache" / "matplotlib")
    out = state_dir / "charts" / f"progress-{today:%Y%m%d}.png"
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out
