"""The durable intake's table: what a platform handed us, kept before we acknowledge it, until it is handled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.db import transaction
from bot.store.tables import Inbound

INBOUND = Inbound.__table__  # type: ignore[attr-defined]


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

    async def keep(self, channel: str, arrivals: Sequence[Arrival], now: dt.datetime) -> list[Kept]:
        """Store a batch in one transaction and return the messages that are new (a redelivered key is skipped).

        Runs for every message received (and `handled` after it), so both are Core statements on one connection:
        the ORM session would cost more than the write itself.
        """
        if not arrivals:
            return []
        kept: list[Kept] = []
        async with self._engine.begin() as c:
            insert = postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert
            for a in arrivals:
                stmt = (insert(INBOUND).values(key=a.key, channel=channel, chat=a.chat, payload=a.payload,
                                               received_at=now)
                        .on_conflict_do_nothing(index_elements=["key"]).returning(INBOUND.c.id))
                new_id = (await c.execute(stmt)).scalar_one_or_none()
                if new_id is not None:
                    kept.append(Kept(new_id, a.key, channel, a.chat, a.payload))
        return kept

    async def handled(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Mark kept messages as handled."""
        async with self._engine.begin() as c:
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
