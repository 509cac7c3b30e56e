"""The one message path: keep → fetch → converse → deliver, whatever the channel; splitting to a platform's limit."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from conftest import Chat
from fakes.recorder import Recorder
from pgdb import end_connections

from bot.app import App
from bot.channels.pipeline import FetchFailed, Pipeline, split_text, utf8_len
from bot.core.clock import Clock
from bot.core.messages import ChatRef, Envelope, Media
from bot.handlers.router import APOLOGY
from bot.intake import Intake


def test_split_text_respects_the_byte_limit_and_keeps_lines_whole() -> None:
    lines = [f"- 任务{n}:{'节水' * (n % 37)}" for n in range(500)]
    content = "\n".join(lines)
    chunks = split_text(content, 1000, utf8_len)
    assert all(len(chunk.encode()) <= 1000 for chunk in chunks)
    assert "\n".join(chunks) == content
    assert {line for chunk in chunks for line in chunk.split("\n")} == set(lines)


def test_split_text_leaves_short_text_alone() -> None:
    assert split_text("一行\n两行", 4096, utf8_len) == ("一行\n两行",)
    assert split_text("", 4096, utf8_len) == ()


def test_split_text_cuts_only_an_overlong_line_at_character_boundaries() -> None:
    long_line = "督" * 50  # 150 bytes
    chunks = split_text(f"前\n{long_line}\n后", 40, utf8_len)
    assert all(len(chunk.encode()) <= 40 for chunk in chunks)
    assert chunks[0] == "前"
    assert "".join(chunks[1:-1]) + chunks[-1].removesuffix("\n后") == long_line
    assert chunks[-1].endswith("后")


async def test_a_passing_failure_is_handled_again_and_answered_once(app: App, chat: Chat, clock: Clock) -> None:
    """The platform's file server away for a moment: no apology and no "send it again"; the file is filed once."""
    await chat.bind("li", "区水务局")
    naps: list[float] = []

    async def nap(seconds: float) -> None:  # the intake's pause between attempts, without waiting for real
        naps.append(seconds)

    intake = Intake(app.store, clock, sleep=nap)
    pipeline = Pipeline(intake, app.conversation, app.outbox, app.scratch_file)
    channel = Recorder(fetch_failures=[FetchFailed("没能取到文件（网络错误）", passing=True)] * 2)
    pipeline.add(channel)
    intake.open()
    pdf = app.settings.state_dir / "报告.pdf"
    pdf.write_bytes(b"%PDF-1.4 report")
    envelope = Envelope("t:1", ChatRef("console", "li"), "li", text="12-3",
                        media=(Media("file", str(pdf), "报告.pdf", 15, "application/pdf"),))
    [reply] = await channel.handle(pipeline, envelope)
    assert "任务12 材料3" in reply.text and reply.text != APOLOGY
    assert naps == [0.5, 1.0]  # two passing failures, a longer pause after each
    plan = await app.store.plans.plan()
    assert len(await app.store.evidence.files(plan.id, 12)) == 1
    assert await app.store.intake.unhandled("console") == []


async def test_every_question_is_answered_once_while_the_database_connections_are_cut(
        app: App, backend: str, db_url: str) -> None:
    """60 liaisons ask while every connection to PostgreSQL is ended again and again: each gets one real answer."""
    if backend != "postgres":
        pytest.skip("a server-side connection to end is PostgreSQL's")
    people = [f"li-{n}" for n in range(60)]
    now = app.clock.utcnow()
    for user in people:
        code = await app.store.people.create_invite("区教育局", by="test", now=now, days=7)
        await app.store.people.bind(await app.store.people.identify("console", user, name=user, chat_id=user, now=now),
                                    code, now=now)
    channel = Recorder()
    app.pipeline.add(channel)
    app.intake.open()

    async def ask(user: str) -> None:
        envelope = Envelope(f"t:{user}", ChatRef("console", user), user, user, text="/task 40")
        while True:  # a platform delivers again what was not acknowledged
            try:
                await app.pipeline.keep([envelope])
                return
            except Exception:
                await asyncio.sleep(0.05)

    async def cut() -> None:
        for _ in range(12):
            with contextlib.suppress(AssertionError):  # nothing connected at that moment
                await end_connections(db_url)
            await asyncio.sleep(0.4)

    await asyncio.gather(cut(), *(ask(user) for user in people))
    await app.intake.idle()
    for user in people:
        replies = channel.answers.get(f"t:{user}", [])
        assert len(replies) == 1 and "任务40" in replies[0].text and replies[0].text != APOLOGY, (user, replies)
