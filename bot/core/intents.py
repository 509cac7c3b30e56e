"""What a free-text message asks for, from keywords and patterns (no model, no network)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core.chinese import CN_NUM, DateRange, cn_to_int, find_day, normalise, parse_date_range
from bot.core.units import Unit, UnitRegistry
from bot.core.views import PlanView


class Kind(StrEnum):
    """The things a message can ask for."""

    TASKS = "tasks"  # a list of tasks (mine, a unit's, this month's, overdue ...)
    TASK = "task"  # one task's detail
    FILES = "files"
    DIGEST = "digest"
    DELAY = "delay"  # 任务40申请延期到10月15日，因为…
    NOTE = "note"  # 任务41进展：…
    WHO = "who"  # 任务12谁负责
    MISSING_UNITS = "missing_units"  # 哪些单位还没交材料
    UNBOUND_UNITS = "unbound_units"  # 哪些单位还没有绑定联络员
    UNREPORTED_UNITS = "unreported_units"  # 哪些单位没报进展
    HELP = "help"
    NEXT_PAGE = "next_page"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Intent:
    """A parsed request."""

    kind: Kind
    task_no: int | None = None
    unit: Unit | None = None
    window: DateRange | None = None
    overdue: bool = False
    missing: bool = False
    role: str | None = None  # "lead" or "cooperating": only the tasks the unit leads, or only those it helps with
    yearlong: bool = False  # only the tasks whose deadline is 全年
    day: dt.date | None = None  # the new deadline a 延期 asks for
    text: str = ""  # a 延期's reason, a note's words
    unreported: bool = False  # only the tasks whose progress report for this period has not come (这个月要报什么)
    warning: str | None = None  # only the tasks of this traffic light: "red" (红灯任务) or "yellow"


_NUM = rf"(?<![0-9])([0-9]{{1,3}}(?![0-9])|[{CN_NUM}]{{1,4}})"  # 任务99999 names no task, not task 999
_TASK_NO = [
    re.compile(rf"(?:任务|第)\s*{_NUM}\s*(?:项|号|条)?"),
    re.compile(rf"{_NUM}\s*(?:号|项)\s*(?:任务)?"),
    re.compile(r"^\s*([0-9]{1,3})\s*$"),
]
_TASKS_WORDS = ("任务", "要交", "要完成", "到期", "截止", "要做", "工作", "什么", "哪些", "清单", "列表")
_MISSING_WORDS = ("还差", "缺", "没交", "未交", "未提交", "没提交", "材料")
_OVERDUE_WORDS = ("逾期", "超期", "过期", "延期", "已经过了", "没完成")
_HELP_WORDS = ("帮助", "怎么用", "能做什么", "会做什么", "使用说明", "你好", "您好", "菜单", "help")
_DIGEST_WORDS = ("汇总", "简报", "总体进度", "整体进度", "进度情况", "排名", "整体情况", "总体情况", "各单位进度",
                 "各单位的进度", "各单位情况")
_WHO_WORDS = ("谁负责", "谁牵头", "哪个单位负责", "哪个单位牵头", "谁在管", "谁管", "找谁", "负责人", "联络员是谁")
_WHICH_UNITS = ("哪些单位", "哪个单位", "哪几个单位", "什么单位", "各单位")
_NOT_BOUND_WORDS = ("没有绑定", "没绑定", "未绑定", "还没绑", "没有联络员", "没联络员", "无联络员")
_NOT_GIVEN_WORDS = ("没交", "未交", "没有交", "没提交", "未提交", "没有提交", "没上传", "未上传", "还差", "缺")
_DELAY = re.compile(r"(?:申请|要求|需要|想)\s*延期|延期\s*(?:到|至)|延迟\s*(?:到|至)|推迟\s*(?:到|至)")
_REASON = re.compile(r"(?:因为|由于|原因是?|理由是?)\s*[:：,，]?\s*")
_NOTE = re.compile(rf"^\s*(?:任务|第)?\s*{_NUM}\s*(?:号|项)?\s*(?:任务)?\s*(?:的)?\s*(?:阶段性)?(?:工作)?进展\s*[:：]\s*(.+)$",
                   re.S)
_FILES_WORDS = ("文件", "附件", "上传了")
_REPORT_WORDS = ("报进展", "报什么", "要报", "没报", "未报", "报送进展", "进展报送")
_WARNING_WORDS = {"red": ("红灯", "红色预警", "亮红"), "yellow": ("黄灯", "黄色预警", "亮黄")}


def task_number(text: str) -> int | None:
    """Find a task number written as 任务12, 12号任务, 第十二项, or a bare number."""
    for pattern in _TASK_NO:
        m = pattern.search(text)
        if m:
            n = cn_to_int(m.group(1))
            if n:
                return n
    return None


@functools.lru_cache(maxsize=4096)
def parse(text: str, *, today: dt.date, plan_year: int, units: UnitRegistry) -> Intent:
    """Read a message: which kind of answer it wants, about which task, unit and deadline window.

    Remembered per (text, day, plan year, registry): liaisons ask the same few questions all day, and reading
    one (normalising, unit mentions, dates) was the largest piece of an answered question. Intents are frozen
    and the registry is immutable, so sharing is safe.
    """
    t = normalise(text).lower()
    if not t:
        return Intent(Kind.HELP)
    if t in ("下一页", "下页", "更多", "继续", "next"):
        return Intent(Kind.NEXT_PAGE)
    missing = any(w in t for w in _MISSING_WORDS)
    no = task_number(t)
    if no is not None:
        return _about_task(text, t, no, missing, plan_year)
    reporting = any(w in t for w in _REPORT_WORDS)
    if any(w in t for w in _WHICH_UNITS):
        if any(w in t for w in _NOT_BOUND_WORDS):
            return Intent(Kind.UNBOUND_UNITS)
        if "材料" in t and any(w in t for w in _NOT_GIVEN_WORDS):
            return Intent(Kind.MISSING_UNITS)
        if reporting:
            return Intent(Kind.UNREPORTED_UNITS)
    unit = units.find_in_text(t)
    if reporting:  # 「这个月要报什么」 asks for progress reports, not for what is due this month
        return Intent(Kind.TASKS, unit=unit, role="lead", unreported=True)
    light = next((level for level, words in _WARNING_WORDS.items() if any(w in t for w in words)), None)
    if light is not None:
        return Intent(Kind.TASKS, unit=unit, warning=light)
    yearlong = "全年" in t
    window = None if yearlong else parse_date_range(t, today, plan_year)
    overdue = any(w in t for w in _OVERDUE_WORDS)
    if any(w in t for w in _DIGEST_WORDS) or (re.search(r"进度|进展|情况", t) and "怎么样" in t):
        return Intent(Kind.DIGEST, unit=unit)
    role = _role(t)
    if unit or window or overdue or missing or role or yearlong or any(w in t for w in _TASKS_WORDS):
        return Intent(Kind.TASKS, unit=unit, window=window, overdue=overdue, missing=missing, role=role,
                      yearlong=yearlong)
    if any(w in t for w in _HELP_WORDS):
        return Intent(Kind.HELP)
    return Intent(Kind.UNKNOWN)


def _about_task(raw: str, t: str, no: int, missing: bool, plan_year: int) -> Intent:
    """Read a message naming a task: a 延期 request, a progress note, who answers for it, its files or its detail."""
    text = normalise(raw)
    # A reason or a note is kept as the user wrote it (full-width commas and all) when folding moved no character.
    words = raw.strip() if len(raw.strip()) == len(text) else text
    if (delay := _DELAY.search(text)) is not None:
        start = delay.end()
        found = find_day(text[start:], plan_year)
        reason_at = _REASON.search(text, start)
        cut = reason_at.end() if reason_at else (start + found[2] if found else len(text))
        return Intent(Kind.DELAY, task_no=no, day=found[0] if found else None, text=words[cut:].strip(" ，,。.；;:："))
    if (note := _NOTE.match(text)) is not None:
        return Intent(Kind.NOTE, task_no=no, text=words[note.start(2):].strip())
    if any(w in t for w in _WHO_WORDS):
        return Intent(Kind.WHO, task_no=no)
    if any(w in t for w in _FILES_WORDS) and "材料" not in t:
        return Intent(Kind.FILES, task_no=no)
    return Intent(Kind.TASK, task_no=no, missing=missing)


def _role(t: str) -> str | None:
    """Tell whether only led (牵头) or only cooperating (配合) tasks are asked for."""
    lead, coop = "牵头" in t, "配合" in t or "协助" in t or "参与" in t
    if lead == coop:
        return None
    return "lead" if lead else "cooperating"


_EVIDENCE_REF = [
    re.compile(rf"(?:任务|第)?\s*{_NUM}\s*(?:号|项)?\s*(?:任务)?\s*[-－—.．、/_ ]\s*(?:材料|第)?\s*{_NUM}\s*(?:项|号)?"),
    re.compile(rf"(?:任务|第)\s*{_NUM}\s*(?:号|项)?\s*(?:任务)?\s*(?:的)?\s*(?:材料|第)\s*{_NUM}"),
    re.compile(rf"{_NUM}\s*(?:号|项)\s*任务\s*(?:的)?\s*(?:材料|第)\s*{_NUM}"),
]


@functools.lru_cache(maxsize=4096)
def evidence_ref(text: str) -> tuple[int | None, int | None]:
    """Read where a file belongs from its caption: 12-3, 12.3, 任务12 材料3, 12号任务第3项 → (12, 3).

    Returns (task, None) when only a task is named, and (None, None) when nothing is. Remembered like
    `parse`: every free-text question is read for a reference first.
    """
    t = normalise(text)
    for pattern in _EVIDENCE_REF:
        m = pattern.search(t)
        if m:
            task, item = cn_to_int(m.group(1)), cn_to_int(m.group(2))
            if task and item:
                return task, item
    return task_number(t), None


_BEFORE_NUMBER = re.compile(r"^(\s*/\S+\s+|\s*)(任务|第)?\s*")
_YEAR_PREFIX = re.compile(r"(20\d\d)\s*[-－—/年]\s*(?=\d)")
_DIGIT = re.compile(r"\d")


@functools.lru_cache(maxsize=8)
def _short_names(plans: tuple[PlanView, ...]) -> list[tuple[str, list[PlanView]]]:
    """Return the plans' short names, longest first, each with the plans that have it (asked on every message)."""
    return [(short, [p for p in plans if p.short == short])
            for short in sorted({p.short for p in plans if p.short}, key=len, reverse=True)]


def named_plan(text: str, plans: Sequence[PlanView]) -> tuple[PlanView | None, str]:
    """Find a plan named before a task number — 「2024-12」, 「任务2024-12」, 「河长制12」, 「/task 河长制 12」 — and
    return it with the text as if the number alone had been written; (None, text) when no plan is named.

    Only where a task number goes (at the start, after a command or 「任务」), so a date elsewhere
    (「延期到2024-11-15」) is never read as a plan; a year names a plan only when one active plan has it.
    """
    if not plans or _DIGIT.search(text) is None:  # every form names a plan just before a number
        return None, text
    head = _BEFORE_NUMBER.match(text)
    at = head.end() if head else 0
    rest = text[at:]
    if (year := _YEAR_PREFIX.match(rest)) is not None:
        same_year = [p for p in plans if p.year == int(year.group(1))]
        if len(same_year) == 1:
            return same_year[0], text[:at] + rest[year.end():]
    for short, named in _short_names(tuple(plans)):
        after = re.match(r"\s*(?:任务|第)?\s*(?=\d)", rest[len(short):]) if rest.startswith(short) else None
        if after is not None:  # a name two plans share (this year's and last year's) names neither
            return (named[0], text[:at] + rest[len(short) + after.end():]) if len(named) == 1 else (None, text)
    return None, text
