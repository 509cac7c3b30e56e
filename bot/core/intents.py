"""What a free-text message asks for, from keywords and patterns (no model, no network)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from bot.core.chinese import CN_NUM, DateRange, cn_to_int, normalise, parse_date_range
from bot.core.units import Unit, UnitRegistry


class Kind(StrEnum):
    """The things a message can ask for."""

    TASKS = "tasks"  # a list of tasks (mine, a unit's, this month's, overdue ...)
    TASK = "task"  # one task's detail
    FILES = "files"
    DIGEST = "digest"
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
_DIGEST_WORDS = ("汇总", "简报", "总体进度", "整体进度", "进度情况", "排名")
_FILES_WORDS = ("文件", "附件", "上传了")


def task_number(text: str) -> int | None:
    """Find a task number written as 任务12, 12号任务, 第十二项, or a bare number."""
    for pattern in _TASK_NO:
        m = pattern.search(text)
        if m:
            n = cn_to_int(m.group(1))
            if n:
                return n
    return None


def parse(text: str, *, today: dt.date, plan_year: int, units: UnitRegistry) -> Intent:
    """Read a message: which kind of answer it wants, about which task, unit and deadline window."""
    t = normalise(text).lower()
    if not t:
        return Intent(Kind.HELP)
    if t in ("下一页", "下页", "更多", "继续", "next"):
        return Intent(Kind.NEXT_PAGE)
    missing = any(w in t for w in _MISSING_WORDS)
    no = task_number(t)
    if no is not None:
        if any(w in t for w in _FILES_WORDS) and "材料" not in t:
            return Intent(Kind.FILES, task_no=no)
        return Intent(Kind.TASK, task_no=no, missing=missing)
    unit = units.find_in_text(t)
    window = parse_date_range(t, today, plan_year)
    overdue = any(w in t for w in _OVERDUE_WORDS)
    if any(w in t for w in _DIGEST_WORDS):
        return Intent(Kind.DIGEST, unit=unit)
    if unit or window or overdue or missing or any(w in t for w in _TASKS_WORDS):
        return Intent(Kind.TASKS, unit=unit, window=window, overdue=overdue, missing=missing)
    if any(w in t for w in _HELP_WORDS):
        return Intent(Kind.HELP)
    return Intent(Kind.UNKNOWN)


_EVIDENCE_REF = [
    re.compile(rf"(?:任务|第)?\s*{_NUM}\s*(?:号|项)?\s*(?:任务)?\s*[-－—.．、/_ ]\s*(?:材料|第)?\s*{_NUM}\s*(?:项|号)?"),
    re.compile(rf"(?:任务|第)\s*{_NUM}\s*(?:号|项)?\s*(?:任务)?\s*(?:的)?\s*(?:材料|第)\s*{_NUM}"),
    re.compile(rf"{_NUM}\s*(?:号|项)\s*任务\s*(?:的)?\s*(?:材料|第)\s*{_NUM}"),
]


def evidence_ref(text: str) -> tuple[int | None, int | None]:
    """Read where a file belongs from its caption: 12-3, 12.3, 任务12 材料3, 12号任务第3项 → (12, 3).

    Returns (task, None) when only a task is named, and (None, None) when nothing is.
    """
    t = normalise(text)
    for pattern in _EVIDENCE_REF:
        m = pattern.search(t)
        if m:
            task, item = cn_to_int(m.group(1)), cn_to_int(m.group(2))
            if task and item:
                return task, item
    return task_number(t), None
