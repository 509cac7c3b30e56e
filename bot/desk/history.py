"""A task's 办理记录 on the desk: each audit entry as one Chinese line (who, what, the detail that matters)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bot.core.chinese import day_text

# Every action the audit log is written with, in the words the desk shows (tests/desk/test_audit_labels.py finds
# every action written anywhere in bot/ and fails on one missing here).
LABELS = {
    "task.submitted": "报告完成，提交审核", "task.approved": "审核通过", "task.returned": "退回",
    "task.in_progress": "状态改为进行中", "task.not_started": "状态改为未开始", "task.progress": "登记进度",
    "task.note": "记录阶段性进展",
    "evidence.add": "上传材料", "evidence.withdraw": "撤回文件", "evidence.return": "退回材料", "urge": "催办",
    "task.instruction": "分管领导批示",
    "extension.request": "申请延期", "extension.approved": "批准延期", "extension.rejected": "不批准延期",
    "digest.subscribe": "订阅简报", "digest.unsubscribe": "取消订阅简报", "robot.add": "添加群机器人",
    "plan.import": "导入计划", "plan.activate": "重新启用计划", "plan.archive": "归档计划",
    "coordinator.set": "设置节水办人员", "invite.create": "生成邀请码", "liaison.bind": "绑定单位",
    "liaison.remove": "移除联络员", "leader.bind": "绑定分管领导", "person.merge": "合并同一人的身份",
}


def history_line(entry: Mapping[str, Any], names: Mapping[str, str], tz: dt.tzinfo) -> dict[str, str]:
    """Return an audit entry as the task page lists it: when, who, and what was done in one sentence."""
    detail: Mapping[str, Any] = entry["detail"] or {}
    action = str(entry["action"])
    return {"at": entry["at"].astimezone(tz).strftime("%Y-%m-%d %H:%M"), "who": names.get(entry["actor"], entry["actor"]),
            "what": _what(action, detail), "channel": str(entry["channel"])}


def _what(action: str, detail: Mapping[str, Any]) -> str:
    label = LABELS.get(action, action)
    if action in ("evidence.add", "evidence.withdraw"):
        return f"{label}：材料{detail.get('item')}「{detail.get('file')}」"
    if action == "extension.request":
        return f"{label}至{_day(detail.get('to'))}，原因：{_clause(detail.get('reason'))}"
    if action == "extension.approved":
        return f"{label}：截止日期由{_day(detail.get('from'))}改为{_day(detail.get('to'))}"
    if action == "evidence.return":
        return f"{label}：材料{detail.get('item')}，原因：{_clause(detail.get('reason'))}"
    if action in ("task.instruction", "task.note"):
        return f"{label}：{_clause(detail.get('text'))}"
    if action == "task.progress":
        return f"{label}：{detail.get('to')}" + (f"，{_clause(detail['remark'])}" if detail.get("remark") else "")
    if detail.get("note"):
        return f"{label}，原因：{_clause(detail['note'])}"
    return label


def _clause(text: object) -> str:
    """A person's words inside a line: no full stop of theirs doubled by ours."""
    return str(text or "").strip().rstrip("。.；;，, ")


def _day(iso: object) -> str:
    try:
        return day_text(dt.date.fromisoformat(str(iso)))
    except ValueError:
        return str(iso)
