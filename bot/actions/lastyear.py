"""去年同项材料: the files last year's same task received, item by item, for a task carried over from an earlier plan.

Read by chat's /lastyear (and the button under a task's detail) and by the desk's task page: one step away, shown as
reference, never counted as this year's evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.actions.access import require_involved
from bot.actions.base import Actor
from bot.core.views import FileView, ItemView, TaskStatus, TaskView

SAME_ITEM = 75  # title similarity (0–100, rapidfuzz) at which last year's item counts as the same document


@dataclass(frozen=True)
class EarlierItem:
    """One of this year's items beside last year's same item (None: last year had none) and its files."""

    item: ItemView
    match: ItemView | None
    files: tuple[FileView, ...] = ()


@dataclass(frozen=True)
class LastYear:
    """The earlier plan's task a task continues, and its files matched to this year's items."""

    plan_label: str
    task: TaskView
    items: tuple[EarlierItem, ...]

    @property
    def state(self) -> str:
        """Say how last year's task ended: ，已通过审核 or ，状态：进行中."""
        return "，已通过审核" if self.task.status is TaskStatus.APPROVED else f"，状态：{self.task.status.label}"

    def file(self, file_id: int) -> FileView | None:
        """Return one of the files listed, or None when it is not one of them."""
        return next((f for i in self.items for f in i.files if f.id == file_id), None)


async def last_year(actor: Actor, t: TaskView) -> LastYear | None:
    """Return last year's files of the task's items (None: the task continues no earlier task); refuse whoever may
    not see the task."""
    require_involved(actor.person, t)
    if t.continues is None:
        return None
    plan_id, no = t.continues
    store = actor.store
    earlier_plan = next((p for p in await store.plans.list_plans() if p.id == plan_id), None)
    earlier = await store.plans.task(plan_id, no)
    files = await store.evidence.files(plan_id, no)
    items = []
    for item in t.items:
        match = _same_item(item, earlier.items)
        got = tuple(f for f in files if match is not None and f.item_no == match.no)
        items.append(EarlierItem(item, match, got))
    return LastYear(earlier_plan.label if earlier_plan is not None else "上一份计划", earlier, tuple(items))


def _same_item(item: ItemView, earlier: tuple[ItemView, ...]) -> ItemView | None:
    """Return the earlier task's item that is the same document (same title, give or take the year and wording)."""
    scored = [(fuzz.ratio(_yearless(item.title), _yearless(e.title)) + (5 if e.no == item.no else 0), e)
              for e in earlier]
    best = max(scored, key=lambda s: s[0], default=None)
    return best[1] if best is not None and best[0] >= SAME_ITEM else None


def _yearless(title: str) -> str:
    return re.sub(r"20\d\d年?", "", title)
