"""What an import would do, before it writes: the plan read, what was inferred, and how it differs from the last one."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bot.planfiles.cells import FIELD_LABELS
from bot.planfiles.compare import PlanComparison
from bot.planfiles.result import Inference, ReadResult, short


@dataclass(frozen=True)
class ImportPreview:
    """A plan file read and compared with the most similar plan already stored (if any)."""

    read: ReadResult
    comparison: PlanComparison | None = None

    @property
    def continues(self) -> dict[int, tuple[str, int]]:
        """Map each task of a new plan to the (plan key, task number) of the earlier plan's task it carries on."""
        c = self.comparison
        if c is None or c.earlier.key == self.read.plan.key:
            return {}
        return {m.new.no: (c.earlier.key, m.old.no) for m in c.matched}


def preview_json(preview: ImportPreview) -> dict[str, Any]:
    """Return the preview for scripts: counts, every inference, and the tasks added, removed and changed."""
    plan, c = preview.read.plan, preview.comparison
    return {
        "tasks": len(plan.tasks),
        "key": plan.key,
        "title": plan.title,
        "year": plan.year,
        "district": plan.district,
        "items": sum(len(t.evidence) for t in plan.tasks),
        "leads": dict(Counter(t.lead for t in plan.tasks)),
        "deadlines": dict(Counter(t.deadline_raw for t in sorted(plan.tasks, key=lambda t: t.deadline))),
        "inferred": [dataclasses.asdict(i) for i in preview.read.inferred],
        "compared_with": c.earlier.key if c else None,
        "added": [{"no": t.no, "lead": t.lead, "text": t.text} for t in c.added] if c else [],
        "removed": [{"no": t.no, "lead": t.lead, "text": t.text} for t in c.removed] if c else [],
        "changed": [{"no": m.new.no, "was": m.old.no, "fields": list(m.changed), "similarity": round(m.similarity, 1)}
                    for m in c.changed] if c else [],
        "renumbered": [{"no": m.new.no, "was": m.old.no} for m in c.renumbered] if c else [],
    }


def preview_lines(preview: ImportPreview) -> list[str]:
    """Return the preview in Chinese for the person who confirms the import."""
    plan, c = preview.read.plan, preview.comparison
    items = sum(len(t.evidence) for t in plan.tasks)
    lines = [
        f"《{plan.title}》{f'（{plan.attachment}）' if plan.attachment else ''}",
        f"计划标识 {plan.key}，{plan.year}年{f'，{plan.district}' if plan.district else ''}："
        f"共{len(plan.tasks)}项任务，佐证材料{items}项，备注{len(plan.notes)}条。",
        "各牵头单位：" + "；".join(f"{unit} {n}项" for unit, n in Counter(t.lead for t in plan.tasks).items()),
        "完成时间：" + "；".join(
            f"{raw} {n}项" for raw, n in Counter(t.deadline_raw for t in sorted(plan.tasks, key=lambda t: t.deadline))
            .items()),
    ]
    inferred = preview.read.inferred
    if inferred:
        lines.append(f"以下{len(inferred)}处是推断出来的，请逐一核对：")
        lines.extend(f"  · {message}" for message in _grouped(inferred))
    else:
        lines.append("所有内容都是表中明确写出的，没有推断。")
    if c is None:
        lines.append("库中没有同一地区的早先计划，不做比较。")
        return lines
    lines.append(f"与库中的计划 {c.earlier.key}（{c.earlier.title}）相比：新增{len(c.added)}项，删除{len(c.removed)}项，"
                 f"修改{len(c.changed)}项，仅序号变化{len(c.renumbered)}项。")
    lines.extend(f"  新增：第{t.no}项（{t.lead}）{short(t.text)}" for t in c.added)
    lines.extend(f"  删除：原第{t.no}项（{t.lead}）{short(t.text)}" for t in c.removed)
    for m in c.changed:
        fields = "、".join(FIELD_LABELS[f] for f in m.changed)
        was = f"（原第{m.old.no}项）" if m.renumbered else ""
        lines.append(f"  修改：第{m.new.no}项{was}的{fields}有变化：{short(m.new.text)}")
    return lines


def _grouped(inferred: tuple[Inference, ...]) -> list[str]:
    """Return the inferences' sentences, a run of tasks with the same inference in one (第2–32项的牵头单位…)."""
    runs: dict[tuple[str, str, str, str], list[list[Inference]]] = {}
    alone: list[Inference] = []
    for i in inferred:
        if i.no is None:
            alone.append(i)
            continue
        same = runs.setdefault((i.field, i.kind, i.written, i.taken), [])
        last = same[-1][-1] if same else None
        # One sentence for the run only where the sentences differ in nothing but the task number.
        if last is not None and last.no is not None and i.no == last.no + 1 and (
                last.message.replace(f"第{last.no}项", f"第{i.no}项", 1) == i.message):
            same[-1].append(i)
        else:
            same.append([i])
    ordered = sorted((run for group in runs.values() for run in group), key=lambda run: run[0].no or 0)
    lines = [i.message for i in alone]
    for run in ordered:
        first, last = run[0], run[-1]
        lines.append(first.message.replace(f"第{first.no}项", f"第{first.no}–{last.no}项", 1) if len(run) > 1
                     else first.message)
    return lines
