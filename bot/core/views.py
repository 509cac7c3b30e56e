"""Plain values the store returns: what handlers, reminders and exports read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core import checkins
from bot.core.checkins import Rhythm
from bot.core.clock import SHANGHAI
from bot.core.messages import ChatKind, ChatRef
from bot.core.plan import Recurrence, Target
from bot.core.workdays import add_workdays


class TaskStatus(StrEnum):
    """Completion states; `label` is the Chinese word every reply uses."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"

    @property
    def label(self) -> str:
        """Return the Chinese name of the state."""
        return _STATUS_LABELS[self]

    @property
    def is_open(self) -> bool:
        """Tell whether the unit still has work to do (not waiting for review, not done)."""
        return self not in (TaskStatus.SUBMITTED, TaskStatus.APPROVED)


_STATUS_LABELS = {
    TaskStatus.NOT_STARTED: "未开始",
    TaskStatus.IN_PROGRESS: "进行中",
    TaskStatus.SUBMITTED: "待审核",
    TaskStatus.APPROVED: "已完成",
    TaskStatus.RETURNED: "已退回",
}


class WarningLevel(StrEnum):
    """A task's traffic light (预警); `label` is the word shown beside the colour, never the colour alone."""

    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"

    @property
    def label(self) -> str:
        """Return 红, 黄 or 绿."""
        return {"red": "红", "yellow": "黄", "green": "绿"}[self.value]

    @property
    def marker(self) -> str:
        """Return the coloured dot with the word (🔴红): chat shows both."""
        return {"red": "🔴", "yellow": "🟡", "green": "🟢"}[self.value] + self.label


@dataclass(frozen=True)
class WarningRule:
    """The thresholds of the traffic light (settings: DUBAN_WARNING_DUE_DAYS, DUBAN_WARNING_RETURN_WORKDAYS)."""

    due_days: int = 14  # 黄 when due within this many days with evidence still missing
    return_workdays: int = 5  # 红 when a return is not resubmitted within this many workdays
    checkin_day: int = checkins.DEFAULT_DAY  # the day of the month progress is asked (DUBAN_CHECKIN_DAY)


DEFAULT_RULE = WarningRule()


@dataclass(frozen=True)
class FileView:
    """An evidence file as listed to users and exported."""

    id: int
    task_no: int
    item_no: int
    item_title: str
    file_name: str
    sha256: str
    size: int
    unit: str
    uploaded_by: str
    uploaded_at: dt.datetime
    mime_type: str = ""


@dataclass(frozen=True)
class ItemView:
    """An evidence item with how many files were received for it."""

    id: int
    no: int
    title: str
    files: int = 0  # files in force (a returned file is not)
    returned: str = ""  # the reason of a coordinator's return, until a new file arrives


@dataclass(frozen=True)
class ProgressNoteView:
    """A 阶段性进展 as shown in the task detail, the unit's digest and the 台账."""

    id: int
    task_no: int
    unit: str
    author: str
    author_name: str
    text: str
    at: dt.datetime

    def line(self, tz: dt.tzinfo = SHANGHAI) -> str:
        """Say the note with when and who: 10月20日 区教育局 李老师：已完成……"""
        at = self.at.astimezone(tz)
        return f"{at.month}月{at.day}日 {self.unit} {self.author_name}".rstrip() + f"：{self.text}"


@dataclass(frozen=True)
class Report:
    """A task's latest progress report (进展报送): when, and what it was (a note's words, a file, a figure)."""

    at: dt.datetime
    text: str

    def line(self, tz: dt.tzinfo = SHANGHAI) -> str:
        """Say it with its date: 10月20日 已完成……"""
        at = self.at.astimezone(tz)
        return f"{at.month}月{at.day}日 {self.text}"


@dataclass(frozen=True)
class ExtensionView:
    """A 延期申请 and what became of it."""

    id: int
    plan_id: int
    task_no: int
    unit: str
    requested_by: str
    requested_at: dt.datetime
    deadline_from: dt.date
    deadline_to: dt.date
    reason: str
    status: str  # pending | approved | rejected
    decided_by: str | None = None
    decision_note: str = ""

    @property
    def status_label(self) -> str:
        """Return the Chinese word for where the request stands."""
        return {"pending": "待批复", "approved": "已批准", "rejected": "未批准"}[self.status]


@dataclass(frozen=True)
class UrgeView:
    """A 催办 of a task as its history shows it."""

    plan_id: int
    task_no: int
    unit: str
    by: str
    channel: str
    kind: str  # urge | notice
    at: dt.datetime


@dataclass(frozen=True)
class UrgeCount:
    """How often a task was urged, and when last."""

    times: int
    last: dt.datetime

    def phrase(self, no: int, tz: dt.tzinfo = SHANGHAI) -> str:
        """Say it: 任务40此前已催办2次（最近一次10月21日）."""
        at = self.last.astimezone(tz)
        return f"任务{no}此前已催办{self.times}次（最近一次{at.month}月{at.day}日）"


@dataclass(frozen=True)
class NoticeView:
    """A 督办通知单 as issued: its number in the plan's year and the content it was rendered from."""

    id: int
    plan_id: int
    year: int
    number: int
    task_no: int
    unit: str
    issued_by: str
    issued_at: dt.datetime
    content: dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Return its number as documents write it: 〔2023〕第2号."""
        return f"〔{self.year}〕第{self.number}号"

    @property
    def file_name(self) -> str:
        """Return the name its .docx is sent and bundled under."""
        return f"督办通知单{self.label}（任务{self.task_no}）.docx"


@dataclass(frozen=True)
class Escalated:
    """A step up the ladder a task took: a 督办单 issued, or its unit's 分管领导 told (the digest's 督办升级 line)."""

    task_no: int
    what: str  # 督办单〔2023〕第1号 | 报分管领导
    at: dt.datetime


@dataclass(frozen=True)
class TaskView:
    """A task with its structure and current progress."""

    plan_id: int
    no: int
    lead: str
    text: str
    deadline_raw: str
    deadline: dt.date
    cooperating: tuple[str, ...]
    items: tuple[ItemView, ...]
    shared_with: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    recurrence: Recurrence | None = None
    status: TaskStatus = TaskStatus.NOT_STARTED
    progress: float | None = None
    status_note: str = ""
    updated_at: dt.datetime | None = None
    deadline_original: dt.date | None = None  # the plan's deadline once an extension moved `deadline`
    continues: tuple[int, int] | None = None  # (plan id, task no) of the earlier plan's task this one carries on
    latest_note: ProgressNoteView | None = None
    rhythm: Rhythm | None = None  # how often it reports progress; None when its own recurrence is its rhythm
    reported: frozenset[str] = frozenset()  # the months ("2023-10", Shanghai) with activity on it
    returned_at: dt.datetime | None = None  # its last return, when not resubmitted since
    submitted_at: dt.datetime | None = None  # its last submission for review
    approved_at: dt.datetime | None = None  # when it was approved (办结日期)
    last_report: Report | None = None  # its latest progress report of any kind

    def warning(self, today: dt.date, rule: WarningRule = DEFAULT_RULE) -> WarningLevel | None:
        """Return the task's traffic light on `today`: the one rule every view shows (None: waiting for review, done)."""
        light = self.light(today, rule)
        return light[0] if light else None

    def light(self, today: dt.date, rule: WarningRule = DEFAULT_RULE) -> tuple[WarningLevel, str] | None:
        """Return the traffic light on `today` with why, in Chinese (None: waiting for review, or done).

        红: overdue, or returned and not resubmitted within `rule.return_workdays` workdays.
        黄: returned; due within `rule.due_days` days with evidence missing; or no report last period when one was owed.
        绿: otherwise.
        """
        if not self.status.is_open:
            return None
        if self.deadline < today:
            return WarningLevel.RED, "已逾期"
        if self.returned_at is not None:
            if today >= self._return_red(rule):
                return WarningLevel.RED, f"退回后{rule.return_workdays}个工作日内未重新提交"
            return WarningLevel.YELLOW, "已退回，待重新提交"
        if (self.deadline - today).days <= rule.due_days and self.missing:
            return WarningLevel.YELLOW, f"{rule.due_days}天内到期，材料未齐"
        if self.unreported(today, rule, previous=True):
            return WarningLevel.YELLOW, "上期未报送进展"
        return WarningLevel.GREEN, ""

    def red_since(self, today: dt.date, rule: WarningRule = DEFAULT_RULE) -> dt.date | None:
        """Return the first day of the task's current 红 (None when it is not red on `today`).

        Each cause stays true until the task changes (a new deadline, a resubmission), so the spell began with the
        earliest cause in force: the day after the deadline, or the first day after a return's grace. An extension
        or a resubmission ends the spell; red again later is a new spell with a new first day (the 红灯 message's
        ledger key, bot.reminders.lights).
        """
        if not self.status.is_open:
            return None
        starts = [self.deadline + dt.timedelta(days=1)] if self.deadline < today else []
        if self.returned_at is not None and today >= (turned := self._return_red(rule)):
            starts.append(turned)
        return min(starts, default=None)

    def _return_red(self, rule: WarningRule) -> dt.date:
        """Return the first day a return not resubmitted makes the task red."""
        assert self.returned_at is not None
        return add_workdays(self.returned_at.astimezone(SHANGHAI).date(), rule.return_workdays) + dt.timedelta(days=1)

    def unreported(self, today: dt.date, rule: WarningRule = DEFAULT_RULE, *, previous: bool = False) -> bool:
        """Tell whether a report owed for this period (or, `previous`, the one before) has not come."""
        return self.reporting(today, rule, previous=previous) is False

    def reporting(self, today: dt.date, rule: WarningRule = DEFAULT_RULE, *, previous: bool = False) -> bool | None:
        """Tell whether the report owed for this period (or the one before) came; None when none was owed.

        A period before the plan reached duban owes nothing when looking back: nobody was asked then.
        """
        if self.rhythm is None:
            return None
        period = checkins.period_of(today, self.rhythm.every)
        if previous:
            period = checkins.previous_period(period)
        return self._reporting(period, rule, looking_back=previous)

    def unreported_periods(self, today: dt.date, rule: WarningRule = DEFAULT_RULE) -> int:
        """Count the past periods (this one excluded) whose owed report never came (未报送月数)."""
        if self.rhythm is None:
            return 0
        period, missed = checkins.period_of(today, self.rhythm.every), 0
        while checkins.checkin_day(period := checkins.previous_period(period), rule.checkin_day) >= self.rhythm.start:
            missed += self._reporting(period, rule, looking_back=True) is False
        return missed

    def _reporting(self, period: str, rule: WarningRule, *, looking_back: bool) -> bool | None:
        assert self.rhythm is not None
        if looking_back and not checkins.held_against(self.rhythm, period, rule.checkin_day):
            return None
        open_ = self.status.is_open
        if looking_back and not open_:  # it was open then unless it was submitted or approved by that check-in
            closed = self.approved_at if self.status is TaskStatus.APPROVED else self.submitted_at
            open_ = closed is None or closed.astimezone(SHANGHAI).date() > checkins.checkin_day(period, rule.checkin_day)
        if not checkins.owes(self.rhythm, self.deadline, open_, period, rule.checkin_day):
            return None
        return checkins.reported(self.reported, period)

    @property
    def evidence_done(self) -> int:
        """Count items that have at least one file."""
        return sum(1 for i in self.items if i.files)

    @property
    def missing(self) -> tuple[ItemView, ...]:
        """Return the items still without a file."""
        return tuple(i for i in self.items if not i.files)

    def role_of(self, unit: str) -> str | None:
        """Return "lead", "cooperating" or None for a unit."""
        if unit == self.lead:
            return "lead"
        if unit in self.cooperating:
            return "cooperating"
        return None

    def short_title(self, width: int = 24) -> str:
        """Return the task text cut to a title-sized prefix."""
        text = self.text.split("。")[0].split("，")[0]
        return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class PlanView:
    """A plan's header."""

    id: int
    key: str
    title: str
    year: int
    attachment: str = ""
    district: str = ""
    tasks: int = 0
    active: bool = True
    checkin: Recurrence | None = Recurrence.MONTHLY  # how often its lead units report progress; None: never

    @property
    def short(self) -> str:
        """Return the plan's name without its year, district and the words every table has (节水典范城市建设)."""
        name = self.title.removeprefix(f"{self.year}年").removeprefix(self.district)
        for tail in ("工作任务分工表", "任务分工表", "分工表", "工作任务", "任务"):
            name = name.removesuffix(tail)
        return name or self.title

    @property
    def label(self) -> str:
        """Return how a plan is named beside others: its year and short name (2023年节水典范城市建设)."""
        return f"{self.year}年{self.short}"


@dataclass(frozen=True)
class PersonView:
    """Someone known to duban, with their role."""

    id: int
    channel: str
    user_id: str
    name: str = ""
    coordinator: bool = False
    unit: str | None = None
    chat_id: str | None = None
    unreachable_since: dt.datetime | None = None
    unreachable_reason: str = ""
    via: str = ""  # the channel they last wrote on in private ("wecom-bot" for a "wecom" person on the bot)
    leader: bool = False  # the 分管领导 of `unit`: sees its tasks, writes 批示, receives escalations; no liaison

    @property
    def key(self) -> str:
        """Return ``channel:user_id`` (the channel's realm: both WeCom channels say ``wecom:``)."""
        return f"{self.channel}:{self.user_id}"

    @property
    def chat(self) -> ChatRef:
        """Return the private chat to push to: on the channel they last wrote on."""
        return ChatRef(self.via or self.channel, self.chat_id or self.user_id, ChatKind.PRIVATE)

    @property
    def display(self) -> str:
        """Return a name to show to coordinators."""
        return self.name or self.user_id

    @property
    def role_text(self) -> str:
        """Say whom they speak for: 节水办, their unit, or 未绑定单位."""
        return "节水办" if self.coordinator else (self.unit or "未绑定单位")

    @property
    def label(self) -> str:
        """Name them as the desk and the exports do: 李老师（区教育局）."""
        return f"{self.display}（{self.role_text}）"


@dataclass(frozen=True)
class ImportResult:
    """What a plan import changed."""

    plan_key: str
    created: bool
    tasks_added: int = 0
    tasks_updated: int = 0
    tasks_unchanged: int = 0
    notes: int = 0


@dataclass(frozen=True)
class Question:
    """A question duban asked with choices, waiting for a button press: each button carries its token.

    Chat asks them (which file goes where, confirm a submission), reminders ask them (稍后提醒), notices ask
    them (批准 / 不批准); the store keeps them so buttons survive restarts and are checked when pressed.
    """

    token: str
    person: str
    kind: str
    payload: dict[str, object] = field(default_factory=dict)
