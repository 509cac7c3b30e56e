"""The ladder's steps nobody has to take by hand: a 督办单 for a task overdue with nothing new, then the unit's 分管领导.

Each step is computed from the database like a reminder and claimed in the same ledger, so it goes out exactly once
whatever the number of processes or restarts (`duban remind preview` lists them, kinds "notice" and "escalation").
A 督办单 whose day fell before the catch-up window (downtime, or a plan imported late) is not issued afterwards,
like a reminder: a burst of numbered notices helps nobody; a coordinator issues one with /urge. An escalation is one
line to one leader, so it still goes out.
A step waits on the task standing still: it counts from the deadline or from the task's last movement (a file, a
note, a status or progress change), whichever is later, and a task submitted or approved is never escalated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.actions.base import Services
from bot.actions.notices import SYSTEM, issue_notice
from bot.core.chinese import day_text
from bot.core.messages import Push, Reply
from bot.core.views import PersonView, PlanView, TaskView, UrgeView
from bot.core.workdays import add_workdays
from bot.store.reminders import Claim, LedgerEntry

NOTICE, ESCALATION = "notice", "escalation"
AUTO = "auto"  # the channel the audit log and the urge record name for what the sweep did by itself


@dataclass(frozen=True)
class Step:
    """One automatic step for one task: a 督办单 to its unit, or an escalation to one of its unit's leaders."""

    kind: str  # notice | escalation
    plan: PlanView
    task: TaskView
    day: dt.date  # the day it falls due
    stage: str  # overdue (stood still this many workdays) | urged (urged this many times since it last moved)
    urges: int  # urges since the task last moved
    recipient: PersonView | None = None  # the leader, for an escalation

    @property
    def key(self) -> str:
        """Return its ledger key: once per task and deadline in force (and per leader)."""
        base = f"{self.kind}:{self.plan.id}:{self.task.no}@{self.task.deadline:%Y%m%d}"
        return f"{base}:{self.recipient.key}" if self.recipient is not None else base

    @property
    def recipient_key(self) -> str:
        """Return who the ledger names: the leader, or the unit a notice goes to."""
        return self.recipient.key if self.recipient is not None else f"unit:{self.task.lead}"


class Escalations:
    """Compute the ladder's automatic steps, send the due ones once, and preview them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self._known: tuple[dt.date | None, set[str]] = (None, set())  # keys seen in the ledger today

    async def steps(self) -> list[Step]:
        """Return every step of every open task of the active plans, each with the day it falls due.

        Tasks come from the read model (every tick asks; they are in memory until something is written), urges
        and leaders with one query each.
        """
        s, tz, reads = self.settings, self.settings.tz, self.services.reads
        leaders: dict[str, list[PersonView]] = {}
        for p in await self.store.people.leaders():
            leaders.setdefault(p.unit or "", []).append(p)
        urged: dict[tuple[int, int], list[UrgeView]] = {}
        for u in await self.store.urges.all():
            urged.setdefault((u.plan_id, u.task_no), []).append(u)
        later: dict[tuple[dt.date, int], dt.date] = {}  # deadlines repeat: each (day, workdays) worked out once

        def after(day: dt.date, workdays: int) -> dt.date:
            if (found := later.get((day, workdays))) is None:
                found = later[(day, workdays)] = add_workdays(day, workdays)
            return found

        out: list[Step] = []
        for plan in await reads.active_plans():
            for t in await reads.tasks(plan.id):
                if not t.status.is_open:
                    continue
                moved = t.updated_at
                anchor = max(t.deadline, moved.astimezone(tz).date()) if moved is not None else t.deadline
                since = [u for u in urged.get((plan.id, t.no), []) if moved is None or u.at > moved]
                out.append(Step(NOTICE, plan, t, after(anchor, s.notice_overdue_workdays), "overdue", len(since)))
                day, stage = after(anchor, s.escalate_overdue_workdays), "overdue"
                if s.escalate_urges > 0 and len(since) >= s.escalate_urges:
                    urged_on = since[s.escalate_urges - 1].at.astimezone(tz).date()
                    if urged_on < day:
                        day, stage = urged_on, "urged"
                out += [Step(ESCALATION, plan, t, day, stage, len(since), leader) for leader in leaders.get(t.lead, [])]
        return out

    async def sweep(self, now: dt.datetime) -> int:
        """Send every step due by `now` that the ledger does not have yet; return how many went out."""
        today, utcnow = now.astimezone(self.settings.tz).date(), now.astimezone(dt.UTC)
        if self._known[0] != today:
            self._known = (today, set())
        known = self._known[1]
        catch_start = today - dt.timedelta(days=self.settings.catch_up_days)
        due = [st for st in await self.steps() if st.day <= today and self._send_at(st.day) <= now
               and st.key not in known and (st.kind == ESCALATION or st.day >= catch_start)]
        if not due:
            return 0
        known.update(await self.store.reminders.known([st.key for st in due]))
        liaisons: dict[str, list[PersonView]] = {}
        for p in await self.store.people.liaisons():
            liaisons.setdefault(p.unit or "", []).append(p)
        sent = 0
        for st in (st for st in due if st.key not in known):
            if st.kind == NOTICE:
                if not liaisons.get(st.task.lead):
                    continue  # nobody to send it to yet: it goes out once the unit has a liaison (within the window)
                [won] = await self.store.reminders.claim_and_enqueue([Claim([self._entry(st)], [])], utcnow)
                if won:
                    await issue_notice(self.services, st.plan, st.task, st.task.lead, by=SYSTEM, channel=AUTO,
                                       liaisons=liaisons[st.task.lead])
            else:
                assert st.recipient is not None
                push = Push(st.recipient.chat, Reply(escalation_text(st, self.settings.escalate_overdue_workdays)),
                            dedupe_key=st.key, tags=("escalation",))
                [won] = await self.store.reminders.claim_and_enqueue([Claim([self._entry(st)], [push])], utcnow)
            known.add(st.key)
            sent += won
        return sent

    async def preview(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """List the steps that would go out from `start` to `end` (an escalation already due shows on `start`, a
        notice only within the catch-up window); send nothing."""
        catch_start = start - dt.timedelta(days=self.settings.catch_up_days)
        steps = [st for st in await self.steps()
                 if st.day <= end and (st.kind == ESCALATION or st.day >= catch_start)]
        known = await self.store.reminders.known([st.key for st in steps]) if steps else set()
        rows = []
        for st in steps:
            if st.key in known:
                continue
            day = max(st.day, start)
            rows.append({"kind": st.kind, "at": self._send_at(day).isoformat(), "plan": st.plan.key,
                         "task": st.task.no, "title": st.task.short_title(), "stage": st.stage,
                         "period": st.task.deadline.isoformat(), "due": st.task.deadline.isoformat(),
                         "unit": st.task.lead, "role": "leader" if st.recipient is not None else "lead",
                         "recipient": st.recipient.key if st.recipient is not None else "",
                         "recipient_name": st.recipient.display if st.recipient is not None else ""})
        return rows

    def _entry(self, st: Step) -> LedgerEntry:
        return LedgerEntry(st.key, st.plan.id, st.task.no, st.task.deadline.isoformat(), st.kind, st.recipient_key,
                           self._send_at(st.day))

    def _send_at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.settings.reminder_time, tzinfo=self.settings.tz)


def escalation_text(st: Step, overdue_workdays: int) -> str:
    """Tell a leader why a task of their unit reaches them, and what they can do."""
    t = st.task
    why = (f"已催办{st.urges}次仍无新进展" if st.stage == "urged"
           else f"已逾期{overdue_workdays}个工作日以上且无新进展")
    evidence = f"，材料 {t.evidence_done}/{len(t.items)}" if t.items else ""
    return "\n".join([f"【督办升级】{t.lead}牵头的任务{t.no}《{t.short_title(30)}》{why}，请您督促落实。",
                      f"截止{day_text(t.deadline)}，状态：{t.status.label}{evidence}。",
                      f"可发送「/批示 {t.no} 意见」写批示，联络员和节水办会看到；发送「任务{t.no}」查看详情。"])

