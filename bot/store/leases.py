"""Leases: one process at a time holds a named resource, renewed while it lives, taken over when it lapses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.db import transaction
from bot.store.tables import Lease


class LeaseRepo:
    """Take, renew and give up leases in one atomic statement each (SQLite and PostgreSQL alike)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def take(self, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
        """Take or renew the lease until now + ttl; refuse while another holder's lease has not expired."""
        async with transaction(self._sessions) as s:
            insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
            stmt = insert(Lease).values(name=name, holder=holder, expires_at=now + ttl).on_conflict_do_update(
                index_elements=["name"], set_={"holder": holder, "expires_at": now + ttl},
                where=or_(col(Lease.holder) == holder, col(Lease.expires_at) <= now),
            ).returning(col(Lease.holder))
            got = (await s.exec(stmt)).scalar_one_or_none()  # type: ignore[call-overload]
            return got == holder

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (a graceful stop, a displaced connection), if we still hold it."""
        async with transaction(self._sessions) as s:
            await s.exec(delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == holder))  # type: ignore[call-overload]

    async def holder(self, name: str, now: dt.datetime) -> str | None:
        """Return who holds an unexpired lease, if anyone."""
        async with self._sessions() as s:
            row = await s.get(Lease, name)
            return row.holder if row is not None and row.expires_at > now else None
