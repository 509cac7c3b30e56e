"""Table tests: Chinese numerals, relative dates and intents, against a pinned date."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.chinese import cn_to_int, days_phrase, find_day, parse_date_range
from bot.core.intents import Kind, evidence_ref, parse, task_number
from bot.planfiles.yamlfile import default_units_path, load_units_file

TODAY = dt.date(2023, 10, 20)  # Friday
UNITS = load_units_file(default_units_path())


@pytest.mark.parametrize(("text", "value"), [
    ("十", 10), ("十一", 11), ("二十三", 23), ("一百零五", 105), ("两", 2), ("12", 12), ("六十三", 63),
    ("十二月", None), ("abc", None), ("", None),
])
def test_chinese_numerals(text: str, value: int | None) -> None:
    assert cn_to_int(text) == value


@pytest.mark.parametrize(("text", "start", "end"), [
    ("本月到期的", dt.date(2023, 10, 1), dt.date(2023, 10, 31)),
    ("这个月要交什么", dt.date(2023, 10, 1), dt.date(2023, 10, 31)),
    ("下个月", dt.date(2023, 11, 1), dt.date(2023, 11, 30)),
    ("十月份要完成什么", dt.date(2023, 10, 1), dt.date(2023, 10, 31)),
    ("十一月", dt.date(2023, 11, 1), dt.date(2023, 11, 30)),
    ("9月的任务", dt.date(2023, 9, 1), dt.date(2023, 9, 30)),
    ("2024年3月", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
    ("下周", dt.date(2023, 10, 23), dt.date(2023, 10, 29)),
    ("本周", dt.date(2023, 10, 20), dt.date(2023, 10, 22)),
    ("两周内", dt.date(2023, 10, 20), dt.date(2023, 11, 3)),
    ("10天内到期", dt.date(2023, 10, 20), dt.date(2023, 10, 30)),
    ("年底前", None, dt.date(2023, 12, 31)),
    ("国庆前要交的", None, dt.date(2023, 9, 30)),
    ("国庆之前", None, dt.date(2023, 9, 30)),
    ("五一前", None, dt.date(2023, 4, 30)),
    ("月底前要交的", dt.date(2023, 10, 1), dt.date(2023, 10, 31)),
])
def test_relative_dates(text: str, start: dt.date | None, end: dt.date) -> None:
    window = parse_date_range(text, TODAY, 2023)
    assert window is not None and (window.start, window.end) == (start, end)


def test_month_without_year_means_the_plans_year() -> None:
    window = parse_date_range("十月份", dt.date(2026, 11, 29), 2023)
    assert window is not None and window.start == dt.date(2023, 10, 1)


def test_december_next_month_rolls_the_year() -> None:
    window = parse_date_range("下个月", dt.date(2023, 12, 5), 2023)
    assert window is not None and window.start == dt.date(2024, 1, 1)


@pytest.mark.parametrize(("deadline", "phrase"), [
    (dt.date(2023, 10, 25), "还剩5天"), (TODAY, "今天到期"), (dt.date(2023, 9, 30), "逾期20天"),
])
def test_days_phrase(deadline: dt.date, phrase: str) -> None:
    assert days_phrase(deadline, TODAY) == phrase


@pytest.mark.parametrize(("text", "kind", "no", "unit", "overdue", "missing"), [
    ("我单位有哪些任务", Kind.TASKS, None, None, False, False),
    ("本月到期的", Kind.TASKS, None, None, False, False),
    ("逾期的任务", Kind.TASKS, None, None, True, False),
    ("还差哪些材料", Kind.TASKS, None, None, False, True),
    ("任务12", Kind.TASK, 12, None, False, False),
    ("12号任务要哪些材料", Kind.TASK, 12, None, False, True),
    ("第十二项", Kind.TASK, 12, None, False, False),
    ("任务12还差哪些材料", Kind.TASK, 12, None, False, True),
    ("任务12的文件", Kind.FILES, 12, None, False, False),
    ("教育局的任务", Kind.TASKS, None, "区教育局", False, False),
    ("住建局十月份要交什么", Kind.TASKS, None, "区住房和城乡建设局", False, False),
    ("发改局逾期了吗", Kind.TASKS, None, "区发展和改革局", True, False),
    ("汇总", Kind.DIGEST, None, None, False, False),
    ("下一页", Kind.NEXT_PAGE, None, None, False, False),
    ("帮助", Kind.HELP, None, None, False, False),
    ("今天天气不错", Kind.UNKNOWN, None, None, False, False),
])
def test_intents(text: str, kind: Kind, no: int | None, unit: str | None, overdue: bool, missing: bool) -> None:
    intent = parse(text, today=TODAY, plan_year=2023, units=UNITS)
    assert intent.kind is kind
    assert intent.task_no == no
    assert (intent.unit.name if intent.unit else None) == unit
    assert (intent.overdue, intent.missing) == (overdue, missing)


@pytest.mark.parametrize(("caption", "ref"), [
    ("12-3", (12, 3)), ("12.3", (12, 3)), ("任务12 材料3", (12, 3)), ("12号任务第3项", (12, 3)),
    ("任务十二材料三", (12, 3)), ("１２－３", (12, 3)), ("任务12", (12, None)), ("会议照片", (None, None)),
])
def test_evidence_caption(caption: str, ref: tuple[int | None, int | None]) -> None:
    assert evidence_ref(caption) == ref


def test_task_number_ignores_plain_text() -> None:
    assert task_number("我单位有哪些任务") is None


@pytest.mark.parametrize(("text", "day"), [
    ("2023-11-15", dt.date(2023, 11, 15)), ("2023年11月15日", dt.date(2023, 11, 15)), ("11月15号", dt.date(2023, 11, 15)),
    ("十一月十五日", dt.date(2023, 11, 15)), ("11.15", dt.date(2023, 11, 15)), ("11月底", dt.date(2023, 11, 30)),
    ("2024/1/5", dt.date(2024, 1, 5)), ("2月30日", None), ("下个月吧", None),
])
def test_find_day(text: str, day: dt.date | None) -> None:
    found = find_day(text, 2023)
    assert (found[0] if found else None) == day


@pytest.mark.parametrize(("text", "kind", "no", "role", "yearlong", "day", "words"), [
    ("任务40申请延期到10月15日，因为学校放假", Kind.DELAY, 40, None, False, dt.date(2023, 10, 15), "学校放假"),
    ("40号任务延期至2023-11-30 原因：验收推迟", Kind.DELAY, 40, None, False, dt.date(2023, 11, 30), "验收推迟"),
    ("任务41进展：已完成2所学校的节水型单位申报", Kind.NOTE, 41, None, False, None, "已完成2所学校的节水型单位申报"),
    ("41号任务阶段性进展: 已上报", Kind.NOTE, 41, None, False, None, "已上报"),
    ("任务41进展怎么样", Kind.TASK, 41, None, False, None, ""),
    ("任务12谁负责", Kind.WHO, 12, None, False, None, ""),
    ("12号任务找谁", Kind.WHO, 12, None, False, None, ""),
    ("各单位进度怎么样", Kind.DIGEST, None, None, False, None, ""),
    ("整体情况", Kind.DIGEST, None, None, False, None, ""),
    ("哪些单位还没交材料", Kind.MISSING_UNITS, None, None, False, None, ""),
    ("哪些单位还没有绑定联络员", Kind.UNBOUND_UNITS, None, None, False, None, ""),
    ("我们牵头的任务", Kind.TASKS, None, "lead", False, None, ""),
    ("配合的任务", Kind.TASKS, None, "cooperating", False, None, ""),
    ("全年任务", Kind.TASKS, None, None, True, None, ""),
    ("延期的任务", Kind.TASKS, None, None, False, None, ""),  # still the overdue ones, not a request
    ("哪些单位没报进展", Kind.UNREPORTED_UNITS, None, None, False, None, ""),
    ("哪些单位还没有报送进展", Kind.UNREPORTED_UNITS, None, None, False, None, ""),
])
def test_coordination_intents(text: str, kind: Kind, no: int | None, role: str | None, yearlong: bool,
                              day: dt.date | None, words: str) -> None:
    intent = parse(text, today=TODAY, plan_year=2023, units=UNITS)
    assert (intent.kind, intent.task_no, intent.role, intent.yearlong, intent.day, intent.text) == (
        kind, no, role, yearlong, day, words)


def test_full_year_question_is_not_a_year_end_window() -> None:
    intent = parse("全年任务", today=TODAY, plan_year=2023, units=UNITS)
    assert intent.window is None and intent.yearlong


@pytest.mark.parametrize(("text", "unit"), [
    ("这个月要报什么", None), ("还有哪些没报进展", None), ("本月要报送进展的任务", None), ("教育局还有哪些没报进展", "区教育局"),
])
def test_the_report_question_wins_over_due_this_month(text: str, unit: str | None) -> None:
    intent = parse(text, today=TODAY, plan_year=2023, units=UNITS)
    assert (intent.kind, intent.unreported, intent.role, intent.window) == (Kind.TASKS, True, "lead", None)
    assert (intent.unit.name if intent.unit else None) == unit


@pytest.mark.parametrize(("text", "level"), [
    ("红灯任务", "red"), ("哪些任务亮红灯", "red"), ("黄灯的有哪些", "yellow"), ("黄色预警的任务", "yellow"),
    ("本月到期的", None),
])
def test_traffic_light_questions(text: str, level: str | None) -> None:
    intent = parse(text, today=TODAY, plan_year=2023, units=UNITS)
    assert (intent.kind, intent.warning) == (Kind.TASKS, level)
