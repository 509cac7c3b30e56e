"""Cells of a task-division table, whatever the file: headings, task numbers, evidence lists, notes, units.

The Excel reader (bot.store.plansheet) and the Word reader (bot.planfiles.word) share these, so a table
reads the same whichever program it was typed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.plan import TaskSpec

LEAD, TEXT, DEADLINE, COOPERATING, EVIDENCE = "牵头单位", "工作任务", "完成时间", "配合单位", "佐证材料"
REQUIRED_COLUMNS = (LEAD, TEXT, DEADLINE, COOPERATING, EVIDENCE)
NUMBER, RECURRENCE, TARGETS, NOTES = "序号", "周期", "量化目标", "备注"
OPTIONAL_COLUMNS = (NUMBER, RECURRENCE, TARGETS, NOTES)

# Other headings seen in district tables for the same columns.
HEADER_ALIASES = {
    "责任单位": LEAD, "牵头部门": LEAD, "工作内容": TEXT, "任务内容": TEXT, "完成时限": DEADLINE,
    "时间节点": DEADLINE, "完成期限": DEADLINE, "配合部门": COOPERATING, "协办单位": COOPERATING,
    "佐证资料": EVIDENCE, "佐证材料清单": EVIDENCE, "编号": NUMBER, "重复周期": RECURRENCE, "量化指标": TARGETS,
}
NONE_WORDS = frozenset({"", "/", "／", "无", "—", "-"})
TASK_NO = re.compile(r"^\s*(\d{1,4})\s*[.．、]\s*(?!\d)")
ITEM_MARK = re.compile(r"[（(]\s*(\d{1,3})\s*[)）]")
ITEM_SEPARATORS = "；;。，,\n"
ITEM_TRAILING = " \t\u3000\n；;。，,"
UNIT_SEPARATORS = re.compile(r"[、，,；;\n]+")
SAME_AS = re.compile(r"^(?:同|见)第?\s*(\d{1,4})\s*项")
NOTE_LINE = re.compile(r"^\s*(\d{1,3})\s*[.．、]\s*")
NOTES_HEADING = re.compile(r"^\s*备\s*注\s*[：:]?\s*")
ATTACHMENT = re.compile(r"^附件\s*\d+$")
YEAR_IN_TITLE = re.compile(r"(20\d{2})\s*年")
DISTRICT_IN_TITLE = re.compile(r"(?:市)?([\u4e00-\u9fff]{2}[区县])")


def one_line(text: str) -> str:
    """Join a wrapped cell's lines: Chinese text has no spaces between them."""
    return "".join(line.strip() for line in text.splitlines())


def heading(text: str) -> str | None:
    """Return the column a heading names, if it is one duban reads."""
    key = "".join(text.split())
    if key in REQUIRED_COLUMNS or key in OPTIONAL_COLUMNS:
        return key
    return HEADER_ALIASES.get(key)


def parse_evidence_list(text: str) -> list[str] | None:
    """Split "(1)《…》；(2)《…》" into titles; None when the numbering is not 1, 2, 3 …; [] for "/"."""
    body = text.strip()
    if "".join(body.split()) in NONE_WORDS:
        return []
    marks = []
    for m in ITEM_MARK.finditer(body):
        before = body[: m.start()].rstrip(" \t\u3000")
        if not before or before[-1] in ITEM_SEPARATORS:
            marks.append(m)
    if not marks or marks[0].start() != 0:
        # Unnumbered: one title per line (or per "；").
        return [t.strip(ITEM_TRAILING) for t in re.split(r"[\n；;]", body) if t.strip(ITEM_TRAILING)]
    if [int(m.group(1)) for m in marks] != list(range(1, len(marks) + 1)):
        return None
    titles = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        titles.append(one_line(body[m.end(): end]).strip(ITEM_TRAILING))
    return titles


def topic_tasks(note: str, tasks: Sequence[TaskSpec]) -> tuple[int, ...]:
    """Return the tasks whose text names every part of the note's topic (取水点设置要求、智能化建设)."""
    topic, colon, _ = note.partition("：")
    if not colon:
        return ()
    parts = [p.strip() for p in re.split(r"[、，,]", topic) if len(p.strip()) >= 2]

    def names(part: str, text: str) -> bool:
        return part in text or (part.endswith("要求") and len(part) > 4 and part[:-2] in text)

    return tuple(t.no for t in tasks if parts and all(names(p, t.text) for p in parts))


def district_of(title: str) -> str:
    """Guess the district from a title like 2023年坪山区…."""
    m = DISTRICT_IN_TITLE.search(YEAR_IN_TITLE.sub("", title, count=1))
    return m.group(1) if m else ""
