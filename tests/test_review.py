"""The review queue: what waits for review, oldest first, and a task's files sent back to the coordinator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import Chat

from bot.app import App
from bot.core.clock import Clock
from bot.handlers.review import MAX_FILES


async def submit(chat: Chat, user: str, no: int) -> None:
    """Report a task done the way a liaison does, confirming despite missing items."""
    [reply] = await chat.say(user, f"/done {no}")
    if reply.choices:
        await chat.say(user, callback=reply.choices[0].data)


async def test_queue_lists_submitted_tasks_oldest_first_with_unit_and_evidence(chat: Chat, clock: Clock) -> None:
    assert "目前没有待审核的任务" in await chat.text("admin", "/review")
    await chat.bind("wei", "卫健局")
    await chat.bind("li", "教育局")
    await chat.say("wei", "43-1", files=[("合同.pdf", b"contract")])
    await submit(chat, "wei", 43)
    clock.advance(dt.timedelta(days=2))
    await submit(chat, "li", 42)
    await chat.say("wei", "/note 43 合同原件已寄出")  # later work on 43 does not move it back in the queue
    queue = await chat.text("admin", "/review")
    assert "待审核的任务（2项" in queue
    assert "任务43（区卫生健康局）" in queue and "材料 1/1" in queue and "已等2天" in queue
    assert "任务42（区教育局）" in queue and "材料 0/1" in queue
    assert queue.index("任务43") < queue.index("任务42")
    assert "只有节水办" in await chat.text("li", "/review")


async def test_review_sends_the_files_back_then_approves_from_the_button(chat: Chat, app: App) -> None:
    await chat.bind("wei", "卫健局")
    sent = [(f"合同{n}.pdf", f"contract {n}".encode()) for n in range(MAX_FILES + 2)]
    for name, data in sent:
        await chat.say("wei", "43-1", files=[(name, data)])
    await submit(chat, "wei", 43)
    replies = await chat.say("admin", "/review 43")
    files = [r.file for r in replies if r.file is not None]
    assert len(files) == MAX_FILES
    assert [(f.file_name, f.path.read_bytes()) for f in files] == sent[:MAX_FILES]
    last = replies[-1]
    assert "另有2个文件未发送" in last.text and [c.label for c in last.choices] == ["审核通过", "退回"]
    [done] = await chat.say("admin", callback=last.choices[0].data)
    assert "已审核通过" in done.text
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 43)).status.label == "已完成"
    assert (await app.store.chats.audit(task_no=43))[0]["action"] == "task.approved"
    assert any("已通过" in r["payload"]["text"] and r["chat_id"] == "wei" for r in await app.store.outbox.rows())


async def test_return_button_asks_for_the_reason(chat: Chat, app: App) -> None:
    await chat.bind("wei", "卫健局")
    await chat.say("wei", "43-1", files=[("合同.pdf", b"contract")])
    await submit(chat, "wei", 43)
    replies = await chat.say("admin", "/review 43")
    [answer] = await chat.say("admin", callback=replies[-1].choices[1].data)
    assert "/return 43 原因" in answer.text
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 43)).status.label == "待审核"


async def test_review_does_not_send_a_file_swapped_for_a_link(chat: Chat, app: App, tmp_path: Path) -> None:
    await chat.bind("wei", "卫健局")
    await chat.say("wei", "43-1", files=[("合同.pdf", b"contract")])
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 43)
    blob = app.store.files.path_for(f.sha256)
    (tmp_path / "passwd").write_bytes(b"root:x:0")
    blob.unlink()
    blob.symlink_to(tmp_path / "passwd")
    replies = await chat.say("admin", "/review 43")
    assert [r.file for r in replies if r.file is not None] == []
    assert any("合同.pdf" in r.text and "是链接或不是普通文件" in r.text for r in replies)
