"""What a plan reader returns: the plan, and every value it had to infer so a person can confirm it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.plan import PlanSpec

# How a value was inferred (Inference.kind).
MERGED_CELL = "merged_cell"  # a blank cell under a merged cell took the merged cell's value
ROW_ABOVE = "row_above"  # a blank (or 同上) cell took the value of the row above
ALIAS = "alias"  # a unit written by its short or former name
FUZZY = "fuzzy"  # a unit written differently from every known name, matched by similarity
FROM_NOTE = "note"  # a deadline the table gives in a 备注
CONTINUED_ROW = "continued_row"  # a row split across pages, joined to the row above
DEADLINE_FORM = "deadline_form"  # a deadline written another way (2023年9月底前, 每月) and what it was taken as
SEQUENCE = "sequence"  # a task without a number, numbered after the one above
EARLIER_PLAN = "earlier_plan"  # taken from the matching task of the earlier plan, where the table is silent

@dataclass(frozen=True)
class Inference:
    """A value the file did not state outright, with what was written, what was taken and why."""

    no: int | None  # the task it belongs to (None: the plan as a whole)
    field: str  # a key of bot.planfiles.cells.FIELD_LABELS
    written: str  # as the file writes it; "" when the cell is blank
    taken: str  # the value taken
    kind: str  # one of the kinds above
    message: str  # one Chinese sentence for the person who confirms it


@dataclass(frozen=True)
class ReadResult:
    """A plan read from a file, and what had to be inferred to read it."""

    plan: PlanSpec
    inferred: tuple[Inference, ...] = ()
    checkin_said: bool = True  # the file says how often progress is reported (silent: the earlier plan's is carried)


def short(text: str, limit: int = 30) -> str:
    """Return the start of a long text for a sentence (the whole of a short one)."""
    return text if len(text) <= limit else text[:limit] + "……"
