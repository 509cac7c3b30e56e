"""Every action the audit log is written with, anywhere in bot/ (migrations included), has a Chinese label for the
desk's 办理记录: none shows as a raw `extension.request`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from bot.core.views import TaskStatus
from bot.desk.history import LABELS
from bot.store.extensions import APPROVED, REJECTED

BOT = Path(__file__).resolve().parents[2] / "bot"
# what an action built with an f-string can become, by its literal start
EXPANSIONS = {"task.": {f"task.{s.value}" for s in TaskStatus}, "extension.": {f"extension.{APPROVED}",
                                                                                f"extension.{REJECTED}"}}


def written_actions(tree: ast.AST) -> Iterator[str | ast.JoinedStr]:
    """Yield every action an `Audit(action=…)` or a `chats.record(actor, channel, action, …)` call writes."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        values = [k.value for k in node.keywords if k.arg == "action" and name in ("Audit", "values", "record")]
        if name == "record" and len(node.args) >= 3:
            values.append(node.args[2])
        for value in values:
            yield from strings(value)


def strings(node: ast.AST) -> Iterator[str | ast.JoinedStr]:
    """Yield the strings an expression can be: literals, f-strings whole (`a if c else b` both)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield node
    else:
        for child in ast.iter_child_nodes(node):
            yield from strings(child)


def expand(action: str | ast.JoinedStr) -> set[str]:
    if isinstance(action, str):
        return {action}
    head = action.values[0]
    start = head.value if isinstance(head, ast.Constant) else ""
    assert start in EXPANSIONS, f"an audit action built as f\"{start}…\": list what it can become in EXPANSIONS"
    return EXPANSIONS[str(start)]


def test_every_audit_action_written_anywhere_has_a_chinese_label() -> None:
    written: set[str] = set()
    for path in BOT.rglob("*.py"):
        for action in written_actions(ast.parse(path.read_text(encoding="utf-8"))):
            written |= expand(action)
    # the scan finds what it should: actions of the store, of an action (urge), of a migration
    assert {"extension.request", "task.note", "urge", "person.merge", "task.returned"} <= written
    missing = sorted(a for a in written if a not in LABELS)
    assert not missing, f"audit actions without a label in bot/desk/history.py: {missing}"
    assert all(label and not label.isascii() for label in LABELS.values())
