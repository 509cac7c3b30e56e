"""The digest: plan-wide or per-unit progress for coordinators' groups (text and chart rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.atomic import atomic_path
from bot.core.chinese import days_phrase
from bot.core.clock import SHANGHAI
from bot.core.views import DEFAULT_RULE, Escalated, TaskStatus, TaskView, WarningLevel, WarningRule
from bot.reports.chart import PHONE_WIDTH_IN, UnitProgressRow, render_progress_chart


@dataclass(frozen=True)
class UnitStats:
    """Counts of a unit's lead tasks by state."""

    unit: str
    total: int
    approved: int
    submitted: int
    overdue: int
    items: int = 0  # evidence items of its tasks (a shared list counts once)
    received: int = 0  # of those, items with at least one file
    red: int = 0  # tasks whose traffic light is 红
    yellow: int = 0  # … 黄

    @property
    def open(self) -> int:
        """Count tasks neither approved nor waiting for review."""
        return self.total - self.approved - self.submitted

    @property
    def evidence_percent(self) -> int:
        """Return the share of evidence items received, in whole percent (100 when none are required)."""
        return self.received * 100 // self.items if self.items else 100


def unit_stats(tasks: Sequence[TaskView], today: dt.date, rule: WarningRule = DEFAULT_RULE) -> list[UnitStats]:
    """Count each lead unit's tasks, lagging units first: most overdue, then least done, then least evidence."""
    units: dict[str, list[TaskView]] = {}
    for t in tasks:
        units.setdefault(t.lead, []).append(t)
    stats = []
    for u, ts in units.items():
        items = {i.id: i.files for t in ts for i in t.items}
        levels = [t.warning(today, rule) for t in ts]
        stats.append(UnitStats(u, len(ts), sum(t.status is TaskStatus.APPROVED for t in ts),
                               sum(t.status is TaskStatus.SUBMITTED for t in ts),
                               sum(t.status.is_open and t.deadline < today for t in ts),
                               len(items), sum(1 for n in items.values() if n),
                               levels.count(WarningLevel.RED), levels.count(WarningLevel.YELLOW)))
    return sorted(stats, key=lambda s: (-s.overdue, s.approved / s.total, s.evidence_percent, -s.open, s.unit))


def digest_text(title: str, tasks: Sequence[TaskView], today: dt.date, *, unit: str | None = None,
                horizon_days: int = 14, rule: WarningRule = DEFAULT_RULE, since: dt.date | None = None,
                escalated: Sequence[Escalated] = ()) -> str:
    """Write the digest: totals, overdue ranking by unit, what turned red and what went up the ladder (`escalated`)
    after `since` (the previous scheduled digest; a week ago by default), deadlines ahead, submissions awaiting
    review."""
    since = since or digest_since(today)
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
    levels = [t.warning(today, rule) for t in scope]
    lines = [f"📋 {unit or title}进度简报（{today:%Y-%m-%d}）",
             f"任务{total}项：已完成{approved} · 待审核{len(submitted)} · 未完成{total - approved - len(submitted)}"
             f" · 逾期{len(overdue)}",
             f"预警：🔴红{levels.count(WarningLevel.RED)} · 🟡黄{levels.count(WarningLevel.YELLOW)}"
             f" · 🟢绿{levels.count(WarningLevel.GREEN)}",
             f"佐证材料：已收 {got}/{items} 项（{(got * 100 // items) if items else 100}%）"]
    turned = [t for t in sorted(scope, key=lambda t: t.no) if (red := t.red_since(today, rule)) and red > since]
    if turned:
        lines.append(f"{since.month}月{since.day}日后新亮红灯{len(turned)}项：" + "、".join(
            f"任务{t.no}（{t.lead}，{light[1]}）" for t in turned if (light := t.light(today, rule))))
    steps: dict[int, list[str]] = {}
    for e in escalated:
        steps.setdefault(e.task_no, []).append(f"{e.what}（{_day(e.at)}）")
    leads = {t.no: t.lead for t in scope}
    if up := [f"任务{no}（{leads[no]}）" + "、".join(what) for no, what in sorted(steps.items()) if no in leads]:
        lines.append(f"{since.month}月{since.day}日后督办升级{len(up)}项：" + "；".join(up))
    if unit is None:
        lines.append("")
        lines.append("各单位（牵头任务，落后的在前）：")
        lines += [f"{n}. {s.unit}：完成{s.approved}/{s.total} · 材料{s.evidence_percent}%"
                  + (f" · 逾期{s.overdue}项" if s.overdue else "") + _lights(s.red, s.yellow)
                  for n, s in enumerate(unit_stats(scope, today, rule), 1)]
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
    noted = [t for t in scope if t.latest_note is not None] if unit is not None else []
    if noted:
        lines.append("")
        lines.append("最新进展：")
        lines += [f"· 任务{t.no} {t.latest_note.line()}" for t in noted if t.latest_note is not None]
    extended = [t for t in scope if t.deadline_original is not None and t.status is not TaskStatus.APPROVED]
    if extended:
        lines.append("已批准延期：" + "、".join(f"任务{t.no}（原{t.deadline_raw}，延至{t.deadline:%m月%d日}）"
                                               for t in extended))
    return "\n".join(lines)


def digest_since(today: dt.date) -> dt.date:
    """Return the day after which a digest on demand counts what is new: a week back (the scheduled digest counts
    from the previous one)."""
    return today - dt.timedelta(days=7)


def counted_from(since: dt.date) -> dt.datetime:
    """Return the first instant a digest counting what is new after `since` counts (Shanghai midnight after it)."""
    return dt.datetime.combine(since + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)


def _day(at: dt.datetime) -> str:
    """Say an instant's Shanghai day: 11月3日."""
    day = at.astimezone(SHANGHAI)
    return f"{day.month}月{day.day}日"


def _lights(red: int, yellow: int) -> str:
    """Say a unit's 红n 黄n in a digest line (nothing when neither)."""
    parts = ([f"红{red}"] if red else []) + ([f"黄{yellow}"] if yellow else [])
    return " · " + " ".join(parts) if parts else ""


async def write_progress_chart(state_dir: Path, title: str, tasks: Sequence[TaskView], today: dt.date) -> Path:
    """Render the per-unit chart to a PNG in the state directory and return its path."""
    data = await progress_chart_png(title, tasks, today, state_dir / "cache" / "matplotlib")
    out = state_dir / "charts" / f"progress-{today:%Y%m%d}.png"
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out


async def progress_chart_png(title: str, tasks: Sequence[TaskView], today: dt.date, cache_dir: Path, *,
                             phone: bool = False) -> bytes:
    """Render the per-unit chart (off the event loop) and return the PNG bytes; matplotlib caches in `cache_dir`.

    The phone's chart is narrower, so its labels are not shrunk below reading size, and its title is only the date
    line (the page around it names the plan).
    """
    import asyncio

    rows = [UnitProgressRow(s.unit, s.approved, s.submitted, s.open, s.overdue) for s in unit_stats(tasks, today)]
    heading = f"各单位完成情况（{today:%Y-%m-%d}）"
    if phone:
        return await asyncio.to_thread(render_progress_chart, rows, heading, cache_dir, PHONE_WIDTH_IN)
    return await asyncio.to_thread(render_progress_chart, rows, f"{title}\n{heading}", cache_dir)
