"""Evidence files arriving in chat: filed by caption, or by the sender's choice among likely items."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import PurePath

from rapidfuzz import fuzz

from bot.actions.access import may_see_task, may_upload
from bot.core.chinese import whole_number
from bot.core.errors import NotAllowed, UserError
from bot.core.intents import evidence_ref
from bot.core.messages import Attachment, Choice, Reply
from bot.core.views import ItemView, PendingView, TaskStatus, TaskView
from bot.exports.names import safe_name
from bot.handlers.context import Context
from bot.handlers.router import Replies

KIND = "evidence"
NEXT_KIND = "evidence-next"  # 「40-3」 said before a file: where the next file goes
NEXT_TTL = dt.timedelta(hours=1)
MAX_CHOICES = 4
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


async def on_attachments(ctx: Context) -> Replies:
    """Store every attached file, then file it by its caption or ask where it belongs."""
    replies: Replies = []
    task_no, item_no = evidence_ref(ctx.msg.text)
    if item_no is None:  # no caption (WeCom files carry none): the place the sender named just before, if any
        said = await ctx.store.chats.take_latest(ctx.person.key, NEXT_KIND, now=ctx.now)
        if said is not None:
            task_no, item_no = int(str(said.payload["task"])), int(str(said.payload["item"]))
    for att in ctx.msg.attachments:
        try:
            blob = await store_blob(ctx, att)
            if task_no is not None and item_no is not None:
                replies.append(await file_blob(ctx, blob, task_no, item_no))
            else:
                replies.append(await ask_where(ctx, blob, task_no, ctx.msg.text))
        except UserError as e:
            replies.append(Reply(f"「{kept_name(att.file_name)}」未归档：{e.message}"))
    return replies


def kept_name(name: str) -> str:
    """Return a sender's file name as it is kept: one component, no control characters, short, extension kept."""
    return safe_name(name, fallback="未命名文件", for_disk=False)


async def store_blob(ctx: Context, att: Attachment) -> StoredBlob:
    """Copy an attachment into the content-addressed store (off the event loop: files can be large).

    An empty file proves nothing, so it is refused before it is stored or counted toward 材料 x/y.
    """
    if (await asyncio.to_thread(att.path.stat)).st_size == 0:
        raise UserError(EMPTY_FILE)
    sha, size = await asyncio.to_thread(ctx.store.files.put, att.path)
    return StoredBlob(sha, size, kept_name(att.file_name), att.mime_type)


def check_can_upload(ctx: Context, t: TaskView) -> None:
    """Refuse a file for a task the sender's unit neither leads nor cooperates on."""
    if may_upload(ctx.person, t):
        return
    unit = ctx.require_unit()
    if not may_see_task(ctx.person, t):
        raise NotAllowed(f"任务{t.no}由{t.lead}牵头，{unit}不是牵头或配合单位，不能为它提交材料。")
    raise UserError(f"任务{t.no}已审核完成，不能再提交材料。如需补充请联系节水办。")


async def file_blob(ctx: Context, blob: StoredBlob, task_no: int, item_no: int) -> Reply:
    """File a stored blob against (task, item) and say what is still missing."""
    t = await ctx.task(task_no)
    item = _item(ctx, t, item_no)
    unit = ctx.person.unit or "节水办"
    f, duplicate = await ctx.store.evidence.add(
        ctx.plan.id, task_no, item_no, sha256=blob.sha256, size=blob.size, file_name=blob.file_name,
        mime_type=blob.mime_type, unit=unit, by=ctx.person.key, channel=ctx.msg.channel, now=ctx.now)
    if duplicate:
        return Reply(f"这个文件已经提交过了（#{f.id}「{f.file_name}」，任务{task_no} 材料{item_no}），不再重复保存。")
    updated = await ctx.store.plans.task(ctx.plan.id, task_no)
    missing = updated.missing
    shared = f"（与任务{'、'.join(map(str, t.shared_with))}共用，同时计入）" if t.shared_with else ""
    tail = (f"还差{len(missing)}项：" + "；".join(f"{i.no}. {i.title}" for i in missing[:5])
            + ("……" if len(missing) > 5 else "")) if missing else (
        "材料已齐全" + (f"，可以发送「/done {task_no}」提交审核。" if t.role_of(unit) == "lead" else "。"))
    return Reply(f"已收到「{f.file_name}」，归入任务{task_no} 材料{item_no}《{_bare(item.title)}》{shared}，"
                 f"文件编号 #{f.id}。\n任务{task_no}材料 {updated.evidence_done}/{len(updated.items)}。{tail}")


async def expect_file(ctx: Context, task_no: int, item_no: int) -> Replies:
    """Remember where the sender's next file goes: they said 「40-3」 before sending it."""
    if ctx.person.unit is None and not ctx.person.coordinator:
        raise NotAllowed("您还没有绑定单位，不能提交材料。请先发送「/bind 邀请码」。")
    item = _item(ctx, await ctx.task(task_no), item_no)
    await ctx.store.chats.ask(ctx.person.key, NEXT_KIND, {"task": task_no, "item": item_no}, now=ctx.now,
                              ttl=NEXT_TTL)
    return [Reply(f"好的，请发送文件：下一个文件将归入任务{task_no} 材料{item_no}《{_bare(item.title)}》。")]


def _item(ctx: Context, t: TaskView, item_no: int) -> ItemView:
    """Return a task's evidence item, refusing when the sender may not file for it or it does not exist."""
    check_can_upload(ctx, t)
    if not t.items:
        raise UserError(f"任务{t.no}不要求提交佐证材料。")
    item = next((i for i in t.items if i.no == item_no), None)
    if item is None:
        raise UserError(f"任务{t.no}没有第{item_no}项材料（共{len(t.items)}项）。发送「任务{t.no}」查看清单。")
    return item


async def ask_where(ctx: Context, blob: StoredBlob, task_no: int | None, caption: str) -> Reply:
    """Offer the likeliest open items (of one task, or of the sender's unit) as choices."""
    tasks = await ctx.tasks()
    if task_no is not None:
        t = await ctx.task(task_no)
        check_can_upload(ctx, t)
        if not t.items:
            raise UserError(f"任务{task_no}不要求提交佐证材料。")
        candidates = [(t, i) for i in sorted(t.items, key=lambda i: (i.files > 0, i.no))]
    else:
        unit = ctx.person.unit
        mine = [t for t in tasks if t.items and t.status is not TaskStatus.APPROVED and (unit and t.role_of(unit))]
        if not mine:
            raise UserError("请在文件说明里写上任务和材料序号，例如「12-3」表示任务12的第3项材料。")
        query = f"{PurePath(blob.file_name).stem} {caption}".strip()
        scored = [(_score(query, i.title, i.files), t, i) for t in mine for i in t.items]
        scored.sort(key=lambda x: (-x[0], x[1].deadline, x[1].no, x[2].no))
        seen: set[int] = set()  # a shared list's item is one choice, offered under its earliest task
        candidates = []
        for _, t, i in scored:
            if i.id not in seen and len(candidates) < MAX_CHOICES:
                seen.add(i.id)
                candidates.append((t, i))
    options = [[t.no, i.no] for t, i in candidates[:8]]
    token = await ctx.store.chats.ask(ctx.person.key, KIND, {"blob": blob.payload(), "options": options},
                                      now=ctx.now)
    choices = [Choice(f"任务{t.no}-{i.no} {_bare(i.title)[:18]}", f"{token}:{n}") for n, (t, i) in
               enumerate(candidates[:8])]
    choices.append(Choice("都不是，取消", f"{token}:x"))
    return Reply(f"收到「{blob.file_name}」。它是哪一项材料？请选择；也可以取消后重新发送，并在说明里写上「任务号-材料序号」，"
                 "例如「12-3」。", choices=tuple(choices))


async def on_choice(ctx: Context, pending: PendingView, answer: str) -> Replies:
    """File the blob where the sender chose, or drop the question."""
    raw = pending.payload["blob"]
    options = pending.payload["options"]
    assert isinstance(raw, dict) and isinstance(options, list)
    blob = StoredBlob(str(raw["sha256"]), int(raw["size"]), str(raw["file_name"]), str(raw["mime_type"]))
    if answer == "x":
        return [Reply(f"好的，「{blob.file_name}」没有归档。需要时请重新发送并写上「任务号-材料序号」。", edit=True)]
    n = whole_number(answer)
    if n is None or n >= len(options):
        raise UserError("这个按钮无效，请重新发送文件。")
    task_no, item_no = options[n]
    reply = await file_blob(ctx, blob, int(task_no), int(item_no))
    return [Reply(reply.text, edit=True)]


def _score(query: str, title: str, files: int) -> float:
    score = float(fuzz.partial_ratio(_bare(title), query)) if query else 0.0
    return score - (15 if files else 0)  # prefer items still missing


def _bare(title: str) -> str:
    return title.strip("《》")
