"""The durable intake's table: what a platform handed us, kept before we acknowledge it, until it is handled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.db import transaction
from bot.store.tables import Inbound

INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_ROWS_PER_INSERT = 200  # rows per multi-row INSERT: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Kept:
    """One kept inbound message: `key` is the platform's delivery id, `chat` the queue it is handled in."""

    id: int
    key: str
    channel: str
    chat: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Arrival:
    """A message as a channel hands it over, before it is kept."""

    key: str
    chat: str
    payload: dict[str, Any]


class InboundRepo:
    """Keep inbound messages (one transaction per batch, redeliveries dropped), mark them handled, list leftovers."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]

    async def keep(self, channel: str, arrivals: Sequence[Arrival], now: dt.datetime,
                   handled: Sequence[int] = ()) -> list[Kept]:
        """Store a batch in one transaction and return the messages that are new (a redelivered key is skipped).

        `handled` marks earlier messages handled in the same transaction: the intake folds the marks that are
        due into the next keep, so a busy channel pays one commit per batch rather than two per message.
        Both run for every message, so they are Core statements: the ORM session would cost more than the write.
        """
        kept: list[Kept] = []
        if not arrivals and not handled:
            return kept
        async with self._engine.begin() as c:
            if handled:
                await self._mark(c, handled, now)
            insert = postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert
            first: dict[str, int] = {}  # key -> position of its first arrival (a key twice in one batch is one message)
            for i, a in enumerate(arrivals):
                first.setdefault(a.key, i)
            order = list(first.values())
            for start in range(0, len(order), _ROWS_PER_INSERT):
                chunk = [arrivals[i] for i in order[start:start + _ROWS_PER_INSERT]]
                stmt = (insert(INBOUND)
                        .values([{"key": a.key, "channel": channel, "chat": a.chat, "payload": a.payload,
                                  "received_at": now} for a in chunk])
                        .on_conflict_do_nothing(index_elements=["key"])
                        .returning(INBOUND.c.id, INBOUND.c.key))
                # RETURNING's row order is not promised: match the new rows by key
                new: dict[str, int] = {key: id_ for id_, key in (await c.execute(stmt)).all()}
                kept.extend(Kept(new[a.key], a.key, channel, a.chat, a.payload) for a in chunk if a.key in new)
        return kept

    async def handled(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Mark kept messages as handled."""
        async with self._engine.begin() as c:
            await self._mark(c, ids, now)

    @staticmethod
    async def _mark(c: AsyncConnection, ids: Sequence[int], now: dt.datetime) -> None:
        await c.execute(update(INBOUND).where(INBOUND.c.id.in_(list(ids))).values(handled_at=now))

    async def unhandled(self, channel: str) -> list[Kept]:
        """Return messages kept but not handled (a crash or a stop came between), in arrival order."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Inbound).where(Inbound.channel == channel, col(Inbound.handled_at).is_(None))
                                 .order_by(col(Inbound.id)))).all()
            return [Kept(r.id or 0, r.key, r.channel, r.chat, dict(r.payload)) for r in rows]

    async def forget_handled(self, before: dt.datetime) -> int:
        """Delete handled messages older than `before` (they only served to recognise redeliveries)."""
        async with transaction(self._sessions) as s:
            result = await s.exec(delete(Inbound).where(col(Inbound.handled_at).is_not(None),
                                                           col(Inbound.handled_at) < before))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
