"""Chinese numbers, months and relative dates, as liaisons type them."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100}
CN_NUM = "零〇一二两三四五六七八九十百"
MAX_WHOLE = 2_147_483_647  # the database's integer: a larger id or number cannot name anything stored
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_WHOLE = re.compile(r"[0-9]{1,10}")
_DECIMAL = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,6})?")
ROLE_LABEL = {"lead": "牵头", "cooperating": "配合", "group": "群"}  # a unit's part in a task, as replies say it


def weekday_name(day: dt.date) -> str:
    """Say a date's weekday the way replies do: 周一 … 周日."""
    return "周" + "一二三四五六日"[day.weekday()]


def normalise(text: str) -> str:
    """Fold full-width letters, digits and punctuation to half-width and drop control characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()


def whole_number(text: str, limit: int = MAX_WHOLE) -> int | None:
    """Read a whole number typed in ASCII or full-width digits, at most `limit`; None for anything else.

    The one way user input becomes a number: `str.isdigit` also accepts ² and ①, which `int` refuses,
    and an unbounded number overflows the database.
    """
    digits = text.strip().translate(_FULL_WIDTH_DIGITS)
    if not _WHOLE.fullmatch(digits):
        return None
    value = int(digits)
    return value if value <= limit else None


def decimal_number(text: str, limit: float) -> float | None:
    """Read a plain non-negative decimal (2, 2.5, full-width digits) up to `limit`; None for NaN, inf, 1e9, -1."""
    digits = text.strip().translate(_FULL_WIDTH_DIGITS).replace("．", ".")
    if not _DECIMAL.fullmatch(digits):
        return None
    value = float(digits)
    return value if value <= limit else None


def without_controls(text: str) -> str:
    """Drop control characters but line breaks and tabs: a NUL cannot even be stored in PostgreSQL text."""
    return _CONTROLS.sub("", text)


_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode category Cc, but for \t and \n


def cn_to_int(text: str) -> int | None:
    """Read a number written in Arabic digits or Chinese numerals (十一, 二十三, 一百零五); None if not one."""
    text = text.strip()
    if not text:
        return None
    if (n := whole_number(text)) is not None:
        return n
    if any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        return None
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            total += (current or 1) * _UNITS[ch]
            current = 0
    return total + current


def month_end(year: int, month: int) -> dt.date:
    """Return the last day of a month."""
    return dt.date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class DateRange:
    """A span of deadlines the user asked about, inclusive, with how to say it back."""

    start: dt.date | None
    end: dt.date | None
    label: str


_MONTH = re.compile(rf"(?:(\d{{4}})\s*年\s*)?([0-9]{{1,2}}|[{CN_NUM}]{{1,3}})\s*月(?:份)?")
_WITHIN = re.compile(rf"([0-9]{{1,3}}|[{CN_NUM}]{{1,3}})\s*(天|日|周|个?星期|个?礼拜)(?:之内|以内|内)")


_HOLIDAYS = {"国庆": (10, 1), "五一": (5, 1), "七一": (7, 1), "年中": (7, 1), "上半年": (7, 1)}  # "X前": before this day
_DAY = re.compile(rf"(?:(\d{{4}})\s*[年./-]\s*)?([0-9]{{1,2}}|[{CN_NUM}]{{1,3}})\s*(?:月\s*(?:([0-9]{{1,2}}|[{CN_NUM}]{{1,3}})\s*[日号]?|底)|[./-]\s*([0-9]{{1,2}}))")


def find_day(text: str, plan_year: int) -> tuple[dt.date, int, int] | None:
    """Find a calendar day: 2023-11-15, 2023年11月15日, 11月15号, 十一月十五日, 11.15, 11月底; with where it was written.

    A day without a year is in the plan's year. Returns (day, start, end) of the first one, None if none is valid.
    """
    for m in _DAY.finditer(text):
        year = int(m.group(1)) if m.group(1) else plan_year
        month = cn_to_int(m.group(2))
        raw_day = m.group(3) or m.group(4)
        if not month or not 1 <= month <= 12:
            continue
        if raw_day is None:
            if "底" not in m.group(0):
                continue
            return month_end(year, month), m.start(), m.end()
        day = cn_to_int(raw_day)
        if day and 1 <= day <= calendar.monthrange(year, month)[1]:
            return dt.date(year, month, day), m.start(), m.end()
    return None


def parse_date_range(text: str, today: dt.date, plan_year: int) -> DateRange | None:
    """Find the deadline window a message asks about: 本月, 下个月, 十月份, 下周, 两周内, 年底 ...

    A month named without a year means the plan's year (every deadline of a plan falls in it).
    """
    t = text
    if "本周" in t or "这周" in t or "这个星期" in t or "本星期" in t:
        start = today - dt.timedelta(days=today.weekday())
        return DateRange(today, start + dt.timedelta(days=6), "本周")
    if "下周" in t or "下个星期" in t or "下星期" in t or "下礼拜" in t:
        start = today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=7)
        return DateRange(start, start + dt.timedelta(days=6), "下周")
    if "本月" in t or "这个月" in t or "当月" in t or "月底" in t:
        return DateRange(today.replace(day=1), month_end(today.year, today.month), f"本月（{today.month}月）")
    if "下个月" in t or "下月" in t:
        y, m = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        return DateRange(dt.date(y, m, 1), month_end(y, m), f"下个月（{m}月）")
    for word, (on_month, on_day) in _HOLIDAYS.items():
        if f"{word}前" in t or f"{word}之前" in t or f"{word}以前" in t:
            end = dt.date(plan_year, on_month, on_day) - dt.timedelta(days=1)
            return DateRange(None, end, f"{word}前（{end.month}月{end.day}日前）")
    if "年底" in t or "全年" in t or "年内" in t:
        return DateRange(None, dt.date(plan_year, 12, 31), "年底前")
    if re.search(r"今天(?:到期|截止|要|必须|的任务)", t):
        return DateRange(today, today, "今天")
    if (w := _WITHIN.search(t)) is not None:
        n = cn_to_int(w.group(1))
        if n:
            days = n if w.group(2) in ("天", "日") else n * 7
            return DateRange(today, today + dt.timedelta(days=days), f"{w.group(1)}{w.group(2)}内")
    if (mm := _MONTH.search(t)) is not None:
        month = cn_to_int(mm.group(2))
        if month and 1 <= month <= 12:
            year = int(mm.group(1)) if mm.group(1) else plan_year
            return DateRange(dt.date(year, month, 1), month_end(year, month), f"{year}年{month}月")
    return None


def day_text(day: dt.date) -> str:
    """Say a date the way replies do: 2023年11月15日."""
    return f"{day.year}年{day.month}月{day.day}日"


def days_phrase(deadline: dt.date, today: dt.date) -> str:
    """Say how far a deadline is: 还剩5天, 今天到期, 逾期12天."""
    delta = (deadline - today).days
    if delta > 0:
        return f"还剩{delta}天"
    if delta == 0:
        return "今天到期"
    return f"逾期{-delta}天"
