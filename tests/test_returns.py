"""Returning one 材料 item or one file with a reason the liaison can act on, and 重新上传 putting the next file there."""

from __future__ import annotations

from conftest import Chat

from bot.app import App
from bot.cli.main import task_json
from bot.core.messages import Reply
from bot.store.outbox import reply_from_json


async def pushed_to(app: App, user: str, words: str) -> Reply:
    """Return the latest push to `user` whose text has `words`."""
    rows = [r for r in await app.store.outbox.rows() if r["chat_id"] == user and words in r["payload"]["text"]]
    assert rows, f"nothing pushed to {user} with {words!r}"
    return reply_from_json(rows[-1]["payload"])


async def test_item_return_reaches_the_liaison_and_reupload_files_the_next_file_there(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "40-1", files=[("通知.pdf", b"notice")])
    await chat.say("li", "40-2", files=[("创建材料.pdf", b"schools, unsigned")])
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 40)).evidence_done == 2

    answer = await chat.text("admin", "/return 40-2 缺少盖章页")
    assert "任务40 材料2" in answer and "缺少盖章页" in answer

    t = await app.store.plans.task(plan.id, 40)
    assert t.evidence_done == 1  # the returned file no longer counts
    assert t.status.label == "进行中"  # an item return leaves the task's own state alone
    told = await pushed_to(app, "li", "缺少盖章页")
    assert "任务40" in told.text and "材料2" in told.text and "节水型学校创建材料" in told.text
    assert "创建材料.pdf" in told.text
    assert [c.label for c in told.choices] == ["重新上传"]
    detail = await chat.text("li", "任务40")
    assert "已退回：缺少盖章页" in detail and "已收 1/5" in detail
    as_json = task_json(t, app.clock.today(), app.settings.warning_rule)
    assert as_json["evidence_received"][:2] == [1, 0]
    assert as_json["evidence_returned"][:2] == [None, "缺少盖章页"]
    entry = next(a for a in await app.store.chats.audit(task_no=40) if a["action"] == "evidence.return")
    assert entry["detail"]["item"] == 2 and entry["detail"]["reason"] == "缺少盖章页"
    [returned] = [f for f in entry["detail"]["files"]]
    assert app.store.files.path_for(returned["sha256"]).read_bytes() == b"schools, unsigned"  # kept, never deleted

    [ready] = await chat.say("li", callback=told.choices[0].data)
    assert "任务40 材料2" in ready.text
    [filed] = await chat.say("li", files=[("创建材料-盖章.pdf", b"schools, signed and stamped")])  # no caption
    assert "归入任务40 材料2" in filed.text and "材料 2/5" in filed.text
    t = await app.store.plans.task(plan.id, 40)
    returned = task_json(t, app.clock.today(), app.settings.warning_rule)["evidence_returned"]
    assert t.evidence_done == 2 and returned[1] is None
    assert "已退回" not in await chat.text("li", "任务40")


async def test_review_offers_a_return_button_per_file_with_reason_categories(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "40-1", files=[("通知.pdf", b"notice")])
    await chat.say("li", "40-3", files=[("排名表.xlsx", b"ranking 2022")])
    replies = await chat.say("admin", "/review 40")
    per_file = [r for r in replies if r.file is not None]
    assert [[c.label for c in r.choices] for r in per_file] == [["退回"], ["退回"]]
    ranking = next(r for r in per_file if r.file is not None and r.file.file_name == "排名表.xlsx")
    [ask] = await chat.say("admin", callback=ranking.choices[0].data)
    assert [c.label for c in ask.choices] == ["缺少盖章或签字", "年份或期间不对", "与材料清单不符", "文件不清晰或不完整",
                                             "其他（填写）"]
    [done] = await chat.say("admin", callback=ask.choices[1].data)
    assert "排名表.xlsx" in done.text and "年份或期间不对" in done.text
    plan = await app.store.plans.plan()
    t = await app.store.plans.task(plan.id, 40)
    returned = task_json(t, app.clock.today(), app.settings.warning_rule)["evidence_returned"]
    assert t.evidence_done == 1 and returned[2] == "年份或期间不对"
    told = await pushed_to(app, "li", "年份或期间不对")
    assert "排名表.xlsx" in told.text and "材料3" in told.text
    assert [f.file_name for f in await app.store.evidence.files(plan.id, 40)] == ["通知.pdf"]


async def test_other_reason_asks_for_free_text_and_a_file_is_returned_by_its_number(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [filed] = await chat.say("li", "40-4", files=[("说明.docx", b"explanation")])
    file_id = filed.text.split("#")[1].split("。")[0]
    replies = await chat.say("admin", "/review 40")
    per_file = next(r for r in replies if r.file is not None)
    [ask] = await chat.say("admin", callback=per_file.choices[0].data)
    [hint] = await chat.say("admin", callback=ask.choices[-1].data)
    assert f"/return #{file_id} 原因" in hint.text
    answer = await chat.text("admin", f"/return #{file_id} 缺少2023年的数据")
    assert "说明.docx" in answer and "缺少2023年的数据" in answer
    assert "已退回：缺少2023年的数据" in await chat.text("li", "任务40")


async def test_task_return_stays_and_liaisons_may_not_return(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "40-2", files=[("创建材料.pdf", b"schools")])
    assert "只有节水办" in await chat.text("li", "/return 40-2 不对")
    assert "只有节水办" in await chat.text("li", "/return #1 不对")
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 40)).evidence_done == 1
    assert "请写上退回原因" in await chat.text("admin", "/return 40-2")
    assert "没有第9项材料" in await chat.text("admin", "/return 40-9 不对")
    [confirm] = await chat.say("li", "/done 40")
    await chat.say("li", callback=confirm.choices[0].data)
    assert "已退回区教育局" in await chat.text("admin", "/return 40 材料不全")
