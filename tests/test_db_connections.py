"""The database connection pool: no ping on every checkout, and a connection the server closed is replaced."""

from __future__ import annotations

import asyncio

import pytest
from conftest import Chat
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App

BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


async def test_a_question_after_the_server_closed_the_pooled_connections_is_answered(
        app: App, chat: Chat, backend: str, db_url: str) -> None:
    if backend != "postgres":
        pytest.skip("a server-side connection to kill is PostgreSQL's")
    await chat.bind("li", "区教育局")
    assert "区教育局" in await chat.text("li", "我单位有哪些任务")  # the pool now holds a live connection

    admin = create_async_engine(db_url)
    try:
        async with admin.connect() as conn:
            pids = (await conn.execute(text(BACKENDS))).scalars().all()
            assert pids
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(200):  # until the server has ended them (each look is a round trip, not a sleep)
                if not set(pids) & set((await conn.execute(text(BACKENDS))).scalars().all()):
                    break
                await asyncio.sleep(0.01)
    finally:
        await admin.dispose()

    reply = await chat.text("li", "我单位有哪些任务")
    assert "区教育局" in reply and "任务40" in reply
