"""Write a plan as an office types its 任务分工表 in Word, for the Word reader's tests (python-docx, no duban code).

Title paragraph and 附件 line; a table 序号/工作任务/牵头单位/完成时间/配合单位/佐证材料 whose 牵头单位 cells are
merged down over each run of the same unit and whose shared evidence lists are one cell merged over their tasks;
chosen tasks split over two rows as a page break leaves them (the second row has no 序号); evidence numbered
(1)… one paragraph per item, or run together in one paragraph, or as ①…, or as 1.…; then the 备注 paragraphs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH

from bot.core.plan import EvidenceItemSpec, PlanSpec, Recurrence, TaskSpec

HEADINGS = ["序号", "工作任务", "牵头单位", "完成时间", "配合单位", "佐证材料"]
NO, TEXT, LEAD, DEADLINE, COOPERATING, EVIDENCE = range(6)
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


@dataclass(frozen=True)
class Split:
    """Where a page break cuts a task's row: characters of text, items (and characters of the next item) above it."""

    text_chars: int
    items: int
    item_chars: int = 0  # characters of the next item still above the break (it runs on below)
    cooperating: int | None = None  # cooperating units above the break (None: all)


def _items(titles: Sequence[str], style: str) -> list[str]:
    """Return the evidence cell's paragraphs in one of the ways offices number a list."""
    if not titles:
        return ["/"]
    last = len(titles)
    if style == "run":
        return ["；".join(f"({i}){t}" for i, t in enumerate(titles, start=1)) + "。"]
    if style == "circled":
        return [f"{CIRCLED[i - 1]}{t}{'；' if i < last else '。'}" for i, t in enumerate(titles, start=1)]
    if style == "dotted":
        return [f"{i}.{t}{'；' if i < last else '。'}" for i, t in enumerate(titles, start=1)]
    return [f"({i}){t}{'；' if i < last else '。'}" for i, t in enumerate(titles, start=1)]


def _fill(cell: object, paragraphs: Sequence[str]) -> None:
    """Write one paragraph per entry into a table cell."""
    first, *rest = list(paragraphs) or [""]
    cell.paragraphs[0].text = first  # type: ignore[attr-defined]
    for text in rest:
        cell.add_paragraph(text)  # type: ignore[attr-defined]


def write_plan_docx(plan: PlanSpec, path: Path, *, splits: Mapping[int, Split] | None = None,
                    styles: Mapping[int, str] | None = None, written_units: Mapping[str, str] | None = None) -> Path:
    """Write `plan` as a Word 任务分工表 and return the path."""
    splits = splits or {}
    styles = styles or {}
    written = dict(written_units or {})
    doc = Document()
    doc.add_paragraph(plan.attachment)
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run(plan.title).bold = True

    layout: list[tuple[TaskSpec, int]] = []  # (task, part): part 1 is the row below a page break
    for t in plan.tasks:
        layout.append((t, 0))
        if t.no in splits:
            layout.append((t, 1))
    table = doc.add_table(rows=1 + len(layout), cols=len(HEADINGS))
    table.style = "Table Grid"
    for c, name in enumerate(HEADINGS):
        table.cell(0, c).text = name
    row_of: dict[int, list[int]] = {}
    for r, (t, part) in enumerate(layout, start=1):
        row_of.setdefault(t.no, []).append(r)
        items = _items([e.title for e in t.evidence], styles.get(t.no, "lines"))
        cooperating = [written.get(u, u) for u in t.cooperating]
        cells = table.rows[r].cells
        split = splits.get(t.no)
        if split is None:
            text, evidence, units = t.text, items, cooperating
        elif part == 0:
            above = items[: split.items]
            if split.item_chars:
                above.append(items[split.items][: split.item_chars])
            text, evidence, units = t.text[: split.text_chars], above, cooperating[: split.cooperating]
        else:
            below = items[split.items:]
            if split.item_chars:
                below[0] = below[0][split.item_chars:]
            text, evidence = t.text[split.text_chars:], below
            units = cooperating[split.cooperating:] if split.cooperating is not None else []
        if part == 0:
            cells[NO].text = str(t.no)
            cells[LEAD].text = written.get(t.lead, t.lead)
            cells[DEADLINE].text = t.deadline_raw
        cells[TEXT].text = text
        cells[COOPERATING].text = "、".join(units) or ("/" if part == 0 else "")
        _fill(cells[EVIDENCE], evidence if evidence != ["/"] or part == 0 else [])

    # 牵头单位 merged down over each run of the same unit, as the printed table shows it.
    start = 1
    for r in range(2, len(layout) + 2):
        if r == len(layout) + 1 or layout[r - 1][0].lead != layout[start - 1][0].lead:
            if r - 1 > start:
                for below in range(start + 1, r):
                    table.cell(below, LEAD).text = ""
                table.cell(start, LEAD).merge(table.cell(r - 1, LEAD))
            start = r
    # A shared evidence list: one cell merged over the tasks that share it.
    for t in plan.tasks:
        if t.evidence_shared_with and t.no < min(t.evidence_shared_with):
            rows = [r for n in (t.no, *t.evidence_shared_with) for r in row_of[n]]
            for r in rows[1:]:
                table.cell(r, EVIDENCE).text = ""
            table.cell(min(rows), EVIDENCE).merge(table.cell(max(rows), EVIDENCE))

    for i, note in enumerate(plan.notes):
        doc.add_paragraph(f"{'备注：' if i == 0 else ''}{note.no}. {note.text}")
    doc.save(str(path))
    return path


# The seed as its Word version is typed: tasks 6 and 31 broken at a page (6 in the middle of its 4th item,
# 31 between its two cooperating units), and a few evidence cells numbered other ways.
SEED_SPLITS = {6: Split(text_chars=60, items=3, item_chars=10), 31: Split(text_chars=20, items=0, cooperating=1)}
SEED_STYLES = {1: "run", 20: "run", 12: "circled", 50: "dotted"}


def write_seed_docx(plan: PlanSpec, path: Path, **kwargs: object) -> Path:
    """Write a plan the way the seed's Word version is typed (page breaks in tasks 6 and 31)."""
    return write_plan_docx(plan, path, splits=SEED_SPLITS, styles=SEED_STYLES, **kwargs)  # type: ignore[arg-type]


NEW_FIRST = TaskSpec(
    no=0, lead="区水务局", text="建立节水工作月度调度机制，每月召开节水工作调度会，通报各单位任务进展情况。",
    deadline_raw="全年", deadline=dt.date(2024, 12, 31), cooperating=("节水工作专项领导小组全体成员",),
    evidence=(EvidenceItemSpec(1, "《节水工作调度会会议纪要》"), EvidenceItemSpec(2, "《节水工作月度通报》")),
    recurrence=Recurrence.MONTHLY,
)
NEW_AFTER_3 = TaskSpec(
    no=0, lead="区水务局", text="开展辖区用水大户节水潜力评估，形成评估报告并提出改进建议。",
    deadline_raw="2024.10", deadline=dt.date(2024, 10, 31),
    evidence=(EvidenceItemSpec(1, "《用水大户节水潜力评估报告》"),),
)
REWORDED = {
    2: "对事权范围内的重点用水单位严格下达年度用水计划，区级重点用水单位实现100%管理，并按季度复核计划执行情况。",
    40: "在用水量排名前10的学校中择优选取学校，按照市水务局最新印发的节水载体创建标准开展节水型学校创建，"
        "最终完成4家节水型学校的创建任务。",
}
REMOVED = (25, 63)


def next_year(seed: PlanSpec) -> PlanSpec:
    """Return next year's table as an office would receive it: years moved on, tasks 25 and 63 dropped, tasks 2 and
    40 reworded, a task added in front and one after task 3, so every other task has a new number."""
    def shift(text: str) -> str:
        return re.sub(r"(20\d{2})(?=年)", lambda m: str(int(m.group(1)) + 1), text)

    old_tasks = [t for t in seed.tasks if t.no not in REMOVED]
    ordered: list[TaskSpec | None] = [None]  # None: a new task
    for t in old_tasks:
        ordered.append(t)
        if t.no == 3:
            ordered.append(None)
    new_of = {t.no: i for i, t in enumerate(ordered, start=1) if t is not None}
    added = iter((NEW_FIRST, NEW_AFTER_3))
    tasks = []
    for i, t in enumerate(ordered, start=1):
        if t is None:
            tasks.append(dataclasses.replace(next(added), no=i))
            continue
        y, _, m = t.deadline_raw.partition(".")
        deadline_raw = f"{int(y) + 1}.{m}" if m else t.deadline_raw
        tasks.append(dataclasses.replace(
            t, no=i, text=REWORDED.get(t.no, shift(t.text)), deadline_raw=deadline_raw,
            deadline=t.deadline.replace(year=t.deadline.year + 1),
            evidence=tuple(dataclasses.replace(e, title=shift(e.title)) for e in t.evidence),
            evidence_shared_with=tuple(new_of[n] for n in t.evidence_shared_with),
            targets=tuple(x for x in t.targets if x.phrase in REWORDED.get(t.no, t.text)),
        ))
    notes = tuple(dataclasses.replace(n, tasks=tuple(new_of[x] for x in n.tasks)) for n in seed.notes)
    return dataclasses.replace(seed, key="pingshan-2024", title=shift(seed.title), year=seed.year + 1,
                               tasks=tuple(tasks), notes=notes)
