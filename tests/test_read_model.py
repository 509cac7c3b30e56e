"""Questions are answered from memory; every change — here or in another process — is seen; guards stay in the DB.

"Another process" is a second App on the same database: its own engine, connections and read model, exactly
what a second `duban run` or the CLI has.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Chat, make_settings
from sqlalchemy import event, text
from sqlmodel import SQLModel

import bot.store.tables  # noqa: F401  (registers the tables)
from bot.app import App
from bot.core.clock import Clock
from bot.readmodel import UNRELATED

PDF = b"%PDF-1.4 read model\n"


class StatementCounter:
    """Count the SQL statements an engine runs (what 'no SQL' means, measured at the driver)."""

    def __init__(self, app: App) -> None:
        self.statements: list[str] = []
        event.listen(app.store.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


@pytest.fixture
async def other(tmp_path: Path, db_url: str, clock: Clock) -> AsyncIterator[App]:
    """A second process on the same database."""
    application = await App.create(make_settings(tmp_path / "other", db_url), clock)
    yield application
    await application.close()


async def eventually_refused(chat: Chat, user: str, question: str, refusal: str) -> str:
    """Ask until the answer carries `refusal` (the other process's change arrived); bounded, not timed."""
    for _ in range(600):
        if refusal in (answer := await chat.text(user, question)):
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"still answered without「{refusal}」: {answer}")


async def test_a_steady_question_runs_no_sql(app: App, chat: Chat) -> None:
    await chat.bind("li", "区教育局")
    first = await chat.text("li", "我单位有哪些任务")
    counter = StatementCounter(app)
    again = await chat.text("li", "我单位有哪些任务")
    assert again == first and "任务40" in again
    assert counter.statements == []


async def test_the_writer_sees_its_own_change_at_once(app: App, chat: Chat) -> None:
    await chat.bind("li", "区水务局")
    assert "已收 0/4" in await chat.text("li", "任务12还差哪些材料")
    assert "归入任务12 材料3" in await chat.text("li", "12-3", files=[("调研报告.pdf", PDF)])
    assert "已收 1/4" in await chat.text("li", "任务12还差哪些材料")


async def test_a_unit_list_answered_before_shows_a_change_and_the_next_day(app: App, chat: Chat,
                                                                           clock: Clock) -> None:
    """The rendered list is kept for the same question on the same day over the same data: a filing, another
    unit's liaison and a new day each get their own words."""
    await chat.bind("li", "区水务局")
    await chat.bind("edu", "区教育局")
    before = await chat.text("li", "我单位有哪些任务")
    assert await chat.text("li", "我单位有哪些任务") == before
    assert "· 未开始 · 材料 0/4" in line_of(before, 12)
    assert "区教育局的任务" in await chat.text("edu", "我单位有哪些任务")
    assert "归入任务12 材料3" in await chat.text("li", "12-3", files=[("调研报告.pdf", PDF)])
    after = await chat.text("li", "我单位有哪些任务")
    assert "· 进行中 · 材料 1/4" in line_of(after, 12)
    clock.advance(dt.timedelta(days=1))
    tomorrow = await chat.text("li", "我单位有哪些任务")
    assert "（2023-10-21）" in tomorrow and "（2023-10-20）" in after


def line_of(answer: str, no: int) -> str:
    """The two lines a task list gives task `no`."""
    start = answer.index(f"【任务{no}】")
    return "\n".join(answer[start:].split("\n")[:2])


async def test_another_process_change_is_seen_and_a_removed_liaison_refused(app: App, other: App, chat: Chat,
                                                                           tmp_path: Path) -> None:
    """Removed in another process: the next write is refused at once, the next question within the notify latency."""
    await app.services.reads.start()
    try:
        if app.store.engine.dialect.name == "postgresql":
            await asyncio.wait_for(app.services.reads.listening(), 30)
        await chat.bind("li", "区教育局")
        assert "任务40" in await chat.text("li", "我单位有哪些任务")  # now cached here
        elsewhere = Chat(other, tmp_path)
        assert "区教育局" in await elsewhere.text("admin", "/remove console:li")
        # An action identifies its sender from the database: refused at once, nothing filed.
        refused = await chat.text("li", "40-1", files=[("创建材料.pdf", PDF)])
        assert "还没有绑定单位" in refused
        plan = await app.store.plans.plan()
        assert await app.store.evidence.files(plan.id, 40) == []
        # A question: refused once the other process's change has reached this one's read model.
        assert "还没有绑定单位" in await eventually_refused(chat, "li", "我单位有哪些任务", "还没有绑定单位")
    finally:
        await app.services.reads.stop()


async def test_a_lost_listener_resets_and_listens_again(app: App, other: App, chat: Chat, tmp_path: Path) -> None:
    if app.store.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite is watched by its revision row")
    reads = app.services.reads
    await reads.start()
    try:
        await asyncio.wait_for(reads.listening(), 30)
        killed = reads.listener_pid
        async with other.store.engine.connect() as c:  # an administrator (or a failover) kills the listener
            await c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        await chat.bind("li", "区教育局")
        assert "任务40" in await chat.text("li", "我单位有哪些任务")
        for _ in range(1200):  # listening again, on a new connection
            if reads.listener_pid != killed:
                break
            await asyncio.sleep(0.05)
        await asyncio.wait_for(reads.listening(), 60)
        assert reads.listener_pid != killed
        assert "区教育局" in await Chat(other, tmp_path).text("admin", "/remove console:li")
        await eventually_refused(chat, "li", "我单位有哪些任务", "还没有绑定单位")
    finally:
        await reads.stop()


async def test_every_table_the_reads_depend_on_has_revision_triggers(app: App) -> None:
    """A table added later (or rebuilt by a batch migration on SQLite, which drops triggers) must keep them."""
    async with app.store.engine.connect() as c:
        if c.dialect.name == "postgresql":
            rows = (await c.execute(text("SELECT DISTINCT event_object_table FROM information_schema.triggers "
                                         "WHERE trigger_name LIKE 'duban_revision_%'"))).all()
            covered = {r[0] for r in rows}
        else:
            rows = (await c.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' "
                                         "AND name LIKE 'duban_revision_%'"))).all()
            covered = {t for t in {r[0] for r in rows} if sum(1 for r in rows if r[0] == t) == 3}
    assert covered == set(SQLModel.metadata.tables) - UNRELATED


async def test_a_stop_in_the_middle_of_a_query_stops(app: App, chat: Chat) -> None:
    """Cancelling a task during a PostgreSQL query (what every stop does) ends it with CancelledError.

    The read model's commit hooks once raised PendingRollbackError in the rollback that follows, so the listener
    took the cancellation for a lost connection and carried on: `duban` stopping during a revision check hung.
    """
    if app.store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server-side sleep to cancel")
    await chat.bind("li", "区教育局")  # a write on this engine, so the hooks have seen the connection

    async def slow_read() -> None:
        async with app.store.engine.connect() as c:
            await c.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(slow_read())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert "任务40" in await chat.text("li", "我单位有哪些任务")  # the pool is still usable


async def test_questions_after_a_change_share_one_read(app: App, chat: Chat) -> None:
    """After a change, the chats handled at once read the plan's tasks once between them, not once each."""
    for n in range(8):
        await chat.bind(f"li{n}", "区教育局")
    assert "任务40" in await chat.text("li0", "我单位有哪些任务")
    await chat.bind("li8", "区水务局")  # a change: the cached plan and people are dropped
    counter = StatementCounter(app)
    answers = await asyncio.gather(*(chat.text(f"li{n}", "我单位有哪些任务") for n in range(8)))
    assert all("任务40" in a for a in answers)
    task_reads = [s for s in counter.statements if "FROM task" in s and "task.status" in s]
    assert len(task_reads) == 1, task_reads
