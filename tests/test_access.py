"""Who may do what, checked on every message and every button press, also when many arrive at once."""

from __future__ import annotations

import asyncio

from conftest import Chat
from sqlalchemy import text

from bot.app import App
from bot.core.views import TaskStatus
from bot.handlers.router import APOLOGY
from bot.reminders.engine import ReminderEngine


async def count(app: App, table: str) -> int:
    """Return the number of rows in a table."""
    async with app.store.engine.connect() as c:
        return int((await c.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_removed_liaison_cannot_submit_with_an_earlier_button(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "/done 42")
    assert ask.choices[0].label == "仍然提交审核"
    await chat.text("admin", "/remove console:li")
    outbox = await count(app, "outbox")
    reply = await chat.text("li", callback=ask.choices[0].data)
    assert "/bind" in reply and "待审核" not in reply
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 42)).status is TaskStatus.NOT_STARTED
    assert await count(app, "outbox") == outbox  # no 待审核 notice to the coordinators


async def test_liaison_moved_to_another_unit_cannot_submit_the_old_units_task(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "/done 42")
    await chat.bind("li", "水务局")
    assert "只有牵头单位" in await chat.text("li", callback=ask.choices[0].data)
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 42)).status is TaskStatus.NOT_STARTED


async def test_removed_liaison_cannot_file_by_an_earlier_choice(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "", files=[("学校用水量排名统计表.xlsx", b"xlsx bytes")])
    await chat.text("admin", "/remove console:li")
    assert "/bind" in await chat.text("li", callback=ask.choices[0].data)
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id) == []


async def test_removed_liaison_cannot_use_reminder_buttons(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await ReminderEngine.for_app(app).sweep()
    [row] = [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith("remind:console:li:")]
    buttons = dict(row["payload"]["choices"])
    await chat.text("admin", "/remove console:li")
    for label in ("查看任务41", "上传材料", "稍后提醒"):
        reply = await chat.text("li", callback=buttons[label])
        assert "/bind" in reply and "任务41（" not in reply and "再提醒您" not in reply, label
    assert await count(app, "snooze") == 0


async def test_reminder_upload_button_offers_only_the_current_units_tasks(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    await ReminderEngine.for_app(app).sweep()
    [row] = [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith("remind:console:li:")]
    await chat.bind("li", "发改局")  # neither leads nor cooperates on 41
    reply = await chat.text("li", callback=dict(row["payload"]["choices"])["上传材料"])
    assert "41-" not in reply and "已不是贵单位的任务" in reply


async def test_removed_liaison_cannot_turn_pages_of_the_old_list(chat: Chat) -> None:
    await chat.bind("shui", "水务局")
    [first] = await chat.say("shui", "我单位有哪些任务", limit=1200)
    await chat.text("admin", "/remove console:shui")
    assert "/bind" in await chat.text("shui", callback=first.choices[0].data)
    assert "/bind" in await chat.text("shui", "下一页")


async def test_stranger_gets_binding_help_instead_of_a_tasks_progress(chat: Chat) -> None:
    await chat.bind("li", "教育局")
    [ask] = await chat.say("li", "/done 42")
    await chat.say("li", callback=ask.choices[0].data)
    await chat.text("admin", "/return 42 缺少签约合同")
    assert "缺少签约合同" in await chat.text("li", "/task 42")
    for message in ("/task 42", "任务42", "42号任务还差哪些材料", "/files 42", "任务42的文件", "/due", "逾期的任务",
                    "教育局的任务", "汇总", "/digest"):
        reply = await chat.text("stranger", message)
        assert "/bind" in reply, message
        assert "缺少签约合同" not in reply and "已退回" not in reply and "材料 " not in reply, message
    assert "/bind" in await chat.text("stranger", "", files=[("a.pdf", b"pdf")])


async def test_stranger_asking_for_a_units_digest_is_told_how_to_bind(chat: Chat) -> None:
    reply = await chat.text("stranger", "/digest 教育局")
    assert "None" not in reply and "/bind" in reply


async def test_help_lists_only_what_the_sender_may_use(chat: Chat) -> None:
    stranger = await chat.text("stranger", "/help")
    assert "/bind" in stranger and "/task" not in stranger and "/approve" not in stranger
    await chat.bind("li", "教育局")
    liaison = await chat.text("li", "/help")
    assert "/task" in liaison and "/approve" not in liaison


async def test_coordinator_commands_still_refuse_liaisons(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    for message in ("/approve 42", "/invite 教育局", "/liaisons", "/remove console:li", "/export", "/urge 教育局"):
        assert "只有节水办" in await chat.text("li", message), message
    assert (await app.store.people.get("console:li")) is not None


async def test_guessing_codes_at_once_from_many_chats_is_still_limited(chat: Chat, app: App) -> None:
    await chat.text("guesser", "/help")
    replies = await asyncio.gather(*(chat.text("guesser", f"/bind WRONG{n:03d}", group=f"-100{n}")
                                     for n in range(12)))
    assert sum("不正确" in r for r in replies) == 5
    assert sum("过多" in r for r in replies) == 7
    assert await count(app, "bindfailure") == 5


async def test_first_messages_from_several_chats_at_once_make_one_person(chat: Chat, app: App) -> None:
    before = await count(app, "person")
    replies = await asyncio.gather(*(chat.text("newcomer", "/help", group=f"-200{n}") for n in range(6)))
    assert all(APOLOGY not in r and "督办助手" in r for r in replies)
    assert await count(app, "person") == before + 1


BIND, COORDINATORS, LEADERS, LEADER_ROLE, OK = "还没有绑定单位", "只有节水办", "批示由各单位的分管领导填写", "的分管领导：可以查看", ""
# what each standing hears: the refusal it gets, or OK (none of the refusals)
ROLE_MATRIX = {  # message: (stranger, liaison of 区教育局, 分管领导 of 区教育局, coordinator)
    "/task 40": (BIND, OK, OK, OK),
    "/files 40": (BIND, OK, OK, OK),
    "/done 42": (BIND, OK, LEADER_ROLE, BIND),
    "/note 42 已开展": (BIND, OK, LEADER_ROLE, OK),
    "/批示 40 请抓紧": (BIND, LEADERS, OK, LEADERS),
    "/instruct 40 请抓紧": (BIND, LEADERS, OK, LEADERS),
    "/approve 42": (BIND, COORDINATORS, LEADER_ROLE, OK),
    "/return 40-1 缺少盖章页": (BIND, COORDINATORS, LEADER_ROLE, OK),
    "/urge 教育局": (BIND, COORDINATORS, LEADER_ROLE, OK),
    "/invite 教育局 领导": (BIND, COORDINATORS, LEADER_ROLE, OK),
    "40-1": (BIND, OK, LEADER_ROLE, OK),
}


async def test_role_matrix(chat: Chat) -> None:
    """Every standing against the commands that tell them apart, the 分管领导 included."""
    await chat.bind("li", "教育局")
    reply = await chat.text("admin", "/invite 教育局 领导")
    code = next(w for w in reply.replace("：", " ").split() if len(w) == 8 and w.isalnum() and w.isupper())
    assert "分管领导" in await chat.text("wang", f"/bind {code}")
    refusals = (BIND, COORDINATORS, LEADERS, LEADER_ROLE)
    for message, expected in ROLE_MATRIX.items():
        for user, want in zip(("stranger", "li", "wang", "admin"), expected, strict=True):
            said = await chat.text(user, message)
            if want:
                assert want in said, (message, user, said)
            else:
                assert not any(r in said for r in refusals), (message, user, said)
    for user, want in (("stranger", BIND), ("li", OK), ("wang", LEADER_ROLE)):
        said = await chat.text(user, "", files=[("a.pdf", b"pdf")])
        assert (want in said) if want else not any(r in said for r in refusals), (user, said)
