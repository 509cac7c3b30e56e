"""The intake's table: a redelivery is kept once; on a SQLite file a message is kept even while another writer
holds the database, and the event loop goes on meanwhile (the keep waits in its thread, not on the loop); on
PostgreSQL keeping goes on after the server closed the connection the intake holds."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from pgdb import end_connections

from bot.app import App
from bot.core.messages import ChatRef, Envelope
from bot.store.store import open_store


def said(key: str, text: str) -> Envelope:
    """A console message of li's, as the channel decodes it."""
    return Envelope(key, ChatRef("console", "li"), "li", text=text)


def sqlite_path(app: App) -> str:
    if app.store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own writer")
    path = app.store.engine.url.database
    assert path
    return path


async def test_a_keep_waits_for_another_writer_without_stopping_the_loop(app: App) -> None:
    now = app.clock.utcnow()
    first = (await app.store.intake.keep([said("console:1", "一")], now))["console:1"]
    other = sqlite3.connect(sqlite_path(app), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        keeping = asyncio.create_task(app.store.intake.keep([said("console:2", "二")], now, handled=[first]))
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.sleep(0)  # the keep starts, finds the database held, and goes to wait in its thread
        # Not a speed check: a keep that waited on the loop would freeze it for the 30 s busy timeout.
        assert loop.time() - before < 10
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert not keeping.done()  # still waiting for the other writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert list(await asyncio.wait_for(keeping, 30)) == ["console:2"]
    assert [m.key for m in await app.store.intake.unhandled("console")] == ["console:2"]  # the mark went with it


async def test_a_redelivery_is_kept_once(app: App) -> None:
    now = app.clock.utcnow()
    envelope = said("console:7", "任务12还差哪些材料")
    assert len(await app.store.intake.keep([envelope, envelope], now)) == 1
    assert await app.store.intake.keep([envelope], now) == {}
    [kept] = await app.store.intake.unhandled("console")
    assert Envelope.from_json(kept.payload) == envelope


async def test_keeping_goes_on_after_the_server_closed_the_held_connection(app: App, backend: str,
                                                                           db_url: str) -> None:
    if backend != "postgres":
        pytest.skip("a server-side connection to kill is PostgreSQL's")
    now = app.clock.utcnow()
    assert await app.store.intake.keep([said("console:1", "一")], now)
    await end_connections(db_url)
    kept = await app.store.intake.keep([said("console:2", "二")], now)
    await app.store.intake.handled([kept["console:2"]], now)
    assert [m.key for m in await app.store.intake.unhandled("console")] == ["console:1"]


async def test_an_in_memory_database_keeps_and_marks_too(tmp_path: Path) -> None:
    store = await open_store("sqlite+aiosqlite://", tmp_path)
    try:
        now = dt.datetime(2023, 10, 20, 2, 0, tzinfo=dt.UTC)
        envelope = said("console:1", "一")
        first = (await store.intake.keep([envelope, envelope], now))["console:1"]
        assert await store.intake.keep([envelope], now) == {}
        await store.intake.keep([said("console:2", "二")], now, handled=[first])
        assert [m.key for m in await store.intake.unhandled("console")] == ["console:2"]
    finally:
        await store.close()
