"""Compare a new plan with an earlier one: tasks added, removed, changed or only renumbered; carry the year forward.

Numbering changes from one year's table to the next, so tasks are matched by what they say and who leads
them. Each pair of a new and an earlier task gets the similarity of their texts (rapidfuzz's ratio, 0–100, on
the text with the plan's own years written as relative years, so 2023年 in the 2023 plan and 2024年 in the
2024 plan read the same). Pairs are then taken best first, each task at most once, so a task whose
counterpart is still there always finds it, however alike its neighbours are (the table has families of
near-identical tasks: 合同节水 for 企业, 机关, 学校, 医院, told apart only by a word and the lead unit).
The same lead unit adds to a pair's rank, so between two alike candidates the one of the same unit wins.

What is left unmatched after that is the question the thresholds answer: is this new task a rewording of
that earlier one? With the same lead, yes from 60: a rewording keeps most of its words, while two different
tasks of a table share little beyond a few stock phrases and score far lower. With a different lead only
from 90 (the same words under another unit): a new lead and new words make a new task.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from bot.core.checkins import cadence_name
from bot.core.plan import PlanSpec, TaskSpec
from bot.planfiles.cells import RECURRENCE_NAMES, place_of
from bot.planfiles.result import EARLIER_PLAN, Inference, ReadResult

SAME_LEAD_SIMILARITY = 60.0
OTHER_LEAD_SIMILARITY = 90.0
# An identical text under a new lead (a task moved to another unit) still beats a rewording under the old lead.
SAME_LEAD_BONUS = 10.0
_YEAR = re.compile(r"(20\d{2})(?=\s*年)")

# The fields a match is compared on, and their names in the table.
COMPARED_FIELDS = ("text", "lead", "cooperating", "deadline", "evidence")


@dataclass(frozen=True)
class TaskMatch:
    """A task of the new plan and the earlier task it continues."""

    new: TaskSpec
    old: TaskSpec
    similarity: float  # of the texts, 0–100
    changed: tuple[str, ...]  # which of COMPARED_FIELDS differ

    @property
    def renumbered(self) -> bool:
        """Return whether the task has a different number now."""
        return self.new.no != self.old.no


@dataclass(frozen=True)
class PlanComparison:
    """What a new plan adds to, removes from and changes in an earlier one."""

    earlier: PlanSpec
    added: tuple[TaskSpec, ...]
    removed: tuple[TaskSpec, ...]
    matched: tuple[TaskMatch, ...]

    @property
    def changed(self) -> tuple[TaskMatch, ...]:
        """Return the matched tasks whose text, lead, cooperating units, deadline or items differ."""
        return tuple(m for m in self.matched if m.changed)

    @property
    def renumbered(self) -> tuple[TaskMatch, ...]:
        """Return the matched tasks that only moved: same content, another number."""
        return tuple(m for m in self.matched if m.renumbered and not m.changed)


def _comparable(text: str, year: int) -> str:
    """Return text without spacing or width differences, the plan's years relative to its own (2023年 -> 〈+0〉年)."""
    folded = "".join(unicodedata.normalize("NFKC", text).split())
    return _YEAR.sub(lambda m: f"〈{int(m.group(1)) - year:+d}〉", folded)


def _deadline_key(task: TaskSpec, year: int) -> tuple[int, int] | str:
    """Return a deadline relative to its plan's year: 2023.9 in 2023 and 2024.9 in 2024 are the same."""
    if task.deadline_raw == "全年":
        return "全年"
    return (task.deadline.year - year, task.deadline.month)


def _differences(new: TaskSpec, new_year: int, old: TaskSpec, old_year: int) -> tuple[str, ...]:
    """Return which compared fields of two matched tasks differ."""
    differs = {
        "text": _comparable(new.text, new_year) != _comparable(old.text, old_year),
        "lead": new.lead != old.lead,
        "cooperating": set(new.cooperating) != set(old.cooperating),
        "deadline": _deadline_key(new, new_year) != _deadline_key(old, old_year),
        "evidence": [_comparable(e.title, new_year) for e in new.evidence]
        != [_comparable(e.title, old_year) for e in old.evidence],
    }
    return tuple(name for name in COMPARED_FIELDS if differs[name])


def compare_plans(new: PlanSpec, earlier: PlanSpec) -> PlanComparison:
    """Match the new plan's tasks to the earlier plan's by text and lead unit, and say what changed."""
    new_texts = [_comparable(t.text, new.year) for t in new.tasks]
    old_texts = [_comparable(t.text, earlier.year) for t in earlier.tasks]
    scores = cdist(new_texts, old_texts, scorer=fuzz.ratio, score_cutoff=SAME_LEAD_SIMILARITY)
    pairs: list[tuple[tuple[float, bool, int], int, int]] = []
    rows, cols = (scores >= SAME_LEAD_SIMILARITY).nonzero()  # cdist's array: numpy loads only when plans are compared
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        n, o, score = new.tasks[i], earlier.tasks[j], float(scores[i, j])
        same_lead = n.lead == o.lead
        if same_lead or score >= OTHER_LEAD_SIMILARITY:
            # Best first: the text's similarity, the same lead counting as SAME_LEAD_BONUS more; between
            # equals the same number, then the nearest place.
            rank = score + (SAME_LEAD_BONUS if same_lead else 0.0)
            pairs.append(((rank, n.no == o.no, -abs(i - j)), i, j))
    pairs.sort(key=lambda p: p[0], reverse=True)
    taken_new: dict[int, int] = {}
    taken_old: set[int] = set()
    for _, i, j in pairs:
        if i not in taken_new and j not in taken_old:
            taken_new[i] = j
            taken_old.add(j)
    matched = tuple(
        TaskMatch(new.tasks[i], earlier.tasks[j], float(scores[i, j]),
                  _differences(new.tasks[i], new.year, earlier.tasks[j], earlier.year))
        for i, j in sorted(taken_new.items())
    )
    return PlanComparison(
        earlier=earlier,
        added=tuple(t for i, t in enumerate(new.tasks) if i not in taken_new),
        removed=tuple(t for j, t in enumerate(earlier.tasks) if j not in taken_old),
        matched=matched,
    )


def most_similar_plan(new: PlanSpec, earlier: Sequence[PlanSpec]) -> PlanSpec | None:
    """Return the earlier plan of the same district that shares the most tasks with the new one (None if none)."""
    best: tuple[float, int] | None = None
    found: PlanSpec | None = None
    for plan in earlier:
        if plan.district != new.district or plan.year > new.year:
            continue
        shared = len(compare_plans(new, plan).matched) / max(len(new.tasks), len(plan.tasks), 1)
        if shared > 0 and (best is None or (shared, plan.year) > best):
            best, found = (shared, plan.year), plan
    return found


def carry_forward(read: ReadResult, comparison: PlanComparison, *, keep_key: bool = False) -> ReadResult:
    """Take from the earlier plan what the new table is silent on: targets and repetition of each matched task, and
    how often progress is reported (进展报送).

    A file of the same plan (same year, district and title) keeps the stored plan's key, so importing it
    updates that plan instead of adding a second one; `keep_key` when the key was given explicitly.
    """
    earlier = comparison.earlier
    inferred = list(read.inferred)
    carried: dict[int, TaskSpec] = {}
    for m in comparison.matched:
        task = m.new
        where = f"沿用计划 {earlier.key} 第{m.old.no}项"
        targets = tuple(t for t in m.old.targets if t.phrase in task.text) if not task.targets else ()
        for t in targets:
            inferred.append(Inference(task.no, "targets", "", t.phrase, EARLIER_PLAN,
                                      f"{place_of(task.no, 'targets')}{where}：{t.phrase}"))
        recurrence = m.old.recurrence if task.recurrence is None else None
        if recurrence is not None:
            label = RECURRENCE_NAMES[recurrence]
            inferred.append(Inference(task.no, "recurrence", "", label, EARLIER_PLAN,
                                      f"{place_of(task.no, 'recurrence')}{where}：{label}"))
        if targets or recurrence is not None:
            carried[task.no] = dataclasses.replace(task, targets=targets or task.targets,
                                                   recurrence=recurrence or task.recurrence)
    plan = read.plan
    if carried:
        plan = dataclasses.replace(plan, tasks=tuple(carried.get(t.no, t) for t in plan.tasks))
    if not read.checkin_said and plan.checkin is not earlier.checkin:
        label = cadence_name(earlier.checkin)
        inferred.append(Inference(None, "checkin", "", label, EARLIER_PLAN,
                                  f"表中没有写进展报送，沿用计划 {earlier.key}：{label}"))
        plan = dataclasses.replace(plan, checkin=earlier.checkin)
    same_plan = (earlier.year, earlier.district, earlier.title) == (plan.year, plan.district, plan.title)
    if same_plan and not keep_key and plan.key != earlier.key:
        inferred.append(Inference(None, "key", plan.key, earlier.key, EARLIER_PLAN,
                                  f"与库中的计划 {earlier.key} 年度、所属区和标题都相同，按同一计划更新（计划标识 {earlier.key}）"))
        plan = dataclasses.replace(plan, key=earlier.key)
    return ReadResult(plan, tuple(inferred), read.checkin_said)
