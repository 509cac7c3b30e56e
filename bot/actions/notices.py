"""The 督办通知单: a numbered notice to a unit about one task, sent as a Word file and kept for the bundle.

A coordinator's `/urge 单位 任务号` issues one; the reminder sweep issues one by itself when a task is overdue
`DUBAN_NOTICE_OVERDUE_WORKDAYS` with nothing new. Either way it counts as an urge of the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.actions.base import Services
from bot.core.chinese import day_text
from bot.core.clock import SHANGHAI
from bot.core.messages import OutFile, Push, Reply
from bot.core.views import NoticeView, PersonView, PlanView, TaskView, UrgeCount
from bot.exports.notice import write_notice
from bot.reports.render import task_line

SYSTEM = "system"  # who issued a notice the sweep sent by itself


@dataclass(frozen=True)
class Issued:
    """A notice issued: the notice, its .docx, how often the task was urged before, whom it reached."""

    notice: NoticeView
    path: Path
    before: Mapping[int, UrgeCount]
    liaisons: tuple[PersonView, ...]


def office_name(services: Services, plan: PlanView) -> str:
    """Return who signs notices: DUBAN_OFFICE_NAME, or the plan's district's 节水办."""
    return services.settings.office_name or f"{plan.district}节水办"


async def issue_notice(services: Services, plan: PlanView, t: TaskView, unit: str, *, by: str, channel: str,
                       liaisons: Sequence[PersonView]) -> Issued:
    """Number a notice to a unit about a task, write its .docx and push it to the unit's liaisons."""
    store, today = services.store, services.clock.today()
    history = await store.urges.history(plan.id, t.no)
    names = {p.key: p.display for p in await store.people.coordinators()}
    overdue = t.status.is_open and t.deadline < today
    state = f"已逾期{(today - t.deadline).days}天" if overdue else f"应于{day_text(t.deadline)}前完成"
    plan_deadline = t.deadline_original or t.deadline
    content: dict[str, object] = {
        "unit": unit, "lead": t.lead, "task_text": t.text, "status": t.status.label,
        "opening": f"根据《{plan.title}》，你单位{'牵头' if unit == t.lead else '配合'}的第{t.no}项任务{state}，现予督办。",
        "deadline_plan": ("全年（12月31日前）" if t.deadline_raw == "全年" and t.deadline_original is None
                          else f"{plan_deadline.year}年{plan_deadline.month}月底"),
        "deadline_now": day_text(t.deadline) + ("（已批准延期）" if t.deadline_original is not None else ""),
        "missing": [f"{i.no}. {i.title}" for i in t.missing],
        "urges": [f"{u.at.astimezone(SHANGHAI).month}月{u.at.astimezone(SHANGHAI).day}日 "
                  f"{'督办通知单' if u.kind == 'notice' else '催办'}（{names.get(u.by, '节水办' if u.by == SYSTEM else u.by)}）"
                  for u in history],
        "request": "请抓紧落实，办结后在督办助手中补齐佐证材料并报告完成；确有困难的，请说明原因和计划完成时间。",
        "office": office_name(services, plan), "issued": day_text(today),
    }
    notice, before = await store.notices.issue(plan.id, unit, t.no, content, by=by, channel=channel,
                                               now=services.clock.utcnow())
    path = await asyncio.to_thread(write_notice, notice, notice_path(services, plan, notice))
    text = "\n".join([f"【督办通知单】{notice.label}：节水办就以下任务向{unit}发出督办，详见附件。",
                      task_line(t, today), f"发送「任务{t.no}」查看详情和缺少的材料。"])
    for p in liaisons:
        await services.push(Push(p.chat, Reply(text, file=OutFile(notice.file_name, path)),
                                 dedupe_key=f"notice:{plan.id}:{notice.number}:{p.key}"))
    return Issued(notice, path, before, tuple(liaisons))


def notice_path(services: Services, plan: PlanView, notice: NoticeView) -> Path:
    """Return where a notice's .docx is kept in the state directory (written again from its content if lost)."""
    return services.settings.state_dir / "notices" / f"{plan.key}-{notice.number}.docx"
