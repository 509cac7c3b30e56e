"""The traffic light's own messages: a task turning 红 tells its lead unit's liaisons once, and on the first workday of
each week every 分管领导 gets their unit's 红/黄 tasks.

Both are read from the read model's tasks through the one light rule (TaskView.light, TaskView.red_since) and claimed
in the reminder ledger, so each goes out once whatever the number of processes or restarts; `duban remind preview`
lists them (kinds "red" and "leader-weekly").

- 红灯: one ledger entry per task and red spell (a task back to 黄/绿 and red again later is told again), sent on
  the spell's first workday at the reminder time; late within the catch-up window saying so, never after it (the
  deadline's overdue reminders go on following such a task). A unit's tasks turning red together are one message to
  each of its liaisons; a unit nobody is bound to yet is told once someone binds, within the window.
- 每周红黄灯汇总: one message per leader a week listing the unit's 红 and 黄 tasks of every plan being worked on. A
  leader whose unit has none gets nothing, and the week is recorded as skipped: a task turning yellow on Tuesday
  does not send it then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.actions.base import Services
from bot.core.chinese import weekday_name
from bot.core.messages import Push, Reply
from bot.core.views import PersonView, PlanView, TaskView, WarningLevel, WarningRule
from bot.core.workdays import is_workday, next_workday
from bot.reminders.buttons import VIEW, Buttons
from bot.store.reminders import SKIPPED, Claim, LedgerEntry

RED, LEADER_WEEKLY = "red", "leader-weekly"
MAX_LISTED = 15  # tasks listed in one message; the rest are counted
MAX_VIEW_BUTTONS = 5


@dataclass(frozen=True)
class Turned:
    """A task's current red spell: since when it is red, and the workday its liaisons are told."""

    plan: PlanView
    task: TaskView
    since: dt.date
    day: dt.date

    @property
    def key(self) -> str:
        """Return its ledger key: once per task and red spell."""
        return f"{RED}:{self.plan.id}:{self.task.no}@{self.since:%Y%m%d}"


def week_day(day: dt.date) -> dt.date | None:
    """Return the first workday of `day`'s week (Monday to Sunday), None when the whole week is off."""
    monday = day - dt.timedelta(days=day.weekday())
    return next((d for d in (monday + dt.timedelta(days=n) for n in range(7)) if is_workday(d)), None)


class Lights:
    """Send the 红灯 messages and the leaders' weekly summaries once, and preview them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self._known: tuple[dt.date | None, set[str]] = (None, set())  # keys seen in the ledger today

    async def tasks(self) -> list[tuple[PlanView, TaskView]]:
        """Return every task of the plans being worked on, from the read model (in memory between writes)."""
        reads = self.services.reads
        return [(plan, t) for plan in await reads.active_plans() for t in await reads.tasks(plan.id)]

    def turned(self, tasks: Sequence[tuple[PlanView, TaskView]], day: dt.date) -> list[Turned]:
        """Return the red spells in force on `day`, each with the workday it is told."""
        rule, out = self.settings.warning_rule, []
        for plan, t in tasks:
            if (since := t.red_since(day, rule)) is not None:
                out.append(Turned(plan, t, since, next_workday(since)))
        return out

    async def sweep(self, now: dt.datetime) -> tuple[int, int]:
        """Send what is due by `now` that the ledger does not have yet; return (红灯 messages, weekly summaries)."""
        today = now.astimezone(self.settings.tz).date()
        if self._known[0] != today:
            self._known = (today, set())
        tasks = await self.tasks()
        return await self._red(tasks, now), await self._weekly(tasks, now)

    async def _red(self, tasks: Sequence[tuple[PlanView, TaskView]], now: dt.datetime) -> int:
        known, today = self._known[1], now.astimezone(self.settings.tz).date()
        catch_start = today - dt.timedelta(days=self.settings.catch_up_days)
        due = [tr for tr in self.turned(tasks, today)
               if catch_start <= tr.day and self._send_at(tr.day) <= now and tr.key not in known]
        if not due:
            return 0
        known.update(await self.store.reminders.known([tr.key for tr in due]))
        by_unit: dict[str, list[Turned]] = {}
        for tr in sorted(due, key=lambda tr: (tr.task.lead, tr.plan.id, tr.task.no)):
            if tr.key not in known:
                by_unit.setdefault(tr.task.lead, []).append(tr)
        if not by_unit:
            return 0
        liaisons: dict[str, list[PersonView]] = {}
        for p in await self.store.people.liaisons():
            liaisons.setdefault(p.unit or "", []).append(p)
        claims = []
        for unit, items in by_unit.items():
            if not liaisons.get(unit):
                continue  # nobody to tell yet: told once the unit has a liaison (within the window)
            text = red_text(items, today, self.settings.warning_rule)
            pushes, questions = [], []
            for person in liaisons[unit]:
                buttons = Buttons(person.key)
                for tr in items[:MAX_VIEW_BUTTONS]:
                    buttons.ask(f"查看任务{tr.task.no}", VIEW, {"plan": tr.plan.id, "task": tr.task.no})
                pushes.append(Push(person.chat, Reply(text, choices=tuple(buttons.choices)),
                                   dedupe_key=f"{items[0].key}:{person.key}", tags=(RED,)))
                questions += buttons.questions
            entries = [LedgerEntry(tr.key, tr.plan.id, tr.task.no, tr.since.isoformat(), RED, f"unit:{unit}",
                                   self._send_at(tr.day)) for tr in items]
            claims.append(Claim(entries, pushes, questions))
        won = await self.store.reminders.claim_and_enqueue(claims, now.astimezone(dt.UTC))
        known.update(e.key for c in claims for e in c.entries)
        return sum(len(c.pushes) for c, w in zip(claims, won, strict=True) if w)

    async def _weekly(self, tasks: Sequence[tuple[PlanView, TaskView]], now: dt.datetime) -> int:
        known, today = self._known[1], now.astimezone(self.settings.tz).date()
        day = week_day(today)
        catch_start = today - dt.timedelta(days=self.settings.catch_up_days)
        if day is None or not catch_start <= day <= today or self._send_at(day) > now:
            return 0
        monday = today - dt.timedelta(days=today.weekday())
        entries = {p.key: (p, self._weekly_entry(monday, day, p)) for p in await self.store.people.leaders()}
        ask = [e.key for _, e in entries.values() if e.key not in known]
        if not ask:
            return 0
        known.update(await self.store.reminders.known(ask))
        todo = [(p, e) for p, e in entries.values() if e.key not in known]
        lit = lit_by_unit(tasks, today, self.settings.warning_rule)
        claims = [Claim([e], [Push(p.chat, Reply(weekly_text(p, lit[p.unit or ""], today, self.settings.warning_rule)), dedupe_key=e.key,
                                   tags=(LEADER_WEEKLY,))]) for p, e in todo if lit.get(p.unit or "")]
        won = await self.store.reminders.claim_and_enqueue(claims, now.astimezone(dt.UTC))
        await self.store.reminders.record([e for p, e in todo if not lit.get(p.unit or "")], SKIPPED,
                                          now.astimezone(dt.UTC))
        known.update(e.key for _, e in todo)
        return sum(won)

    def _weekly_entry(self, monday: dt.date, day: dt.date, leader: PersonView) -> LedgerEntry:
        return LedgerEntry(f"{LEADER_WEEKLY}:{monday:%Y%m%d}:{leader.key}", 0, 0, f"{monday:%G-W%V}", LEADER_WEEKLY,
                           leader.key, self._send_at(day))

    async def preview(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """List the 红灯 messages and weekly summaries from `start` to `end` with today's task states; send nothing.

        A red spell already begun shows on `start` when it is still within the catch-up window; each week's summary
        shows the unit's lights as they would be on its day.
        """
        tasks = await self.tasks()
        catch_start = start - dt.timedelta(days=self.settings.catch_up_days)
        turned = [tr for tr in self.turned(tasks, end) if catch_start <= tr.day <= end]
        liaisons: dict[str, list[PersonView]] = {}
        for p in await self.store.people.liaisons():
            liaisons.setdefault(p.unit or "", []).append(p)
        known = await self.store.reminders.known([tr.key for tr in turned]) if turned else set()
        rows: list[dict[str, Any]] = []
        for tr in turned:
            if tr.key in known:
                continue
            people: list[PersonView | None] = [*liaisons.get(tr.task.lead, [])] or [None]
            for person in people:
                rows.append(self._row(RED, max(tr.day, start), tr.plan.key, tr.task, tr.since.isoformat(), person,
                                      "lead", tr.task.light(max(tr.day, start), self.settings.warning_rule)))
        leaders = await self.store.people.leaders()
        monday = start - dt.timedelta(days=start.weekday())
        while monday <= end:
            day = week_day(monday)
            if day is not None and start <= day <= end:
                lit = lit_by_unit(tasks, day, self.settings.warning_rule)
                for p in leaders:
                    if found := lit.get(p.unit or ""):
                        red = sum(1 for _, _, level in found if level is WarningLevel.RED)
                        period = self._weekly_entry(monday, day, p).period
                        rows.append({**self._row(LEADER_WEEKLY, day, "", None, period, p, "leader", None),
                                     "unit": p.unit or "", "title": f"红{red} 黄{len(found) - red}"})
            monday += dt.timedelta(days=7)
        return rows

    def _row(self, kind: str, day: dt.date, plan: str, task: TaskView | None, period: str,
             person: PersonView | None, role: str, light: tuple[WarningLevel, str] | None) -> dict[str, Any]:
        return {"kind": kind, "at": self._send_at(day).isoformat(), "plan": plan,
                "task": task.no if task is not None else None,
                "title": task.short_title() if task is not None else "", "stage": kind, "period": period,
                "due": task.deadline.isoformat() if task is not None else None,
                "unit": task.lead if task is not None else "", "role": role,
                "recipient": person.key if person is not None else "",
                "recipient_name": person.display if person is not None else "",
                **({"why": light[1]} if light is not None else {})}

    def _send_at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.settings.reminder_time, tzinfo=self.settings.tz)


def lit_by_unit(tasks: Sequence[tuple[PlanView, TaskView]], day: dt.date, rule: WarningRule
                ) -> dict[str, list[tuple[PlanView, TaskView, WarningLevel]]]:
    """Return each lead unit's 红 and 黄 tasks on `day`, red first."""
    out: dict[str, list[tuple[PlanView, TaskView, WarningLevel]]] = {}
    for plan, t in tasks:
        level = t.warning(day, rule)
        if level is WarningLevel.RED or level is WarningLevel.YELLOW:
            out.setdefault(t.lead, []).append((plan, t, level))
    for found in out.values():
        found.sort(key=lambda x: (x[2] is not WarningLevel.RED, x[0].id, x[1].no))
    return out


def red_text(items: Sequence[Turned], today: dt.date, rule: WarningRule) -> str:
    """Tell a unit's liaisons which of their tasks turned 红 and why, and what gets it back to green."""
    several = len({tr.plan.id for tr in items}) > 1
    first = items[0].task
    lines = [f"【红灯预警】{today.month}月{today.day}日（{weekday_name(today)}），{first.lead}牵头的以下{len(items)}项任务亮红灯："]
    for n, tr in enumerate(items[:MAX_LISTED], 1):
        t, light = tr.task, tr.task.light(today, rule)
        why = light[1] if light is not None else ""
        evidence = f"，材料 {t.evidence_done}/{len(t.items)}" if t.items else ""
        plan = f"《{tr.plan.title}》" if several else ""
        lines.append(f"{n}. {plan}任务{t.no} {t.short_title(24)}：{why}（截止{t.deadline.month}月{t.deadline.day}日{evidence}）")
    if len(items) > MAX_LISTED:
        lines.append(f"……另有{len(items) - MAX_LISTED}项，发送「红灯任务」查看全部。")
    lines.append("红灯任务会列入进度简报和分管领导的每周汇总。请尽快办理：上传材料、提交审核，"
                 f"或发送「任务{first.no}进展：……」说明情况；确需延期的请申请延期。")
    late = min(tr.day for tr in items)
    if late < today:
        lines.append(f"（本条应于{late.month}月{late.day}日发送，现补发。）")  # downtime, or nobody bound then
    return "\n".join(lines)


def weekly_text(leader: PersonView, found: Sequence[tuple[PlanView, TaskView, WarningLevel]], today: dt.date,
                rule: WarningRule) -> str:
    """Write a leader's weekly summary: the unit's 红 and 黄 tasks with why, and what a leader can do."""
    red = sum(1 for _, _, level in found if level is WarningLevel.RED)
    several = len({plan.id for plan, _, _ in found}) > 1
    lines = [f"【每周红黄灯汇总】{today.month}月{today.day}日（{weekday_name(today)}），{leader.unit}牵头的任务中"
             f"🔴红灯{red}项、🟡黄灯{len(found) - red}项："]
    for plan, t, level in found[:MAX_LISTED]:
        light = t.light(today, rule)
        why = f"：{light[1]}" if light is not None and light[1] else ""
        title = f"《{plan.title}》" if several else ""
        lines.append(f"{level.marker} {title}任务{t.no} {t.short_title(24)}{why}（截止{t.deadline.month}月{t.deadline.day}日，"
                     f"{t.status.label}）")
    if len(found) > MAX_LISTED:
        lines.append(f"……另有{len(found) - MAX_LISTED}项，发送「红灯任务」「黄灯的有哪些」查看全部。")
    no = found[0][1].no
    lines.append(f"可发送「/批示 {no} 意见」写批示，联络员和节水办会看到；发送「任务{no}」查看详情。")
    return "\n".join(lines)
