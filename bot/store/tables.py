"""SQLModel tables. Rows never leave `bot.store`: repositories turn them into plain values.

Instants are stored as aware UTC (SQLModel >= 0.0.45 enforces it); dates of deadlines are plain dates.
Unit names are the registry's canonical names, stored as text, so a registry edit needs no migration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Plan(SQLModel, table=True):
    """One task-division table (a district, a year)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    title: str
    attachment: str = ""
    year: int
    district: str = ""
    imported_at: dt.datetime
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})  # archived: no longer served
    checkin: str = Field(default="monthly", sa_column_kwargs={"server_default": "monthly"})  # monthly|quarterly|none


class EvidenceList(SQLModel, table=True):
    """A numbered list of evidence documents; one list may serve two tasks (a merged cell)."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    key: str  # "10+11" for a shared list, "12" otherwise


class EvidenceItem(SQLModel, table=True):
    """One numbered document of an evidence list."""

    __table_args__ = (UniqueConstraint("list_id", "no"),)
    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="evidencelist.id", index=True)
    no: int
    title: str
    # A coordinator's return, shown as 已退回：原因 until a new file arrives for the item (migration 0016).
    returned_reason: str = Field(default="", sa_column_kwargs={"server_default": ""})
    returned_at: dt.datetime | None = None


class Task(SQLModel, table=True):
    """A numbered row of a plan, with its progress."""

    __table_args__ = (UniqueConstraint("plan_id", "no"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    no: int
    lead: str = Field(index=True)
    text: str
    deadline_raw: str
    deadline: dt.date
    recurrence: str | None = None
    targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    evidence_list_id: int | None = Field(default=None, foreign_key="evidencelist.id", index=True)
    status: str = "not_started"  # not_started | in_progress | submitted | approved | returned
    progress: float | None = None  # count toward the first numeric target
    status_note: str = ""  # reason given on return
    updated_at: dt.datetime | None = None
    deadline_extended: dt.date | None = None  # the approved 延期 in force; `deadline` stays the plan's
    carried_from: int | None = None  # the id of the earlier plan's task this continues (see migration 0014)


class Extension(SQLModel, table=True):
    """A 延期申请: a lead unit asks to move a task's deadline; a coordinator approves or rejects it."""

    __table_args__ = (Index("ix_extension_task", "plan_id", "task_no"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    task_no: int
    unit: str
    requested_by: str  # person key
    requested_at: dt.datetime
    deadline_from: dt.date  # the deadline in force when asked
    deadline_to: dt.date
    reason: str
    status: str = "pending"  # pending | approved | rejected
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_note: str = ""


class ProgressNote(SQLModel, table=True):
    """A 阶段性进展: what a unit reports it has done on a task so far, in its own words."""

    __table_args__ = (Index("ix_progressnote_task", "plan_id", "task_no"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    task_no: int
    unit: str
    author: str  # person key
    author_name: str = ""
    text: str
    at: dt.datetime


class Urge(SQLModel, table=True):
    """One 催办 of one task: who, when, through which channel ("auto" for the sweep's 督办单), and its kind.

    A unit urged about several tasks at once is a row per task: each task counts the urge.
    """

    __table_args__ = (Index("ix_urge_task", "plan_id", "task_no"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    task_no: int
    unit: str
    by: str  # person key, or "system"
    channel: str
    kind: str = "urge"  # urge | notice (a numbered 督办单 went with it)
    at: dt.datetime


class Notice(SQLModel, table=True):
    """A 督办通知单: numbered per plan without gaps (〔year〕第n号), with what it said when it was issued."""

    __table_args__ = (UniqueConstraint("plan_id", "number"), Index("ix_notice_task", "plan_id", "task_no"))
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    number: int
    task_no: int
    unit: str
    issued_by: str  # person key, or "system"
    channel: str
    issued_at: dt.datetime
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))  # rendered as .docx on demand


class TaskUnit(SQLModel, table=True):
    """A unit's part in a task: the lead or a cooperating unit (indexed for "my unit's tasks")."""

    __table_args__ = (Index("ix_taskunit_unit", "unit", "task_id"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    unit: str
    role: str  # lead | cooperating


class Note(SQLModel, table=True):
    """A 备注 of the plan and the task numbers it explains."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    no: int
    text: str
    task_nos: list[int] = Field(default_factory=list, sa_column=Column(JSON))


class Person(SQLModel, table=True):
    """Someone who talks to duban, known by their channel's realm (bot.core.messages.realm); a liaison speaks for
    one unit."""

    __table_args__ = (UniqueConstraint("channel", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    user_id: str
    name: str = ""
    coordinator: bool = False
    unit: str | None = Field(default=None, index=True)
    chat_id: str | None = None  # the private chat to push to (equal to user_id on most platforms)
    unreachable_since: dt.datetime | None = None
    unreachable_reason: str = ""
    created_at: dt.datetime
    via: str = ""  # the channel of their last private message, where pushes go ("wecom" or "wecom-bot")
    leader: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})  # 分管领导 of `unit`


class DeskSession(SQLModel, table=True):
    """A sign-in to the desk: the cookie carries only `id`, so ending the row ends every copy of the cookie."""

    id: str = Field(primary_key=True)  # a random token
    person: str = Field(index=True)  # person key channel:user_id
    created_at: dt.datetime
    last_seen_at: dt.datetime
    ended_at: dt.datetime | None = None
    end_reason: str = ""  # logout | removed | role | idle | expired | ended (by an administrator)


class Invite(SQLModel, table=True):
    """A single-use code that makes its user a liaison of `unit`."""

    code: str = Field(primary_key=True)
    unit: str
    leader: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})  # binds a 分管领导
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_by: str | None = None
    used_at: dt.datetime | None = None


class BindFailure(SQLModel, table=True):
    """A wrong invite code, kept to throttle guessing."""

    id: int | None = Field(default=None, primary_key=True)
    person: str = Field(index=True)
    at: dt.datetime


class EvidenceFile(SQLModel, table=True):
    """A file given for an evidence item; the bytes live content-addressed under the state directory."""

    # The same bytes are in force at most once per item, even when two uploads race (withdrawn rows stay as history).
    __table_args__ = (Index("uq_evidencefile_item_sha256_in_force", "item_id", "sha256", unique=True,
                            sqlite_where=text("withdrawn_at IS NULL"), postgresql_where=text("withdrawn_at IS NULL")),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="evidenceitem.id", index=True)
    sha256: str = Field(index=True)
    size: int
    file_name: str
    mime_type: str = ""
    unit: str
    uploaded_by: str  # person key channel:user_id
    uploaded_at: dt.datetime
    withdrawn_at: dt.datetime | None = None
    withdrawn_by: str | None = None
    returned_reason: str = Field(default="", sa_column_kwargs={"server_default": ""})  # out of force by a return


class Audit(SQLModel, table=True):
    """Every change: who, when, what, from which channel."""

    __table_args__ = (Index("ix_audit_plan_task", "plan_id", "task_no"),)  # a task's history on the desk
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    actor: str
    channel: str
    action: str
    plan_id: int | None = None
    task_no: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class QuestionRow(SQLModel, table=True):
    """A question duban asked with choices; buttons carry its token, so they survive restarts and can be checked."""

    __tablename__ = "pending"  # type: ignore[assignment]

    token: str = Field(primary_key=True)
    person: str = Field(index=True)
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None


class Subscription(SQLModel, table=True):
    """A group chat that receives scheduled digests."""

    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    chat_id: str
    title: str = ""
    created_by: str
    created_at: dt.datetime


class OutboxRow(SQLModel, table=True):
    """A proactive message waiting to be sent, sent, or failed; nothing pushed is lost in memory."""

    __tablename__ = "outbox"  # type: ignore[assignment]

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)
    channel: str = Field(index=True)
    chat_id: str
    chat_kind: str = "private"
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    status: str = Field(default="pending", index=True)  # pending | sending | sent | failed | unreachable
    attempts: int = 0
    next_attempt_at: dt.datetime
    claimed_by: str | None = None
    claimed_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    error: str = ""
    created_at: dt.datetime


class ReminderLedger(SQLModel, table=True):
    """One reminder (task, period, stage, recipient): claimed once, then sent, missed or skipped."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    plan_id: int
    task_no: int
    period: str
    stage: str
    recipient: str  # person key
    due_at: dt.datetime = Field(index=True)  # a sweep looks up the keys due in its window by this
    status: str  # sent | missed | skipped
    claimed_by: str
    claimed_at: dt.datetime
    outbox_key: str = ""


class Snooze(SQLModel, table=True):
    """A liaison's 稍后提醒: no reminders for this task until `until`."""

    __table_args__ = (UniqueConstraint("person", "plan_id", "task_no"),)
    id: int | None = Field(default=None, primary_key=True)
    person: str
    plan_id: int
    task_no: int
    until: dt.date


class Robot(SQLModel, table=True):
    """A WeCom group robot webhook, addressed as channel "wecom-robot" with chat_id = name."""

    name: str = Field(primary_key=True)
    key: str
    created_by: str
    created_at: dt.datetime


class SeenMessage(SQLModel, table=True):
    """An inbound message id already handled (WeCom retries callbacks)."""

    key: str = Field(primary_key=True)
    at: dt.datetime


class IntakeRow(SQLModel, table=True):
    """A message a platform handed us, kept before we acknowledged it and until it is handled: a crash loses none.

    `id` orders a chat's messages (handled in arrival order, also when replayed after a restart); `key` is the
    platform's id of the delivery (Telegram update_id, WeCom MsgId), so a redelivery is recognised and dropped.
    """

    __tablename__ = "inbound"  # type: ignore[assignment]

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    channel: str = Field(index=True)
    chat: str  # the ChatRef key whose messages are handled one at a time, in order
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: dt.datetime
    handled_at: dt.datetime | None = Field(default=None, index=True)


class Lease(SQLModel, table=True):
    """Who may hold a resource only one process may use at a time (the WeCom bot's long connection).

    The holder renews `expires_at` while it lives; another process takes the row over once it has expired.
    """

    name: str = Field(primary_key=True)
    holder: str
    expires_at: dt.datetime


class ReadRevision(SQLModel, table=True):
    """One row whose `n` triggers bump on every write to what the read model caches (SQLite).

    PostgreSQL uses the sequence `duban_revision` instead (a single row would serialise every writer until its
    commit) and notifies `duban_changed`; see migration 0007 and `bot.readmodel`.
    """

    id: int | None = Field(default=None, primary_key=True)
    n: int = 0
