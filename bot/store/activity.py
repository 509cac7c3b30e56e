"""A task's history as the rhythm reads it: when it reported progress and whether a return is still unanswered.

Read from the audit log, which every change already writes: any note, file, /progress figure or submission is a
report for its month (进展报送); a return stands until the next submission.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from bot.core.clock import SHANGHAI
from bot.core.views import Report, TaskStatus
from bot.store.tables import Audit

SUBMITTED = f"task.{TaskStatus.SUBMITTED.value}"
RETURNED = f"task.{TaskStatus.RETURNED.value}"
APPROVED = f"task.{TaskStatus.APPROVED.value}"
REPORTS = ("task.note", "evidence.add", "task.progress", SUBMITTED)  # what counts as a task's report


@dataclass
class Activity:
    """What a task's history says: the months it reported in and its unanswered return."""

    months: set[str] = field(default_factory=set)
    returned_at: dt.datetime | None = None
    submitted_at: dt.datetime | None = None
    approved_at: dt.datetime | None = None
    last_report: Report | None = None

    @property
    def open_return(self) -> dt.datetime | None:
        """Return the last return when no submission followed it."""
        if self.returned_at is None or (self.submitted_at is not None and self.submitted_at > self.returned_at):
            return None
        return self.returned_at


async def task_activity(c: AsyncConnection, plan_id: int) -> dict[int, Activity]:
    """Return each task's activity of a plan (one query, on the connection the task read uses)."""
    rows = (await c.execute(sa_select(col(Audit.task_no), col(Audit.action), col(Audit.at), col(Audit.detail)).where(
        col(Audit.plan_id) == plan_id, col(Audit.action).in_((*REPORTS, RETURNED, APPROVED)))
        .order_by(col(Audit.id)))).all()
    out: dict[int, Activity] = {}
    for no, action, at, detail in rows:
        if no is None:
            continue
        at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)  # Core reads skip the UTC type on SQLite
        a = out.setdefault(no, Activity())
        if action == RETURNED:
            a.returned_at = at
        elif action == APPROVED:
            a.approved_at = at
        else:
            a.months.add(f"{at.astimezone(SHANGHAI):%Y-%m}")
            a.last_report = Report(at, _report_text(action, detail or {}))
            if action == SUBMITTED:
                a.submitted_at = at
    return out


def _report_text(action: str, detail: dict[str, Any]) -> str:
    """Say what a report was, for the 台账's 最近报送: the note itself, the file, the figure, or the submission."""
    if action == "task.note":
        return str(detail.get("text", ""))
    if action == "evidence.add":
        return f"上传材料{detail.get('item', '')}：{detail.get('file', '')}"
    if action == "task.progress":
        remark = detail.get("remark") or ""
        return f"登记进度 {detail.get('to')}" + (f"（{remark}）" if remark else "")
    return "报告完成，提交审核"


async def report_months(c: AsyncConnection, start: dt.datetime) -> dict[tuple[int, int], set[str]]:
    """Return the months ("2023-10") each task (plan id, task number) reported in since `start`, for every plan."""
    rows = (await c.execute(sa_select(col(Audit.plan_id), col(Audit.task_no), col(Audit.at)).where(
        col(Audit.at) >= start, col(Audit.action).in_(REPORTS)))).all()
    out: dict[tuple[int, int], set[str]] = {}
    for plan_id, no, at in rows:
        if plan_id is not None and no is not None:
            at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
            out.setdefault((plan_id, no), set()).add(f"{at.astimezone(SHANGHAI):%Y-%m}")
    return out
