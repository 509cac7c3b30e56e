"""The database connection pool: no ping on every checkout, and a connection the server closed is replaced."""

from __future__ import annotations

import pytest
from conftest import Chat
from pgdb import end_connections

from bot.app import App


async def test_a_question_after_the_server_closed_the_pooled_connections_is_answered(
        app: App, chat: Chat, backend: str, db_url: str) -> None:
    if backend != "postgres":
        pytest.skip("a server-side connection to kill is PostgreSQL's")
    await chat.bind("li", "区教育局")
    assert "区教育局" in await chat.text("li", "我单位有哪些任务")  # the pool now holds a live connection

    await end_connections(db_url)

    reply = await chat.text("li", "我单位有哪些任务")
    assert "区教育局" in reply and "任务40" in reply
