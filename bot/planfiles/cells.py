"""Cells of a task-division table, whatever the file: headings, task numbers, evidence lists, notes, units.

The Excel reader (bot.planfiles.excel) and the Word reader (bot.planfiles.word) share these, so a table
reads the same whichever program it was typed in.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.core.plan import EvidenceItemSpec, NoteSpec, Recurrence, Target, TaskSpec, deadline_from_raw
from bot.core.units import UnitRegistry, normalize_unit_text
from bot.planfiles.result import ALIAS, DEADLINE_FORM, FUZZY, Inference

LEAD, TEXT, DEADLINE, COOPERATING, EVIDENCE = "牵头单位", "工作任务", "完成时间", "配合单位", "佐证材料"
REQUIRED_COLUMNS = (LEAD, TEXT, DEADLINE, COOPERATING, EVIDENCE)
NUMBER, RECURRENCE, TARGETS, NOTES = "序号", "周期", "量化目标", "备注"
OPTIONAL_COLUMNS = (NUMBER, RECURRENCE, TARGETS, NOTES)
# The name of each field of a task as the table's heading writes it (an Inference's field is one of these keys).
FIELD_LABELS = {
    "no": NUMBER, "lead": LEAD, "text": TEXT, "deadline": DEADLINE, "cooperating": COOPERATING, "evidence": EVIDENCE,
    "recurrence": RECURRENCE, "targets": TARGETS, "key": "计划标识", "checkin": "进展报送",
}

# Other headings seen in district tables for the same columns.
HEADER_ALIASES = {
    "责任单位": LEAD, "牵头部门": LEAD, "工作内容": TEXT, "任务内容": TEXT, "完成时限": DEADLINE,
    "时间节点": DEADLINE, "完成期限": DEADLINE, "配合部门": COOPERATING, "协办单位": COOPERATING,
    "佐证资料": EVIDENCE, "佐证材料清单": EVIDENCE, "编号": NUMBER, "重复周期": RECURRENCE, "量化指标": TARGETS,
}
# A line above the table may say how often lead units report progress: 进展报送：每季度 (每月 when not said).
CHECKIN_LINE = re.compile(r"^[（(]?进展报送[：:]\s*(每月|每季度|不报送)[）)]?$")
NONE_WORDS = frozenset({"", "/", "／", "无", "—", "-"})
TASK_NO = re.compile(r"^\s*(\d{1,4})\s*[.．、]\s*(?!\d)")
ITEM_MARK = re.compile(r"[（(]\s*(\d{1,3})\s*[)）]")
ITEM_SEPARATORS = "；;。，,\n"
_ITEM_STYLES = (  # (mark, what may stand before a mark that starts an item)
    (ITEM_MARK, ITEM_SEPARATORS + "》"),
    (re.compile(r"([\u2460-\u2473\u3251-\u325f\u32b1-\u32bf])"), ITEM_SEPARATORS + "》"),  # ① … ㊿
    (re.compile(r"(\d{1,3})\s*[.．、]"), ITEM_SEPARATORS),
)
ITEM_TRAILING = " \t\u3000\n；;。，,"
UNIT_SEPARATORS = re.compile(r"[、，,；;\n]+")
SAME_AS = re.compile(r"^(?:同|见)第?\s*(\d{1,4})\s*项")
NOTE_LINE = re.compile(r"^\s*(\d{1,3})\s*[.．、]\s*")
NOTES_HEADING = re.compile(r"^\s*备\s*注\s*[：:]?\s*")
ATTACHMENT = re.compile(r"^附件\s*\d+$")
YEAR_IN_TITLE = re.compile(r"(20\d{2})\s*年")
DISTRICT_IN_TITLE = re.compile(r"(?:市)?([\u4e00-\u9fff]{2}[区县])")


def place_of(no: int | None, field: str) -> str:
    """Return "第12项的牵头单位" (or "计划标识") for a message."""
    label = FIELD_LABELS.get(field, field)
    return f"第{no}项的{label}" if no is not None else label


def checkin_said(text: str) -> str | None:
    """Return the cadence a line above the table says (「进展报送：每季度」: 每季度), None when it is another line."""
    found = CHECKIN_LINE.match("".join(text.split()))
    return found.group(1) if found else None


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
    """Split "(1)《…》；(2)《…》" (or 1.… / 1、… / ①…) into titles; None when not numbered 1, 2, 3 …; [] for "/"."""
    body = text.strip()
    if "".join(body.split()) in NONE_WORDS:
        return []
    marks = _item_marks(body)
    if not marks or marks[0][1] != 0:
        # Unnumbered: one title per line (or per "；").
        return [t.strip(ITEM_TRAILING) for t in re.split(r"[\n；;]", body) if t.strip(ITEM_TRAILING)]
    if [number for number, _, _ in marks] != list(range(1, len(marks) + 1)):
        return None
    titles = []
    for i, (_, _, start) in enumerate(marks):
        end = marks[i + 1][1] if i + 1 < len(marks) else len(body)
        titles.append(one_line(body[start: end]).strip(ITEM_TRAILING))
    return titles


def _item_marks(body: str) -> list[tuple[int, int, int]]:
    """Return (number, start, end) of each item mark in the style the list opens with, where a new item can start.

    A mark counts at the start of the cell or after a separator, so "(2)" inside a title is part of it; a
    closing 》 also ends an item for the bracketed and circled styles ("(1)《a》(2)《b》" run together).
    """
    for style, boundaries in _ITEM_STYLES:
        if not style.match(body):
            continue
        found = []
        for m in style.finditer(body):
            before = body[: m.start()].rstrip(" \t\u3000")
            if not before or before[-1] in boundaries:
                found.append((_item_number(m.group(1)), m.start(), m.end()))
        return found
    return []


def _item_number(mark: str) -> int:
    """Return the number of an item mark: "12" or "⑫"."""
    return int(mark) if mark.isdigit() and mark.isascii() else int(unicodedata.numeric(mark))


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


class CellError(Exception):
    """A cell says something a reader cannot take; the reader adds where (file, sheet or table, row, column)."""

    def __init__(self, detail: str, row: int = 0) -> None:
        super().__init__(detail)
        self.detail = detail
        self.row = row  # the reader's row number, for errors found after the rows were read


@dataclass
class TaskRow:
    """A task row as read, before units and sharing are resolved."""

    row: int
    no: int
    lead: str
    text: str
    deadline_raw: str
    cooperating: tuple[str, ...]
    evidence: tuple[str, ...]
    group: tuple[int, ...] | None  # top cell of a merged 佐证材料 range spanning task rows
    same_as: int | None  # "同第N项": shares task N's list
    recurrence: Recurrence | None
    targets: tuple[Target, ...]
    note_nos: tuple[int, ...]


def build_tasks(rows: list[TaskRow], year: int) -> tuple[TaskSpec, ...]:
    """Resolve shared evidence lists (merged cells, "同第N项") and build the task specs."""
    by_no = {row.no: row for row in rows}
    groups: dict[object, list[int]] = {}
    for row in rows:
        if row.group is not None:
            groups.setdefault(row.group, []).append(row.no)
    owner: dict[int, int] = {}  # task -> the task whose cell holds the list
    for members in groups.values():
        if len(members) > 1:
            for no in members:
                owner[no] = members[0]
    for row in rows:
        if row.same_as is None:
            continue
        target = by_no.get(row.same_as)
        if target is None or target.no == row.no:
            raise CellError(f"引用的第{row.same_as}项任务不存在", row.row)
        if target.same_as is not None:
            raise CellError(f"引用的第{row.same_as}项任务本身又引用了第{target.same_as}项", row.row)
        owner[row.no] = owner.get(target.no, target.no)
        owner.setdefault(target.no, owner[row.no])
    sharers: dict[int, list[int]] = {}
    for no, holder in owner.items():
        sharers.setdefault(holder, []).append(no)
    tasks = []
    for row in sorted(rows, key=lambda x: x.no):
        first = owner.get(row.no)
        titles = by_no[first].evidence if first is not None else row.evidence
        shared = tuple(sorted(n for n in sharers.get(first, ()) if n != row.no)) if first is not None else ()
        tasks.append(TaskSpec(
            no=row.no, lead=row.lead, text=row.text, deadline_raw=row.deadline_raw,
            deadline=deadline_from_raw(row.deadline_raw, year), cooperating=row.cooperating,
            evidence=tuple(EvidenceItemSpec(no=i, title=t) for i, t in enumerate(titles, start=1)),
            evidence_shared_with=shared if titles else (), recurrence=row.recurrence, targets=row.targets,
        ))
    return tuple(tasks)


def read_notes(lines: list[str], tasks: Sequence[TaskSpec],
               cited: Mapping[int, tuple[int, ...]] | None) -> tuple[NoteSpec, ...]:
    """Split the 备注 lines into numbered notes and link each to the tasks it explains.

    With a 备注 column the rows say which notes they cite (`cited`: task -> notes); without one a note
    explains the tasks whose text contains its topic (the words before its first "：").
    """
    text = "\n".join(lines)
    text = NOTES_HEADING.sub("", text, count=1) if text.lstrip().startswith("备") else text
    parsed: list[tuple[int, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = NOTE_LINE.match(line)
        if m:
            parsed.append((int(m.group(1)), [line[m.end():].strip()]))
        elif parsed:
            parsed[-1][1].append(line)
        else:
            parsed.append((1, [line]))
    notes: dict[int, NoteSpec] = {}
    for no, parts in parsed:
        if no in notes:
            raise CellError(f"备注{no}重复出现")
        body = "".join(parts)
        if cited is not None:
            linked = tuple(sorted(task for task, nos in cited.items() if no in nos))
        else:
            linked = topic_tasks(body, tasks)
        notes[no] = NoteSpec(no=no, text=body, tasks=linked)
    return tuple(notes[n] for n in sorted(notes))


def evidence_titles(text: str) -> tuple[str, ...]:
    """Return the evidence titles a cell lists, or refuse a broken numbering."""
    titles = parse_evidence_list(text)
    if titles is None:
        numbers = "".join(f"({number})" for number, _, _ in _item_marks(text.strip()))
        raise CellError(f"材料编号应从(1)起连续：实际是 {numbers}")
    for i, title in enumerate(titles, start=1):
        if not title:
            raise CellError(f"第({i})项材料名称为空")
    return tuple(titles)


def match_unit(units: UnitRegistry, name: str, no: int, field: str, inferred: list[Inference]) -> str:
    """Map a unit as written to its canonical name, noting a short name or a fuzzy match; refuse an unknown one."""
    unit = units.get(name)
    if unit is not None:
        if normalize_unit_text(name) != normalize_unit_text(unit.name):
            inferred.append(Inference(no, field, name, unit.name, ALIAS,
                                      f"{place_of(no, field)}写作“{name}”，按简称认作{unit.name}"))
        return unit.name
    # The registry's own rule for what staff type: sure only when one unit clearly scores highest.
    unit = units.resolve(name).unit
    if unit is not None:
        inferred.append(Inference(no, field, name, unit.name, FUZZY,
                                  f"{place_of(no, field)}写作“{name}”，单位名录中没有这个名称，按最相近的认作{unit.name}"))
        return unit.name
    close = "、".join(u.name for u in units.closest(name, 3)) or "无相近的单位"
    raise CellError(f"单位不在单位名录中：“{name}”（最接近的是：{close}）")


def cooperating_units(text: str, units: UnitRegistry, no: int, inferred: list[Inference]) -> tuple[str, ...]:
    """Return the cooperating units a cell names; "/" or an empty cell means none."""
    if "".join(text.split()) in NONE_WORDS:
        return ()
    names = [n.strip() for n in UNIT_SEPARATORS.split(text) if n.strip()]
    resolved = tuple(match_unit(units, n, no, "cooperating", inferred) for n in names)
    if len(set(resolved)) != len(resolved):
        raise CellError(f"有重复的单位：{'、'.join(resolved)}")
    return resolved


def recurrence_in_text(text: str) -> Recurrence | None:
    """Return how often a task's text says its work repeats (每月, 每季度), if it says so."""
    if "每季度" in text:
        return Recurrence.QUARTERLY
    return Recurrence.MONTHLY if "每月" in text else None


_DEADLINE_HINT = "（应为 2023.9 这样的年月，或“全年”“每月”“每季度”）"
_YEAR_MONTH = re.compile(r"^(20\d{2})[.年/-](\d{1,2})月?(?:底|末)?前?$")
_MONTH_ONLY = re.compile(r"^(\d{1,2})月(?:底|末)?前?$")
_WHOLE_YEAR = frozenset({"全年", "长期", "长期坚持", "持续推进"})
_REPEATING = (
    (re.compile(r"^(?:每|按)季度?(?:末|底)?前?$"), Recurrence.QUARTERLY),
    (re.compile(r"^(?:每|按)月(?:末|底)?前?$"), Recurrence.MONTHLY),
)
RECURRENCE_NAMES = {Recurrence.MONTHLY: "每月", Recurrence.QUARTERLY: "每季度"}


@dataclass(frozen=True)
class Deadline:
    """A deadline as the plan keeps it ("2023.9", "全年") and the repetition it implies (每月 -> monthly)."""

    raw: str
    recurrence: Recurrence | None = None


def read_deadline(written: str, year: int, no: int, inferred: list[Inference]) -> Deadline:
    """Read a 完成时间 cell: 2023.9, 2023年9月底前, 9月, 全年, 每月, 每季度; note anything not kept as written."""
    text = "".join(unicodedata.normalize("NFKC", written).split())
    if not text:
        raise CellError(f"不能为空{_DEADLINE_HINT}")
    found = Deadline(text)
    if text in _WHOLE_YEAR:
        found = Deadline("全年")
    elif m := _YEAR_MONTH.match(text):
        found = Deadline(f"{m.group(1)}.{int(m.group(2))}")
    elif m := _MONTH_ONLY.match(text):
        found = Deadline(f"{year}.{int(m.group(1))}")
    else:
        for pattern, recurrence in _REPEATING:
            if pattern.match(text):
                found = Deadline("全年", recurrence)
    try:
        deadline_from_raw(found.raw, year)
    except ValueError as exc:
        raise CellError(f"无法识别：“{written.strip()}”{_DEADLINE_HINT}") from exc
    if found.raw != written.strip() or found.recurrence is not None:
        taken = found.raw + (f"（{RECURRENCE_NAMES[found.recurrence]}重复）" if found.recurrence else "")
        inferred.append(Inference(no, "deadline", written.strip(), taken, DEADLINE_FORM,
                                  f"{place_of(no, 'deadline')}写作“{written.strip()}”，记为{taken}"))
    return found


def plan_year(title: str, deadlines: Iterable[str]) -> int | None:
    """Return the plan's year: from the title, else the most common year among the deadlines."""
    m = YEAR_IN_TITLE.search(title)
    if m:
        return int(m.group(1))
    years = Counter(int(m.group(1)) for raw in deadlines if (m := re.match(r"(20\d{2})[.年/-]\d{1,2}", raw)))
    if years:
        return years.most_common(1)[0][0]
    return None
