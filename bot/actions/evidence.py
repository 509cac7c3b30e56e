"""Evidence files: a received file kept in the file store, filed against a task's item, or withdrawn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.actions.access import may_see_task, may_upload, require_liaison
from bot.actions.base import Actor
from bot.core.errors import NotAllowed, UserError
from bot.core.messages import Attachment
from bot.core.views import FileView, ItemView, PlanView, TaskStatus, TaskView
from bot.exports.names import safe_name

EMPTY_FILE = "文件是空的（0字节），没有保存，也不计入材料。请检查文件后重新发送。"


@dataclass(frozen=True)
class StoredBlob:
    """A received file already safe in the file store, not yet filed against an item."""

    sha256: str
    size: int
    file_name: str
    mime_type: str

    def payload(self) -> dict[str, object]:
        """Return the JSON form kept in a pending question."""
        return {"sha256": self.sha256, "size": self.size, "file_name": self.file_name, "mime_type": self.mime_type}

    @classmethod
    def from_payload(cls, raw: dict[str, object]) -> StoredBlob:
        """Rebuild the blob a pending question kept."""
        return cls(str(raw["sha256"]), int(str(raw["size"])), str(raw["file_name"]), str(raw["mime_type"]))


@dataclass(frozen=True)
class Filed:
    """A file filed against an item (or found there already), and the task as it stands now."""

    file: FileView
    duplicate: bool
    item: ItemView
    task: TaskView

    def summary(self) -> str:
        """Say in Chinese where the file went and what the task still lacks (without a next step to take)."""
        f, t = self.file, self.task
        if self.duplicate:
            return f"这个文件已经提交过了（#{f.id}「{f.file_name}」，任务{t.no} 材料{f.item_no}），不再重复保存。"
        shared = f"（与任务{'、'.join(map(str, t.shared_with))}共用，同时计入）" if t.shared_with else ""
        missing = t.missing
        tail = (f"还差{len(missing)}项：" + "；".join(f"{i.no}. {i.title}" for i in missing[:5])
                + ("……" if len(missing) > 5 else "")) if missing else "材料已齐全"
        return (f"已收到「{f.file_name}」，归入任务{t.no} 材料{f.item_no}《{bare(self.item.title)}》{shared}，"
                f"文件编号 #{f.id}。\n任务{t.no}材料 {t.evidence_done}/{len(t.items)}。{tail}")

    @property
    def ready(self) -> bool:
        """Tell whether the filing completed the task's evidence (its lead unit can submit now)."""
        return not self.duplicate and not self.task.missing


def kept_name(name: str) -> str:
    """Return a sender's file name as it is kept: one component, no control characters, short, extension kept."""
    return safe_name(name, fallback="未命名文件", for_disk=False)


def bare(title: str) -> str:
    """Return an item title without its book-title marks."""
    return title.strip("《》")


async def keep_file(actor: Actor, att: Attachment) -> StoredBlob:
    """Copy a received file into the content-addressed store (off the event loop: files can be large).

    An empty file proves nothing, so it is refused before it is stored or counted toward 材料 x/y.
    """
    if (await asyncio.to_thread(att.path.stat)).st_size == 0:
        raise UserError(EMPTY_FILE)
    sha, size = await asyncio.to_thread(actor.store.files.put, att.path)
    return StoredBlob(sha, size, kept_name(att.file_name), att.mime_type)


def require_upload(actor: Actor, t: TaskView) -> None:
    """Refuse a file for a task the actor's unit neither leads nor cooperates on, or one already approved."""
    if may_upload(actor.person, t):
        return
    unit = require_liaison(actor.person)
    if not may_see_task(actor.person, t):
        raise NotAllowed(f"任务{t.no}由{t.lead}牵头，{unit}不是牵头或配合单位，不能为它提交材料。")
    raise UserError(f"任务{t.no}已审核完成，不能再提交材料。如需补充请联系节水办。")


def item_for_upload(actor: Actor, t: TaskView, item_no: int) -> ItemView:
    """Return the task's evidence item a file may go to, refusing when it may not or the item does not exist."""
    require_upload(actor, t)
    if not t.items:
        raise UserError(f"任务{t.no}不要求提交佐证材料。")
    item = next((i for i in t.items if i.no == item_no), None)
    if item is None:
        raise UserError(f"任务{t.no}没有第{item_no}项材料（共{len(t.items)}项）。")
    return item


async def file_evidence(actor: Actor, plan: PlanView, blob: StoredBlob, task_no: int, item_no: int) -> Filed:
    """File a stored file against (task, item); the same bytes already there are not filed twice."""
    item = item_for_upload(actor, await actor.store.plans.task(plan.id, task_no), item_no)
    f, duplicate = await actor.store.evidence.add(
        plan.id, task_no, item_no, sha256=blob.sha256, size=blob.size, file_name=blob.file_name,
        mime_type=blob.mime_type, unit=actor.person.unit or "节水办", by=actor.key, channel=actor.channel,
        now=actor.now)
    return Filed(f, duplicate, item, await actor.store.plans.task(plan.id, task_no))


async def withdraw(actor: Actor, file_id: int) -> FileView:
    """Take a wrongly filed file out of the evidence (its unit's liaison before review, or a coordinator)."""
    if not actor.person.coordinator:
        require_liaison(actor.person)
    plan_id, f = await actor.store.evidence.file(file_id)
    if not actor.person.coordinator and f.unit != actor.person.unit:
        raise NotAllowed("只能撤回本单位提交的文件。")
    t = await actor.store.plans.task(plan_id, f.task_no)
    if t.status in (TaskStatus.SUBMITTED, TaskStatus.APPROVED) and not actor.person.coordinator:
        raise UserError(f"任务{t.no}已「{t.status.label}」，不能再撤回文件。如需更正请联系节水办。")
    return await actor.store.evidence.withdraw(f.id, by=actor.key, channel=actor.channel, now=actor.now)
