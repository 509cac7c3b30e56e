"""Desk sessions kept in the database: a cookie names a row, and ending the row ends the session for every copy."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, Table, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.db import transaction
from bot.store.tables import DeskSession

DESK_SESSION = cast(Table, DeskSession.__table__)  # type: ignore[attr-defined]
SEEN_EVERY = dt.timedelta(minutes=1)  # last seen is written at most this often, not on every page


@dataclass(frozen=True)
class DeskSessionView:
    """An open desk session: whose, since when, last used when."""

    id: str
    person: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


class DeskSessionRepo:
    """Open, resume and end desk sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open(self, person: str, now: dt.datetime) -> str:
        """Start a session for the person and return its id (a random token)."""
        sid = secrets.token_hex(16)  # hex: never starts with "-", so `--end ID` reads as a value
        async with transaction(self._sessions) as s:
            s.add(DeskSession(id=sid, person=person, created_at=now, last_seen_at=now))
        return sid

    async def resume(self, sid: str, now: dt.datetime, *, idle: dt.timedelta, cap: dt.timedelta) -> str | None:
        """Return the person of a session still open at `now`, ending it once idle for `idle` or older than `cap`."""
        engine = self._sessions.kw["bind"]
        async with engine.connect() as c:  # a Core read: this runs for every page
            row = (await c.execute(sa_select(DESK_SESSION).where(DESK_SESSION.c.id == sid))).first()
        if row is None or row.ended_at is not None:
            return None
        why = "expired" if now >= row.created_at + cap else "idle" if now >= row.last_seen_at + idle else ""
        if why:
            await self._end(DESK_SESSION.c.id == sid, why, now)
            return None
        if now - row.last_seen_at >= SEEN_EVERY:
            async with transaction(self._sessions) as s:
                await s.exec(update(DESK_SESSION).where(  # type: ignore[call-overload]
                    DESK_SESSION.c.id == sid, DESK_SESSION.c.ended_at.is_(None)).values(last_seen_at=now))
        return str(row.person)

    async def end(self, sid: str, why: str, now: dt.datetime) -> bool:
        """End one session; return False when there was no open session with this id."""
        return await self._end(DESK_SESSION.c.id == sid, why, now) > 0

    async def end_person(self, person: str, why: str, now: dt.datetime) -> int:
        """End every open session of a person; return how many."""
        return await self._end(DESK_SESSION.c.person == person, why, now)

    async def open_sessions(self, now: dt.datetime, *, idle: dt.timedelta, cap: dt.timedelta) -> list[DeskSessionView]:
        """Return the sessions open at `now`, the most recently used first."""
        async with self._sessions() as s:
            rows = (await s.exec(sa_select(DESK_SESSION).where(  # type: ignore[call-overload]
                DESK_SESSION.c.ended_at.is_(None), DESK_SESSION.c.last_seen_at > now - idle,
                DESK_SESSION.c.created_at > now - cap).order_by(DESK_SESSION.c.last_seen_at.desc()))).all()
        return [DeskSessionView(r.id, r.person, r.created_at, r.last_seen_at) for r in rows]

    async def _end(self, which: ColumnElement[bool], why: str, now: dt.datetime) -> int:
        async with transaction(self._sessions) as s:
            return await _end_where(s, which, why, now)


async def end_sessions_of(s: AsyncSession, person: str, why: str, now: dt.datetime) -> int:
    """End a person's open sessions inside the caller's transaction (a removal or role change commits with it)."""
    return await _end_where(s, DESK_SESSION.c.person == person, why, now)


async def _end_where(s: AsyncSession, which: ColumnElement[bool], why: str, now: dt.datetime) -> int:
    result = await s.exec(update(DESK_SESSION).where(  # type: ignore[call-overload]
        which, DESK_SESSION.c.ended_at.is_(None)).values(ended_at=now, end_reason=why))
    return int(result.rowcount)
