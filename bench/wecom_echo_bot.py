"""The baselines for bench_wecom_bot.py: the official SDK's echo bot (wecom-aibot-python-sdk), bare or storing.

It answers every text with a finished stream reply of a given size on the frame's req_id. Bare, it is the
framework floor on the same fake server: no work at all. With --store DB it first keeps each frame in a
SQLite file (WAL, as duban's default store) keyed by its msgid, dropping a redelivery, and marks it handled
after the reply — the durable intake duban promises, written the plain way (one transaction for each, in a
worker thread so the event loop never waits on the disk); only duban's own work (who is asking, what the
plan says, the outbox) is missing.

Usage: wecom_echo_bot.py WS_URL BOT_ID SECRET REPLY_BYTES [--store DB]
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
from typing import Any

import aibot.ws
from aibot import WSClient, WSClientOptions
from aibot.utils import generate_req_id


class Kept:
    """Frames kept in SQLite before they are answered; one connection per worker thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()
        self._conn().execute("CREATE TABLE IF NOT EXISTS inbound (id INTEGER PRIMARY KEY, key TEXT UNIQUE, "
                             "payload TEXT, handled INTEGER NOT NULL DEFAULT 0)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def keep(self, frame: dict[str, Any]) -> int | None:
        """Store the frame; None when its msgid was kept before (a redelivery)."""
        with self._conn() as conn:
            row = conn.execute("INSERT INTO inbound (key, payload) VALUES (?, ?) ON CONFLICT (key) DO NOTHING "
                               "RETURNING id", (frame["body"]["msgid"], json.dumps(frame))).fetchone()
        return None if row is None else int(row[0])

    def handled(self, id_: int) -> None:
        with self._conn() as conn:
            conn.execute("UPDATE inbound SET handled = 1 WHERE id = ?", (id_,))


async def main(url: str, bot_id: str, secret: str, size: int, store: str | None) -> None:
    aibot.ws._SSL_CONTEXT = None  # type: ignore[assignment]  # the SDK passes a TLS context even for ws://
    client = WSClient(WSClientOptions(bot_id=bot_id, secret=secret, ws_url=url, max_reconnect_attempts=-1))
    reply = ("回" * size)[: size // 3]
    kept = Kept(store) if store else None

    async def on_text(frame: dict[str, Any]) -> None:
        id_ = await asyncio.to_thread(kept.keep, frame) if kept else 0
        if id_ is None:
            return
        await client.reply_stream(frame, generate_req_id("stream"), reply, finish=True)
        if kept:
            await asyncio.to_thread(kept.handled, id_)

    client.on("message.text", on_text)
    await client.connect()
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = sys.argv[1:]
    db = args[args.index("--store") + 1] if "--store" in args else None
    asyncio.run(main(args[0], args[1], args[2], int(args[3]), db))
