"""Returning one 材料 item or one file with a reason the liaison can act on (the whole task: `completion.return_task`).

The returned files leave the evidence (材料 x/y drops) but are kept and audited; the item shows 已退回：原因 until a
new file arrives. Each liaison told gets a 重新上传 button that sends their next file to that item.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.actions.access import require_coordinator
from bot.actions.base import Actor
from bot.actions.evidence import bare
from bot.actions.notify import notify_unit
from bot.core.errors import UserError
from bot.core.views import FileView, PlanView, TaskView

REASONS = ("缺少盖章或签字", "年份或期间不对", "与材料清单不符", "文件不清晰或不完整")  # offered as buttons, then 其他（填写）
REUPLOAD = "reupload"  # the kind of the 重新上传 button's question


@dataclass(frozen=True)
class Returned:
    """What a return gave back: the task, the item (number and title), the files and the reason."""

    task: TaskView
    item_no: int
    item_title: str
    files: tuple[FileView, ...]
    reason: str

    @property
    def names(self) -> str:
        """Say the files given back: 「a.pdf」、「b.pdf」."""
        return "、".join(f"「{f.file_name}」" for f in self.files)


async def return_item(actor: Actor, plan: PlanView, no: int, item_no: int, reason: str) -> Returned:
    """Give back every file of one item with a reason (coordinators); its units' liaisons are told."""
    return await _give_back(actor, plan, no, item_no, reason, file_id=None)


async def return_file(actor: Actor, file_id: int, reason: str) -> Returned:
    """Give back one file with a reason (coordinators); its units' liaisons are told."""
    require_coordinator(actor.person)
    plan_id, f = await actor.store.evidence.file(file_id)
    plan = await _plan(actor, plan_id)
    return await _give_back(actor, plan, f.task_no, f.item_no, reason, file_id=file_id)


async def _give_back(actor: Actor, plan: PlanView, no: int, item_no: int, reason: str, *,
                     file_id: int | None) -> Returned:
    require_coordinator(actor.person)
    reason = " ".join(reason.split()).strip("。 ")
    if not reason:
        raise UserError("请写上退回原因，联络员会看到这句话。")
    t = await actor.store.plans.task(plan.id, no)
    if not any(i.no == item_no for i in t.items):
        raise UserError(f"任务{no}没有第{item_no}项材料（共{len(t.items)}项）。")
    title, files = await actor.store.evidence.give_back(plan.id, no, item_no, reason, file_id=file_id, by=actor.key,
                                                        channel=actor.channel, now=actor.now)
    done = Returned(await actor.store.plans.task(plan.id, no), item_no, title, tuple(files), reason)
    text = (f"↩️ 节水办退回了任务{no} 材料{item_no}《{bare(title)}》的文件{done.names}，原因：{reason}。\n"
            f"{t.short_title(30)}\n请按原因修改后重新上传：点「重新上传」后直接发送文件，"
            f"或发送文件时在说明里写「{no}-{item_no}」。")
    stamp = actor.now.isoformat()
    for unit in dict.fromkeys([t.lead, *(f.unit for f in files if t.role_of(f.unit))]):
        await notify_unit(actor, unit, text, f"returned-item:{plan.id}:{no}:{item_no}:{stamp}",
                          option=("重新上传", REUPLOAD, {"plan": plan.id, "task": no, "item": item_no}),
                          link_task=(plan.id, no), link_item=item_no)
    return done


async def _plan(actor: Actor, plan_id: int) -> PlanView:
    plan = next((p for p in await actor.store.plans.active_plans() if p.id == plan_id), None)
    if plan is None:
        raise UserError("这份计划已不在办理中，不能再退回它的文件。")
    return plan
