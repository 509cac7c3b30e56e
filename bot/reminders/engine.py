"""The sweep: what is due now, computed from the database, claimed in the ledger and handed to the outbox.

Each sweep reads the plans, the open tasks, the liaisons, the snoozes and the subscriptions, computes
every reminder whose send time has come within the catch-up window, and claims the ones the ledger
does not know yet: one message per person per day listing all of them, inserted with its ledger rows
and buttons atomically, a batch of people per transaction. Nothing is kept in the scheduler; a
restarted or second process computes the same keys and finds them taken. Reminders that fell due before the catch-up window are recorded as
missed and never sent.

The rhythm goes through the same ledger: the progress check-ins (进展报送, bot.reminders.checkins: a message per
liaison on the check-in day and the period's last workday, listing what their unit has not reported), the
digests, and the 月度通报 on each month's first workday to subscribed groups and coordinators.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from bot.actions.base import AppParts
from bot.config import Settings
from bot.core import checkins as rhythm
from bot.core.chinese import ROLE_LABEL, days_phrase, weekday_name
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, OutFile, Push, Reply
from bot.core.plan import Recurrence
from bot.core.views import PersonView, PlanView, TaskView
from bot.core.workdays import first_workday_of_month, next_workday
from bot.reminders.buttons import SNOOZE, UPLOAD, VIEW, Buttons
from bot.reminders.checkins import Checkin, checkin_text, rhythm_of
from bot.reminders.checkins import days as checkin_days
from bot.reminders.checkins import due as checkins_due
from bot.reminders.escalation import Escalations
from bot.reminders.lights import Lights
from bot.reminders.schedule import Occurrence, ReminderPolicy, Role, occurrences, period_deadlines
from bot.reports.digest import counted_from, digest_text, write_progress_chart
from bot.reports.monthly import monthly_report_text
from bot.store.reminders import SKIPPED, Claim, LedgerEntry, TaskSchedule
from bot.store.store import Store

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)
MISSED_DAYS = 30  # how far before the catch-up window a sweep looks for reminders to record as missed
MAX_LISTED = 15  # tasks listed in one message; the rest are counted
MAX_VIEW_BUTTONS = 5
REPORT_STAGE = "report-monthly"  # the ledger stage of a 月度通报
BATCH = 100  # people whose messages are claimed in one transaction (larger batches raise the peak: bench_sweep)


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    claimed: int = 0  # reminders (task, period, stage, recipient) handed to the outbox
    messages: int = 0  # reminder messages enqueued: at most one per person per day
    digests: int = 0  # digests enqueued (text and chart), one per subscribed chat
    missed: int = 0  # reminders newly recorded as missed: due before the catch-up window
    lost: int = 0  # messages another process claimed first (it sends them)
    deferred: int = 0  # reminders held to tomorrow: the person already had today's message
    snoozed: int = 0  # reminders held by a 稍后提醒
    checkins: int = 0  # check-in messages enqueued (进展报送): at most one per liaison per day
    reports: int = 0  # monthly reports enqueued (月度通报), one per subscribed chat and coordinator
    escalated: int = 0  # 督办单 sent by themselves and escalations to 分管领导 (bot.reminders.escalation)
    red: int = 0  # 红灯 messages enqueued: a task turning red tells its lead unit's liaisons (bot.reminders.lights)
    leader_weekly: int = 0  # weekly 红/黄 summaries enqueued, one per 分管领导 whose unit has any

    def summary(self) -> str:
        """Say in Chinese what the sweep did (only what happened)."""
        parts = [f"新登记提醒{self.claimed}条（合并为{self.messages}条消息）" if self.claimed else "",
                 f"进展报送{self.checkins}条消息" if self.checkins else "",
                 f"简报{self.digests}份" if self.digests else "",
                 f"月度通报{self.reports}份" if self.reports else "",
                 f"记为错过{self.missed}条（停机期间到期、超过补发期限，不再发送）" if self.missed else "",
                 f"因「稍后提醒」暂缓{self.snoozed}条" if self.snoozed else "",
                 f"今天已发过提醒、顺延到明天{self.deferred}条" if self.deferred else "",
                 f"{self.lost}条消息已由另一个进程登记" if self.lost else "",
                 f"自动督办单和督办升级{self.escalated}条" if self.escalated else "",
                 f"红灯预警{self.red}条" if self.red else "",
                 f"分管领导每周红黄灯汇总{self.leader_weekly}份" if self.leader_weekly else ""]
        return "；".join(p for p in parts if p) or "没有新到期的提醒或简报"


class Due(NamedTuple):
    """One reminder for one recipient (None in a preview of a unit nobody is bound to yet).

    A named tuple rather than a frozen dataclass: a sweep over 100 plans builds tens of thousands.
    """

    plan: PlanView
    task: TaskSchedule
    unit: str
    role: Role
    occurrence: Occurrence
    recipient: PersonView | None
    key: str

    def entry(self) -> LedgerEntry:
        """Return the ledger entry that claims this reminder."""
        o, person = self.occurrence, self.recipient
        return LedgerEntry(self.key, self.plan.id, self.task.no, o.period, o.stage,
                           person.key if person is not None else "", o.at)

    @property
    def recipient_key(self) -> str:
        """Return the person key, or "" when the unit has no liaison."""
        return self.recipient.key if self.recipient is not None else ""


@dataclass(frozen=True)
class Snapshot:
    """What a sweep reads from the database, once (a few queries, whatever the number of plans)."""

    plans: list[PlanView]
    tasks: dict[int, list[TaskSchedule]]  # open tasks only
    liaisons: dict[str, list[PersonView]]
    snoozes: dict[tuple[str, int, int], dt.date]
    subscriptions: list[ChatRef]
    digest_plans: list[PlanView]  # the plans whose digests go to subscribed groups


@dataclass
class _Cache:
    """Keys known to be in the ledger (they never leave it), forgotten when the day changes."""

    day: dt.date | None = None
    keys: set[str] = field(default_factory=set)


def message_key(recipient: str, day: dt.date) -> str:
    """Return the outbox key of a person's reminder message of a day (there is at most one)."""
    return f"remind:{recipient}:{day.isoformat()}"


def checkin_key(recipient: str, day: dt.date) -> str:
    """Return the outbox key of a liaison's check-in message of a day (there is at most one)."""
    return f"checkin:{recipient}:{day.isoformat()}"


def report_key(plan_id: int, month: str, chat: ChatRef) -> str:
    """Return the ledger (and outbox) key of a plan's monthly report on `month` ("2023-10") to a chat."""
    return f"report:{plan_id}:{month}:{chat.key()}"


def digest_key(plan_id: int, day: dt.date, chat: ChatRef) -> str:
    """Return the ledger (and outbox) key of a plan's digest to a chat on a day."""
    return f"digest:{plan_id}:{day.isoformat()}:{chat.key()}"


def policy_from(settings: Settings) -> ReminderPolicy:
    """Build the reminder policy from the settings."""
    return ReminderPolicy(offsets_days=settings.offsets(), cooperating_offsets_days=settings.offsets(True),
                          send_time=settings.reminder_time, tz=settings.tz)


class ReminderEngine:
    """Compute what is due from the database, claim it in the ledger, and enqueue it."""

    def __init__(self, store: Store, clock: Clock, settings: Settings, *, missed_days: int = MISSED_DAYS,
                 batch: int = BATCH, escalations: Escalations | None = None, lights: Lights | None = None) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.policy = policy_from(settings)
        self.tz = settings.tz
        self.missed_days = missed_days
        self.batch = batch
        self.ledger = store.reminders
        self._known = _Cache()
        self._missed_checked: dt.date | None = None
        self.escalations = escalations  # the ladder's automatic steps, swept and previewed with the reminders
        self.lights = lights  # the 红灯 messages and the leaders' weekly summaries, swept and previewed with them
        self._read: dict[int, list[TaskView]] = {}  # plans' full tasks read during the sweep under way

    @classmethod
    def for_app(cls, app: AppParts) -> ReminderEngine:
        """Build the engine from an application's parts."""
        return cls(app.store, app.clock, app.settings, escalations=Escalations(app.services),
                   lights=Lights(app.services))

    # ---- the sweep ----------------------------------------------------------------------------
    async def sweep(self, now: dt.datetime | None = None) -> SweepResult:
        """Claim and enqueue every reminder, check-in, digest and monthly report due by `now` (default: the clock)
        that nobody claimed yet; then the ladder's automatic steps."""
        self._read = {}
        try:
            with _collector_paused():
                result = await self._sweep(now)
        finally:
            self._read = {}
        now = (now or self.clock.now()).astimezone(self.tz)
        if self.escalations is not None:
            # Outside the paused collector: a 督办单's Word document is built from objects with reference cycles.
            escalated = await self.escalations.sweep(now)
            if escalated:
                log.info("escalation sweep: %d", escalated)
            result = dataclasses.replace(result, escalated=escalated)
        if self.lights is not None:
            red, weekly = await self.lights.sweep(now)
            if red or weekly:
                log.info("lights sweep: %d red, %d leader summaries", red, weekly)
            result = dataclasses.replace(result, red=red, leader_weekly=weekly)
        return result

    async def _sweep(self, now: dt.datetime | None) -> SweepResult:
        now = (now or self.clock.now()).astimezone(self.tz)
        today, utcnow = now.date(), now.astimezone(dt.UTC)
        if self._known.day != today:
            self._known = _Cache(today)
        catch_start = today - dt.timedelta(days=self.settings.catch_up_days)
        snap = await self._snapshot(active_after=today)

        missed = await self._record_missed(snap, now, catch_start) if self._missed_checked != today else 0

        due = self._due(snap, catch_start, today, now, skip=self._known.keys)
        held = [d for d in due if self._snoozed(snap, d, today)]
        wanted = [d for d in due if not self._snoozed(snap, d, today)]
        fresh = await self._unknown((d.key, d.occurrence.at) for d in wanted)
        by_person: dict[str, list[Due]] = {}
        for d in wanted:
            if d.key in fresh and d.recipient is not None:
                by_person.setdefault(d.recipient.key, []).append(d)
        already = await self.ledger.existing_pushes(message_key(p, today) for p in by_person) if by_person else set()
        deferred = sum(len(items) for p, items in by_person.items() if message_key(p, today) in already)
        # at most one message a day: the deferred go out tomorrow, in the catch-up window
        todo = {p: _by_task(items) for p, items in by_person.items() if message_key(p, today) not in already}
        views = await self._views({ref[0] for tasks in todo.values() for ref in islice(tasks, MAX_LISTED)})
        claimed = messages = lost = 0
        people = list(todo.items())
        for i in range(0, len(people), self.batch):
            # Messages are written a batch at a time: all of them at once (with every ledger entry) would hold
            # the sweep's peak memory up by as much again (bench/bench_sweep.py measures it).
            batch: list[tuple[list[Due], Claim]] = []
            for person_key, tasks in people[i:i + self.batch]:
                claim = self._message(by_person[person_key], tasks, views, today)
                if claim is not None:  # None: every listed task was re-imported away meanwhile; look again next tick
                    batch.append((by_person[person_key], claim))
            for (items, _), won in zip(batch, await self.ledger.claim_and_enqueue([c for _, c in batch], utcnow),
                                       strict=True):
                if won:
                    claimed += len(items)
                    messages += 1
                else:
                    # Another process claimed these keys, or already sent this person today's message with
                    # other items: either way nothing more today (what it did not list is caught up tomorrow).
                    lost += 1
                self._known.keys.update(d.key for d in items)

        checkins = await self._checkins(snap, now, catch_start, utcnow)
        digests = await self._digests(snap, now, catch_start, utcnow)
        reports = await self._monthly_reports(snap, now, catch_start, utcnow)
        result = SweepResult(claimed=claimed, messages=messages, digests=digests, missed=missed, lost=lost,
                             deferred=deferred, snoozed=len(held), checkins=checkins, reports=reports)
        if claimed or digests or missed or lost or checkins or reports:
            log.info("reminder sweep at %s: %s", now.isoformat(timespec="minutes"), result.summary())
        return result

    async def _record_missed(self, snap: Snapshot, now: dt.datetime, catch_start: dt.date) -> int:
        """Once a day, record as missed what fell due before the catch-up window while no sweep ran.

        The ledger remembers the last day a sweep looked; everything since that day's catch-up window
        started was possibly not sent. A database no sweep ever ran on has nothing missed (and the
        look never goes back more than `missed_days`).
        """
        today = now.date()
        last = await self.ledger.last_checked()
        old: list[Due] = []
        old_checkins: list[Checkin] = []
        if last is not None and last < today:
            start = max(last - dt.timedelta(days=self.settings.catch_up_days),
                        catch_start - dt.timedelta(days=self.missed_days))
            old = self._due(snap, start, catch_start - ONE_DAY, now, skip=self._known.keys)
            old_checkins = await self._checkins_due(snap, (start, catch_start - ONE_DAY), now, skip=self._known.keys)
        missed = 0
        if last != today:
            entries = [d.entry() for d in old] + [d.entry() for d in old_checkins]
            fresh = await self._unknown((e.key, e.due_at) for e in entries)
            missed = await self.ledger.record_missed([e for e in entries if e.key in fresh],
                                                     now.astimezone(dt.UTC), checked=today)
            self._known.keys.update(fresh)
        self._missed_checked = today
        return missed

    async def _unknown(self, wanted: Iterable[tuple[str, dt.datetime]]) -> set[str]:
        """Return the keys (with their due times) the ledger does not have yet, asking only about uncached ones."""
        ask = {key: at for key, at in wanted if key not in self._known.keys}
        if not ask:
            return set()
        present = await self.ledger.known(ask.keys(), (min(ask.values()), max(ask.values())))
        self._known.keys.update(present)
        return ask.keys() - present

    async def _views(self, plan_ids: Iterable[int]) -> dict[tuple[int, int], TaskView]:
        """Read the full tasks (text, evidence) of the plans a message or digest talks about, once a sweep: the
        reminders, the check-ins, the digests and the monthly report of one sweep share them."""
        views: dict[tuple[int, int], TaskView] = {}
        for plan_id in sorted(set(plan_ids)):
            if plan_id not in self._read:
                self._read[plan_id] = await self.store.plans.tasks(plan_id)
            for t in self._read[plan_id]:
                views[(plan_id, t.no)] = t
        return views

    @staticmethod
    def _message(items: Sequence[Due], listed: dict[tuple[int, int], Due], views: dict[tuple[int, int], TaskView],
                 today: dt.date) -> Claim | None:
        """Write a person's one message of the day listing their reminders, as a claim of them all (None: none left)."""
        person = items[0].recipient
        assert person is not None
        first = list(islice(listed.items(), MAX_LISTED))  # a liaison may have a hundred; the message lists these
        shown = [(d, views[ref]) for ref, d in first if ref in views]
        if not shown:
            return None
        buttons = Buttons(person.key)
        for d, _ in shown[:MAX_VIEW_BUTTONS]:
            buttons.ask(f"查看任务{d.task.no}", VIEW, {"plan": d.plan.id, "task": d.task.no})
        if any(view.items for _, view in shown):  # the answer skips tasks that need no evidence
            buttons.ask("上传材料", UPLOAD, {"tasks": [list(ref) for ref, _ in first]})
        buttons.ask("稍后提醒", SNOOZE, {"tasks": [list(ref) for ref in listed]})
        push = Push(person.chat, Reply(reminder_text(shown, today, total=len(listed)), choices=tuple(buttons.choices)),
                    dedupe_key=message_key(person.key, today), tags=("reminder",))
        return Claim([d.entry() for d in items], [push], buttons.questions)

    # ---- progress check-ins -------------------------------------------------------------------
    async def _checkins(self, snap: Snapshot, now: dt.datetime, catch_start: dt.date, utcnow: dt.datetime) -> int:
        """Claim and enqueue each liaison's check-in message of the day: their unit's tasks still unreported.

        Check-ins fallen due in the catch-up window are sent once, late, saying so; older ones were recorded as
        missed. A liaison whose check-in message of the day went out already gets what was found since tomorrow.
        """
        today = now.date()
        found = await self._checkins_due(snap, (catch_start, today), now, skip=self._known.keys)
        fresh = await self._unknown((d.key, d.at) for d in found)
        by_person: dict[str, list[Checkin]] = {}
        for c in found:
            if c.key in fresh and c.recipient is not None:
                by_person.setdefault(c.recipient.key, []).append(c)
        if not by_person:
            return 0
        already = await self.ledger.existing_pushes(checkin_key(p, today) for p in by_person)
        todo = [items for p, items in by_person.items() if checkin_key(p, today) not in already]
        views = await self._views({plan.id for items in todo for c in items for plan, _ in c.tasks})
        messages = 0
        for i in range(0, len(todo), self.batch):
            batch = [(items, claim) for items in todo[i:i + self.batch]
                     if (claim := self._checkin_message(items, views, today)) is not None]
            messages += sum(await self.ledger.claim_and_enqueue([c for _, c in batch], utcnow))
            self._known.keys.update(c.key for items, _ in batch for c in items)
        return messages

    async def _checkins_due(self, snap: Snapshot, window: tuple[dt.date, dt.date], now: dt.datetime, *,
                            unbound: bool = False, skip: set[str] | None = None) -> list[Checkin]:
        """List the check-ins of the window's days, reading the reports since its first period began (only then)."""
        start, end = window
        if end < start or not any(checkin_days(r, start, end, self.settings.checkin_day)
                                  for p in snap.plans if (r := rhythm_of(p)) is not None):
            return []
        reported = await self._reported(start)
        return checkins_due(snap.plans, snap.tasks, snap.liaisons, window, now, self._send_at, reported,
                            day_of_month=self.settings.checkin_day, unbound=unbound, skip=skip)

    async def _reported(self, start: dt.date) -> Callable[[int, int, str], bool]:
        """Return whether a task (plan id, number) reported in a period, from the reports since the quarter of `start`."""
        quarter = dt.date(start.year, (start.month - 1) // 3 * 3 + 1, 1)  # a quarter covers a month's period too
        months = await self.ledger.report_months(dt.datetime.combine(quarter, dt.time(), tzinfo=self.tz))

        def reported(plan_id: int, no: int, period: str) -> bool:
            return rhythm.reported(months.get((plan_id, no), ()), period)

        return reported

    def _checkin_message(self, items: Sequence[Checkin], views: dict[tuple[int, int], TaskView],
                         today: dt.date) -> Claim | None:
        """Write a liaison's check-in message of the day, as a claim of all its check-ins (None: none left to list)."""
        person = items[0].recipient
        assert person is not None
        listed: dict[tuple[int, int], tuple[Checkin, PlanView]] = {}
        for c in sorted(items, key=lambda c: c.at):  # one line a task: its latest stage
            for plan, task in c.tasks:
                listed[(plan.id, task.no)] = (c, plan)
        first = sorted(listed.items())[:MAX_LISTED]
        shown = [(c, plan, views[ref]) for ref, (c, plan) in first if ref in views]
        if not shown:
            return None
        buttons = Buttons(person.key)
        for _, plan, t in shown[:MAX_VIEW_BUTTONS]:
            buttons.ask(f"查看任务{t.no}", VIEW, {"plan": plan.id, "task": t.no})
        text = checkin_text(shown, today, self.tz, total=len(listed))
        push = Push(person.chat, Reply(text, choices=tuple(buttons.choices)), dedupe_key=checkin_key(person.key, today),
                    tags=("checkin",))
        return Claim([c.entry() for c in items], [push], buttons.questions)

    # ---- digests ------------------------------------------------------------------------------
    async def _digests(self, snap: Snapshot, now: dt.datetime, catch_start: dt.date, utcnow: dt.datetime) -> int:
        """Enqueue each plan's latest scheduled digest not yet sent to each subscribed chat."""
        return sum([await self._plan_digests(snap, plan, now, catch_start, utcnow) for plan in snap.digest_plans])

    async def _plan_digests(self, snap: Snapshot, plan: PlanView, now: dt.datetime, catch_start: dt.date,
                            utcnow: dt.datetime) -> int:
        """Enqueue the plan's latest scheduled digest not yet sent to each subscribed chat; older ones are skipped."""
        if not snap.subscriptions:
            return 0
        tasks = snap.tasks.get(plan.id, [])
        days = [(day, stage) for day in _days(catch_start, now.date())
                if (stage := self.digest_stage(day, plan, tasks)) and self._send_at(day) <= now]
        if not days:
            return 0
        (day, stage), older = days[-1], days[:-1]
        entries = {chat: self._digest_entry(plan, day, stage, chat) for chat in snap.subscriptions}
        superseded = [self._digest_entry(plan, d, s, chat) for d, s in older for chat in snap.subscriptions]
        fresh = await self._unknown((e.key, e.due_at) for e in [*entries.values(), *superseded])
        await self.ledger.record([e for e in superseded if e.key in fresh], SKIPPED, utcnow)
        todo = [chat for chat, e in entries.items() if e.key in fresh]
        if not todo:
            return 0
        today = now.date()
        views = list((await self._views([plan.id])).values())
        since = self._previous_digest(day, plan, tasks)
        text = digest_text(plan.title, views, today, rule=self.settings.warning_rule, since=since,
                           escalated=await self.store.notices.escalated(plan.id, counted_from(since)))
        chart = await write_progress_chart(self.settings.state_dir, plan.title, views, today)
        claims = [Claim([entries[chat]], [Push(chat, Reply(text), dedupe_key=entries[chat].key, tags=("digest",)),
                                          Push(chat, Reply("各单位完成情况图", file=OutFile("进度图.png", chart, is_image=True)),
                                               dedupe_key=f"{entries[chat].key}:chart", tags=("digest",))])
                  for chat in todo]
        won = await self.ledger.claim_and_enqueue(claims, utcnow)
        self._known.keys.update(entries[chat].key for chat in todo)
        return sum(won)

    # ---- the monthly report -----------------------------------------------------------------------
    async def _monthly_reports(self, snap: Snapshot, now: dt.datetime, catch_start: dt.date, utcnow: dt.datetime) -> int:
        """Enqueue last month's 月度通报 to every subscribed chat and every coordinator on the month's first workday.

        Once per plan, month and chat (the ledger, like digests); sent late within the catch-up window, else never.
        """
        today = now.date()
        day = first_workday_of_month(today.year, today.month)
        if not catch_start <= day <= today or self._send_at(day) > now or not snap.digest_plans:
            return 0
        month = f"{day.replace(day=1) - ONE_DAY:%Y-%m}"
        chats = list(dict.fromkeys([*snap.subscriptions, *(p.chat for p in await self.store.people.coordinators())]))
        sent = 0
        for plan in snap.digest_plans:
            entries = {chat: LedgerEntry(report_key(plan.id, month, chat), plan.id, 0, month, REPORT_STAGE,
                                         chat.key(), self._send_at(day)) for chat in chats}
            fresh = await self._unknown((e.key, e.due_at) for e in entries.values())
            todo = [chat for chat, e in entries.items() if e.key in fresh]
            if not todo:
                continue
            views = list((await self._views([plan.id])).values())
            text = monthly_report_text(plan.title, views, today, self.settings.warning_rule)
            chart = await write_progress_chart(self.settings.state_dir, plan.title, views, today)
            claims = [Claim([entries[chat]], [
                Push(chat, Reply(text), dedupe_key=entries[chat].key, tags=("report",)),
                Push(chat, Reply("各单位完成情况图", file=OutFile("进度图.png", chart, is_image=True)),
                     dedupe_key=f"{entries[chat].key}:chart", tags=("report",))]) for chat in todo]
            sent += sum(await self.ledger.claim_and_enqueue(claims, utcnow))
            self._known.keys.update(entries[chat].key for chat in todo)
        return sent

    def digest_stage(self, day: dt.date, plan: PlanView, tasks: Sequence[TaskSchedule]) -> str:
        """Name the digest due on `day` ("digest-monthly", "digest-weekly"), or "" when none is.

        Weekly: on the configured weekday, moved to the next working day when that is off.
        Monthly: on the first working day of a month in which an open task (or period) is due.
        """
        if day == first_workday_of_month(day.year, day.month) and _month_has_deadlines(day, plan, tasks):
            return "digest-monthly"
        nominal = day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=self.settings.digest_weekday)
        if day == next_workday(nominal):
            return "digest-weekly"
        return ""

    def _previous_digest(self, day: dt.date, plan: PlanView, tasks: Sequence[TaskSchedule]) -> dt.date:
        """Return the day of the plan's scheduled digest before `day` (a week before when none was within it)."""
        return next((d for d in (day - dt.timedelta(days=n) for n in range(1, 8)) if self.digest_stage(d, plan, tasks)),
                    day - dt.timedelta(days=7))

    def _digest_entry(self, plan: PlanView, day: dt.date, stage: str, chat: ChatRef) -> LedgerEntry:
        return LedgerEntry(digest_key(plan.id, day, chat), plan.id, 0, day.isoformat(), stage, chat.key(),
                           self._send_at(day))

    def _send_at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.policy.send_time.replace(tzinfo=None), tzinfo=self.tz)

    # ---- preview ------------------------------------------------------------------------------
    async def preview(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """List what would be sent from `start` to `end`, day by day as if nothing had been sent; send nothing.

        Task states and snoozes are today's, and so are the progress reports a check-in asks about (a month already
        reported is not asked); a unit with no liaison yet is listed with recipient "".
        """
        self._read = {}
        snap = await self._snapshot(active_after=None)
        views = await self._views(p.id for p in snap.plans)
        reported = await self._reported(start)
        coordinators = list(dict.fromkeys(p.chat for p in await self.store.people.coordinators()))
        seen: set[str] = set()
        rows: list[dict[str, Any]] = []
        catch_up = dt.timedelta(days=self.settings.catch_up_days)
        for day in _days(start, end):
            end_of_day = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=self.tz)
            for d in self._due(snap, max(start, day - catch_up), day, end_of_day, unbound=True):
                if d.key in seen or self._snoozed(snap, d, day):
                    continue
                seen.add(d.key)
                rows.append(self._preview_row(d, views.get((d.plan.id, d.task.no)), day))
            for c in checkins_due(snap.plans, snap.tasks, snap.liaisons, (day, day), end_of_day, self._send_at, reported,
                                  day_of_month=self.settings.checkin_day, unbound=True):
                for plan, task in c.tasks:
                    view = views.get((plan.id, task.no))
                    rows.append({"kind": "checkin", "at": c.at.isoformat(), "plan": plan.key, "task": task.no,
                                 "title": view.short_title() if view else "", "stage": c.stage, "period": c.period,
                                 "due": task.deadline.isoformat(), "unit": task.lead, "role": "lead",
                                 "recipient": c.recipient.key if c.recipient else "",
                                 "recipient_name": c.recipient.display if c.recipient else ""})
            for plan in snap.digest_plans:
                if day == first_workday_of_month(day.year, day.month):
                    for chat in [*snap.subscriptions, *coordinators]:
                        rows.append({"kind": "report", "at": self._send_at(day).isoformat(), "plan": plan.key,
                                     "task": None, "title": "月度通报", "stage": REPORT_STAGE,
                                     "period": f"{day.replace(day=1) - ONE_DAY:%Y-%m}", "due": None, "unit": "",
                                     "role": "group" if chat.kind is ChatKind.GROUP else "coordinator",
                                     "recipient": chat.key(), "recipient_name": ""})
                if not (stage := self.digest_stage(day, plan, snap.tasks.get(plan.id, []))):
                    continue
                for chat in snap.subscriptions:
                    rows.append({"kind": "digest", "at": self._send_at(day).isoformat(), "plan": plan.key,
                                 "task": None, "title": "进度简报", "stage": stage, "period": day.isoformat(),
                                 "due": None, "unit": "", "role": "group", "recipient": chat.key(),
                                 "recipient_name": ""})
        if self.escalations is not None:
            rows += await self.escalations.preview(start, end)
        if self.lights is not None:
            rows += await self.lights.preview(start, end)
        return sorted(rows, key=lambda r: (r["at"], r["recipient"], r["plan"], r["task"] or 0, r["unit"]))

    def _preview_row(self, d: Due, view: TaskView | None, day: dt.date) -> dict[str, Any]:
        o = d.occurrence
        at = o.at if o.at.date() == day else self._send_at(day)  # held by a snooze, caught up on `day`
        return {"kind": "reminder", "at": at.isoformat(), "plan": d.plan.key, "task": d.task.no,
                "title": view.short_title() if view else "", "stage": o.stage, "period": o.period,
                "due": o.due.isoformat(), "unit": d.unit, "role": d.role, "recipient": d.recipient_key,
                "recipient_name": d.recipient.display if d.recipient else ""}

    # ---- computation --------------------------------------------------------------------------
    async def _snapshot(self, active_after: dt.date | None) -> Snapshot:
        """Read everything a sweep needs, once."""
        plans = await self.store.plans.active_plans()  # newest import first; archived plans remind no one
        tasks: dict[int, list[TaskSchedule]] = {p.id: [] for p in plans}
        for t in await self.ledger.open_tasks():
            if t.plan_id in tasks:
                tasks[t.plan_id].append(t)
        liaisons: dict[str, list[PersonView]] = {}
        for person in await self.store.people.liaisons():
            if person.unit is not None:
                liaisons.setdefault(person.unit, []).append(person)
        # Digests are about the plans the chats work on: every active plan, or DUBAN_PLAN alone.
        digest_plans = [p for p in plans if p.key == self.settings.plan] if self.settings.plan else plans
        if self.settings.plan and not digest_plans:
            log.warning("DUBAN_PLAN=%s is not an active plan: no scheduled digests", self.settings.plan)
        return Snapshot(plans, tasks, liaisons, await self.ledger.snoozes(after=active_after),
                        await self.store.chats.subscriptions(), digest_plans)

    def _due(self, snap: Snapshot, start: dt.date, end: dt.date, now: dt.datetime, *,
             unbound: bool = False, skip: set[str] | None = None) -> list[Due]:
        """List every reminder of an open task sent on a day in [start, end] at or before `now`, per recipient.

        Keys in `skip` (known to be in the ledger) are left out before anything is built for them.
        """
        skip = skip or set()
        if end < start:
            return []
        cache: dict[tuple[Any, ...], list[Occurrence]] = {}
        recipients: dict[str, list[tuple[str, PersonView | None]]] = {}
        out: list[Due] = []
        window = (start, end)
        for plan in snap.plans:
            year_start = dt.date(plan.year, 1, 1)
            for task in snap.tasks.get(plan.id, []):
                roles: list[tuple[str, Role]] = [(task.lead, "lead")]
                roles += [(unit, "cooperating") for unit in task.cooperating]
                for unit, role in roles:
                    ck = (task.deadline, task.recurrence, role, year_start)
                    found = cache.get(ck)
                    if found is None:
                        found = [o for o in occurrences(task.deadline, task.recurrence, role, self.policy, window,
                                                        year_start) if o.at <= now]
                        cache[ck] = found
                    if not found:
                        continue
                    people = recipients.get(unit)
                    if people is None:
                        people = [(p.key, p) for p in snap.liaisons.get(unit, ())]
                        if not people and unbound:
                            people = [("", None)]
                        recipients[unit] = people
                    for o in found:
                        prefix = f"remind:{plan.id}:{task.key_part}:{o.period}:{o.stage}:"  # + recipient: one per reminder
                        for person_key, p in people:
                            key = prefix + person_key
                            if key not in skip:
                                out.append(Due(plan, task, unit, role, o, p, key))
        return out

    @staticmethod
    def _snoozed(snap: Snapshot, d: Due, day: dt.date) -> bool:
        if d.recipient is None or not snap.snoozes:
            return False
        until = snap.snoozes.get((d.recipient.key, d.plan.id, d.task.no))
        return until is not None and day < until


def reminder_text(shown: Sequence[tuple[Due, TaskView]], today: dt.date, *, total: int | None = None) -> str:
    """Write a person's reminder of the day: the tasks due for them, nearest deadline first, the rest counted."""
    total = len(shown) if total is None else total
    plans = {d.plan.id for d, _ in shown}
    lines = [f"【督办提醒】{today.month}月{today.day}日（{weekday_name(today)}），"
             f"以下{total}项任务请您跟进："]
    for n, (d, t) in enumerate(shown, 1):
        o = d.occurrence
        plan = f"《{d.plan.title}》" if len(plans) > 1 else ""
        period = f"{_period_text(o.period, t.recurrence)}，" if o.period else ""
        evidence = f" · 材料 {t.evidence_done}/{len(t.items)}" if t.items else ""
        mark = "⚠️" if o.due < today else f"{n}."
        lines.append(f"{mark} {plan}任务{t.no}（{ROLE_LABEL[d.role]}）{t.short_title(24)}")
        lines.append(f"   {period}截止{o.due.month}月{o.due.day}日，{days_phrase(o.due, today)}{evidence}"
                     f" · {t.status.label}")
    if total > len(shown):
        lines.append(f"……另有{total - len(shown)}项，发送 /due 查看全部。")
    lines.append("点击下方按钮查看任务、上传材料；暂时不便可点「稍后提醒」。")
    return "\n".join(lines)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold Python's cycle collector off while a sweep runs.

    A heavy day's sweep builds a great many objects (reminders, ledger entries, messages) that all live until it
    ends and form no reference cycles, so the collector's full passes over them find nothing and only cost time
    (bench/bench_sweep.py). Reference counting still frees everything as usual; the collector resumes when the
    sweep ends (left as it was if something else had paused it).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _by_task(items: Sequence[Due]) -> dict[tuple[int, int], Due]:
    """Order a person's reminders by deadline and keep each task once: its nearest deadline, latest stage."""
    best: dict[tuple[int, int], Due] = {}
    for d in items:
        ref = (d.plan.id, d.task.no)
        kept = best.get(ref)
        if kept is None or (d.occurrence.due, kept.occurrence.at) < (kept.occurrence.due, d.occurrence.at):
            best[ref] = d
    return dict(sorted(best.items(), key=lambda item: (item[1].occurrence.due, item[0])))


def _period_text(period: str, recurrence: Recurrence | None) -> str:
    if recurrence is Recurrence.QUARTERLY and "-Q" in period:
        return f"第{period.rsplit('Q', 1)[1]}季度报送"
    if "-" in period:
        return f"{int(period.rsplit('-', 1)[1])}月份报送"
    return period


def _month_has_deadlines(day: dt.date, plan: PlanView, tasks: Sequence[TaskSchedule]) -> bool:
    year_start = dt.date(plan.year, 1, 1)
    for t in tasks:
        if t.status.is_open and any((due.year, due.month) == (day.year, day.month)
                                    for _, due in period_deadlines(t.deadline, t.recurrence, year_start)):
            return True
    return False


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
