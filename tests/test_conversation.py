"""Conversations through the core entry point, as liaisons and coordinators have them."""

from __future__ import annotations

from conftest import Chat

from bot.app import App


async def test_unbound_user_is_told_how_to_bind(chat: Chat) -> None:
    reply = await chat.text("zhang", "我单位有哪些任务")
    assert "/bind" in reply and "邀请码" in reply


async def test_liaison_lists_own_unit_tasks_lead_and_cooperating(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "我单位有哪些任务")
    assert "区教育局" in reply
    assert "牵头任务 3 项" in reply  # 40, 41, 42
    assert "配合任务" in reply  # 22, 35, 50 name 区教育局 as cooperating
    assert reply.index("任务40") < reply.index("任务42")
    assert "材料 0/5" in reply


async def test_month_question_in_chinese_numerals(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "十月份要完成什么")
    assert "任务41" in reply and "任务40" not in reply and "任务42" not in reply


async def test_overdue_question(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "逾期的任务")
    assert "任务40" in reply and "逾期20天" in reply  # due 2023-09-30, today 2023-10-20
    assert "任务41" not in reply


async def test_task_detail_shows_checklist_shared_list_and_notes(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "任务40还差哪些材料")
    assert "《节水型学校创建材料（3家）》" in reply
    assert "任务41共用" in reply
    assert "⬜ 5." in reply
    reply15 = await chat.text("admin", "/task 15")
    assert "备注：取水点设置要求" in reply15


async def test_upload_with_caption_is_stored_and_counts_for_shared_task(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    data = b"%PDF-1.4 fake school report"
    reply = await chat.text("li", "40-2", files=[("节水型学校创建材料.pdf", data)])
    assert "已收到" in reply and "任务40 材料2" in reply
    plan = await app.store.plans.plan()
    t41 = await app.store.plans.task(plan.id, 41)
    assert t41.evidence_done == 1  # shared list with task 40
    files = await app.store.evidence.files(plan.id, 40)
    assert app.store.files.path_for(files[0].sha256).read_bytes() == data
    again = await chat.text("li", "40-2", files=[("copy.pdf", data)])
    assert "已经提交过了" in again
    assert len(await app.store.evidence.files(plan.id, 40)) == 1


async def test_upload_for_other_units_task_is_refused_and_nothing_stored(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("li", "12-1", files=[("x.pdf", b"data")])
    assert "不能为它提交材料" in reply
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []


async def test_upload_without_caption_offers_choices_then_files(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [reply] = await chat.say("li", "", files=[("学校用水量排名统计表.xlsx", b"xlsx bytes")])
    assert reply.choices and "排名统计表" in reply.choices[0].label
    [done] = await chat.say("li", callback=reply.choices[0].data)
    assert "已收到" in done.text and "材料3" in done.text
    again = await chat.text("li", callback=reply.choices[0].data)
    assert "已经按过" in again


async def test_button_of_another_person_is_refused(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    await chat.bind("wang", "教育局")
    [reply] = await chat.say("li", "", files=[("a.pdf", b"abc")])
    assert "其他人" in await chat.text("wang", callback=reply.choices[0].data)


async def test_done_with_missing_items_asks_then_coordinator_approves(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "/done 42")
    assert "还有1项材料没有收到" in ask.text
    [ok] = await chat.say("li", callback=ask.choices[0].data)
    assert "待审核" in ok.text
    rows = await app.store.outbox.rows()
    assert any("待审核" in r["payload"]["text"] and r["chat_id"] == "admin" for r in rows)
    assert "已审核通过" in await chat.text("admin", "/approve 42")
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 42)).status.label == "已完成"
    rows = await app.store.outbox.rows()
    assert any("已通过" in r["payload"]["text"] and r["chat_id"] == "li" for r in rows)


async def test_return_needs_reason_and_notifies(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "/done 42")
    await chat.say("li", callback=ask.choices[0].data)
    assert "请写上退回原因" in await chat.text("admin", "/return 42")
    assert "已退回" in await chat.text("admin", "/return 42 缺少签约合同")
    assert "已退回" in await chat.text("li", "/task 42")


async def test_liaison_cannot_approve_or_digest_plan(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    assert "只有节水办" in await chat.text("li", "/approve 40")
    reply = await chat.text("li", "/digest")
    assert "区教育局进度简报" in reply
    assert "只能查看本单位" in await chat.text("li", "/digest 水务局")


async def test_coordinator_digest_ranks_overdue_units(chat: Chat) -> None:
    reply = await chat.text("admin", "/digest")
    assert "各单位（牵头任务，落后的在前）" in reply and "区教育局：完成0/3 · 材料0% · 逾期1项" in reply


async def test_invite_code_single_use_and_guessing_throttled(chat: Chat) -> None:
    reply = await chat.text("admin", "/invite 住建局")
    code = reply.split("邀请码：")[1].split()[0]
    assert "区住房和城乡建设局" in await chat.text("a", f"/bind {code.lower()}")
    assert "用过了" in await chat.text("b", f"/bind {code}")
    for _ in range(5):
        assert "不正确" in await chat.text("c", "/bind WRONGCOD")
    assert "过多" in await chat.text("c", f"/bind {code}")


async def test_bad_input_gets_chinese_answers(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    assert "没有 /foo" in await chat.text("li", "/foo")
    assert "没有第99项任务" in await chat.text("li", "任务99")
    assert "太长" in await chat.text("li", "任务" * 2000)
    assert "没太明白" in await chat.text("li", "\x00\x01\x02 qwerty")
    assert "没有确定" in await chat.text("admin", "/invite 局")


async def test_long_answers_are_paged_without_cutting_a_task(chat: Chat) -> None:
    await chat.bind("shui", "水务局")
    [first] = await chat.say("shui", "我单位有哪些任务", limit=1200)  # a WeCom-sized message
    assert "第1/" in first.text and len(first.text) <= 1200
    assert first.text.count("【任务") == first.text.count("截止 ")  # no task cut in half
    [second] = await chat.say("shui", "下一页")
    assert "第2/" in second.text
    assert second.text.count("【任务") > 0


async def test_files_list_and_withdraw_keeps_audit(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await chat.say("li", "42-1", files=[("签约合同.pdf", b"contract")])
    listing = await chat.text("li", "/files 42")
    assert "签约合同.pdf" in listing and "#1" in listing
    await chat.bind("shui", "水务局")
    assert "只能撤回本单位" in await chat.text("shui", "/withdraw 1")
    assert "已撤回" in await chat.text("li", "/withdraw 1")
    assert "还没有收到任何文件" in await chat.text("li", "/files 42")
    audit = await app.store.chats.audit(task_no=42)
    assert [a["action"] for a in audit][:2] == ["evidence.withdraw", "evidence.add"]


async def test_progress_toward_target_is_shown_in_detail_and_digest(chat: Chat) -> None:
    await chat.bind("shui", "水务局")
    assert "已登记任务20的进度：2" in await chat.text("shui", "/progress 20 2 世界水日、中国水周")
    detail = await chat.text("shui", "任务20")
    assert "当前进度 2" in detail and "4次" in detail
    assert "进度：任务20 2" in await chat.text("admin", "/digest")
    assert "只有牵头单位可以登记进度" in await chat.text("shui", "/progress 40 1")


async def test_urge_pushes_to_unit_liaisons_and_is_audited(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    reply = await chat.text("admin", "/urge 教育局")
    assert "已向区教育局的1位联络员发送催办提醒" in reply
    rows = await app.store.outbox.rows()
    assert any(r["chat_id"] == "li" and "督办提醒" in r["payload"]["text"] for r in rows)
    assert (await app.store.chats.audit())[0]["action"] == "urge"
    assert "只有节水办" in await chat.text("li", "/urge 教育局")


async def test_coordinator_lists_and_removes_liaisons(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    listing = await chat.text("admin", "/liaisons 教育局")
    assert "console:li" in listing
    assert "已移除区教育局的联络员" in await chat.text("admin", "/remove console:li")
    assert "/bind" in await chat.text("li", "我单位有哪些任务")


async def test_relative_dates_next_month_and_this_week(chat: Chat) -> None:
    await chat.bind("shui", "水务局")
    nov = await chat.text("shui", "下个月到期的")
    assert "11月" in nov and "任务1】" in nov and "任务11】" not in nov
    assert "区水务局没有下周到期的任务" in await chat.text("shui", "下周要交什么")  # 2023-10-23..29: no deadline
