"""Plan value objects: what a task-division table says, independent of how it is stored."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Recurrence(StrEnum):
    """How often a task's work repeats inside its deadline (reminders go out per period)."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


@dataclass(frozen=True)
class Target:
    """A quantitative target written in a task's text, e.g. 不少于4次 or 覆盖率达到32%."""

    phrase: str  # the words exactly as in the text, e.g. "不少于4次"
    value: float  # 4, 32, 90 ...
    unit: str  # "次", "家", "%", "个", "km" ...
    comparison: str = "at_least"  # at_least | more_than | exactly


@dataclass(frozen=True)
class EvidenceItemSpec:
    """One numbered document of an evidence list, e.g. (3)《坪山区计划用水通知单》."""

    no: int
    title: str


@dataclass(frozen=True)
class TaskSpec:
    """A numbered row of the plan, as the table states it."""

    no: int
    lead: str  # canonical unit name
    text: str
    deadline_raw: str  # "2023.9", "2023.10", "2023.11", "全年"
    deadline: dt.date
    cooperating: tuple[str, ...] = ()  # canonical unit names; empty when the cell is "/"
    evidence: tuple[EvidenceItemSpec, ...] = ()  # for a shared list: the whole list, same on both tasks
    evidence_shared_with: tuple[int, ...] = ()  # task numbers that share this task's evidence list
    recurrence: Recurrence | None = None
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class NoteSpec:
    """A 备注 at the end of the table and the tasks it explains."""

    no: int
    text: str
    tasks: tuple[int, ...]


@dataclass(frozen=True)
class PlanSpec:
    """A whole task-division table: one district's plan for one year."""

    key: str  # stable identifier, e.g. "pingshan-2023"
    title: str
    attachment: str  # e.g. "附件2"
    year: int
    tasks: tuple[TaskSpec, ...]
    notes: tuple[NoteSpec, ...] = ()
    district: str = ""
    source: str = field(default="", compare=False)  # the file it was read from, for messages
    checkin: Recurrence | None = Recurrence.MONTHLY  # how often lead units report progress (进展报送); None: never


def deadline_from_raw(raw: str, year: int) -> dt.date:
    """Turn a deadline as written ("2023.9", "全年") into the last day it allows.

    Raises ValueError on anything else; callers turn that into a Chinese message naming the field.
    """
    text = raw.strip().replace(" ", "")
    if text == "全年":
        return dt.date(year, 12, 31)
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(raw)
    y, m = int(parts[0]), int(parts[1])
    if not 1 <= m <= 12 or not 2000 <= y <= 2100:
        raise ValueError(raw)
    return dt.date(y, m, calendar.monthrange(y, m)[1])
