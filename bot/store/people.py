"""People, roles and invite codes."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotFound, UserError
from bot.core.messages import person_key, realm
from bot.core.views import PersonView
from bot.store.db import transaction, upsert
from bot.store.sessions import end_sessions_of
from bot.store.tables import Audit, BindFailure, Invite, Person

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed on phones
CODE_LENGTH = 8
PERSON = cast(Table, Person.__table__)  # type: ignore[attr-defined]
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)

_IN_CHUNK = 500  # keys per IN (...) list: well inside every backend's limit on bound parameters


def normalise_code(text: str) -> str:
    """Accept a code typed in lower case, with spaces or dashes, or with full-width letters."""
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKC", text).upper() if ch.isalnum())


class PeopleRepo:
    """Who is who: coordinators, liaisons and their units."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def identify(self, channel: str, user_id: str, *, name: str, chat_id: str | None, now: dt.datetime,
                       coordinator: bool = False) -> PersonView:
        """Return the person behind (channel, user id), creating the row on first contact.

        The person is kept under the channel's realm (the same UserID on both WeCom channels is one person); a
        private message records the channel it came on, where pushes go next. `coordinator` is true when
        configuration names this person; it is stored so pushes find them. Runs on every message, so the common
        case (nothing changed) is one read and no write.
        """
        via, channel = channel, realm(channel)
        engine = self._sessions.kw["bind"]
        async with engine.connect() as c:  # a Core read: this runs for every message
            found = (await c.execute(sa_select(PERSON).where(
                PERSON.c.channel == channel, PERSON.c.user_id == user_id))).first()
        if found is not None:
            current = _view(Person.model_validate(dict(found._mapping)))
            if not needs_update(current, via, name, chat_id, coordinator):
                return current
        async with transaction(self._sessions) as s:
            # A first message sent from several chats at once: one insert wins, the others find its row.
            created = 0
            if found is None:
                insert = upsert(s, PERSON).values(channel=channel, user_id=user_id, name=name, chat_id=chat_id,
                                                  created_at=now, coordinator=coordinator, unreachable_reason="",
                                                  via=via if chat_id else "")
                created = (await s.exec(insert.on_conflict_do_nothing(index_elements=["channel", "user_id"]))).rowcount
            row = await _person(s, channel, user_id)
            assert row is not None
            if not created:
                row.name = name or row.name
                row.chat_id = chat_id or row.chat_id
                row.coordinator = row.coordinator or coordinator
                if chat_id:
                    # They are talking to us in private, so they can be reached again, on this channel.
                    row.unreachable_since, row.unreachable_reason = None, ""
                    row.via = via
            return _view(row)

    async def get(self, key: str) -> PersonView | None:
        """Return a person by ``channel:user_id`` (``wecom-bot:`` keys written before one realm still resolve)."""
        channel, _, user_id = person_key(key).partition(":")
        async with self._sessions() as s:
            row = await _person(s, channel, user_id)
            return _view(row) if row else None

    async def set_coordinator(self, channel: str, user_id: str, value: bool, *, actor: str,
                              now: dt.datetime) -> PersonView:
        """Make someone a coordinator (or not), creating them if unknown."""
        channel = realm(channel)
        async with transaction(self._sessions) as s:
            row = await _person(s, channel, user_id)
            if row is None:
                row = Person(channel=channel, user_id=user_id, created_at=now)
                s.add(row)
            elif row.coordinator != value:  # signed in under the old role: sign in again under the new one
                await end_sessions_of(s, f"{channel}:{user_id}", "role", now)
            row.coordinator = value
            s.add(Audit(at=now, actor=actor, channel="cli", action="coordinator.set",
                        detail={"person": f"{channel}:{user_id}", "value": value}))
            await s.flush()
            return _view(row)

    async def create_invite(self, unit: str, *, by: str, now: dt.datetime, days: int, leader: bool = False) -> str:
        """Issue a single-use code for `unit` (binding a liaison, or with `leader` its 分管领导), valid for `days`."""
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        async with transaction(self._sessions) as s:
            s.add(Invite(code=code, unit=unit, created_by=by, created_at=now,
                         expires_at=now + dt.timedelta(days=days), leader=leader))
            s.add(Audit(at=now, actor=by, channel=by.partition(":")[0], action="invite.create",
                        detail={"unit": unit, **({"leader": True} if leader else {})}))
        return code

    async def bind(self, person: PersonView, raw_code: str, *, now: dt.datetime) -> str:
        """Redeem a code: the person becomes a liaison (or the 分管领导) of its unit. Wrong guesses are throttled."""
        code = normalise_code(raw_code)
        async with transaction(self._sessions) as s:
            # Lock the person's row first (a write: PostgreSQL holds the row, SQLite the database) so that
            # guesses sent at once from many chats are counted and checked one after another.
            await s.exec(update(PERSON).where(PERSON.c.id == person.id)  # type: ignore[call-overload]
                         .values(coordinator=PERSON.c.coordinator))
            since = now - FAILURE_WINDOW
            failures = (await s.exec(select(func.count(col(BindFailure.id))).where(
                BindFailure.person == person.key, col(BindFailure.at) >= since))).one()
            if failures >= MAX_FAILURES:
                raise UserError("邀请码输错次数过多，请15分钟后再试，或联系节水办重新获取邀请码。")
            invite = await s.get(Invite, code) if code else None
            if invite is not None and invite.used_at is None and invite.expires_at > now:
                row = await _person(s, person.channel, person.user_id)
                assert row is not None
                old, was_leader = row.unit, row.leader
                row.unit, row.leader = invite.unit, invite.leader
                if (old, was_leader) != (invite.unit, invite.leader):  # a desk session of the old role does not carry
                    await end_sessions_of(s, person.key, "role", now)
                invite.used_by, invite.used_at = person.key, now
                s.add(Audit(at=now, actor=person.key, channel=person.channel,
                            action="leader.bind" if invite.leader else "liaison.bind",
                            detail={"unit": invite.unit, "from": old}))
                return invite.unit
            s.add(BindFailure(person=person.key, at=now))
        if invite is None:
            raise UserError("邀请码不正确，请核对后重新发送（例如 /bind ABCD2345）。")
        if invite.used_at is not None:
            raise UserError("这个邀请码已经用过了，每个邀请码只能用一次。请向节水办申请新的邀请码。")
        raise UserError("这个邀请码已过期，请向节水办申请新的邀请码。")

    async def liaisons(self, unit: str | None = None, *, leaders: bool = False) -> list[PersonView]:
        """Return the liaisons of a unit, or of every unit (with `leaders`, their 分管领导 instead)."""
        async with self._sessions() as s:
            q = select(Person).where(col(Person.unit).is_not(None), col(Person.leader).is_(leaders))
            if unit is not None:
                q = q.where(Person.unit == unit)
            rows = (await s.exec(q.order_by(col(Person.unit), col(Person.id)))).all()
            return [_view(r) for r in rows]

    async def leaders(self, unit: str | None = None) -> list[PersonView]:
        """Return the 分管领导 of a unit, or of every unit."""
        return await self.liaisons(unit, leaders=True)

    async def many(self, keys: Iterable[str]) -> dict[str, PersonView]:
        """Return the people the keys name, by key as given (a key no one answers to is left out)."""
        wanted: dict[tuple[str, str], list[str]] = {}
        for key in keys:
            channel, _, user_id = person_key(key).partition(":")
            wanted.setdefault((channel, user_id), []).append(key)
        found: dict[str, PersonView] = {}
        ids = sorted({user_id for _, user_id in wanted})
        async with self._sessions() as s:
            for start in range(0, len(ids), _IN_CHUNK):
                rows = (await s.exec(select(Person).where(col(Person.user_id).in_(ids[start:start + _IN_CHUNK])))).all()
                for row in rows:
                    for key in wanted.get((row.channel, row.user_id), ()):
                        found[key] = _view(row)
        return found

    async def liaison_counts(self) -> dict[str, int]:
        """Count the liaisons of each unit that has any."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Person.unit, func.count()).where(col(Person.unit).is_not(None))
                                 .group_by(col(Person.unit)))).all()
            return {str(unit): int(n) for unit, n in rows}

    async def coordinators(self) -> list[PersonView]:
        """Return every coordinator known to the store."""
        async with self._sessions() as s:
            q = select(Person).where(col(Person.coordinator).is_(True)).order_by(col(Person.id))
            rows = (await s.exec(q)).all()
            return [_view(r) for r in rows]

    async def remove_liaison(self, key: str, *, actor: str, now: dt.datetime) -> PersonView:
        """Take a person's unit away (a coordinator's action)."""
        channel, _, user_id = person_key(key).partition(":")
        async with transaction(self._sessions) as s:
            row = await _person(s, channel, user_id)
            if row is None or row.unit is None:
                raise NotFound(f"没有找到联络员 {key}。发送 /liaisons 查看现有联络员。")
            s.add(Audit(at=now, actor=actor, channel=actor.partition(":")[0], action="liaison.remove",
                        detail={"person": key, "unit": row.unit}))
            view = _view(row)
            row.unit = None
            await end_sessions_of(s, key, "removed", now)
            return view

    async def mark_unreachable(self, channel: str, chat_id: str, reason: str, now: dt.datetime) -> None:
        """Record that pushes to this private chat fail (blocked the bot, never started it, left)."""
        async with transaction(self._sessions) as s:
            rows = (await s.exec(select(Person).where(Person.channel == realm(channel),
                                                      Person.chat_id == chat_id))).all()
            for row in rows:
                row.unreachable_since = row.unreachable_since or now
                row.unreachable_reason = reason

    async def unreachable(self) -> list[PersonView]:
        """Return the liaisons and coordinators duban cannot reach."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Person).where(col(Person.unreachable_since).is_not(None)))).all()
            return [_view(r) for r in rows]


async def _person(s: AsyncSession, channel: str, user_id: str) -> Person | None:
    return (await s.exec(select(Person).where(Person.channel == channel, Person.user_id == user_id))).first()


def needs_update(known: PersonView, channel: str, name: str, chat_id: str | None, coordinator: bool) -> bool:
    """Tell whether a message brings something to record about its sender (a new name, chat, channel, role,
    reachability)."""
    return bool((name and known.name != name) or (chat_id and (known.chat_id != chat_id or known.via != channel))
                or (coordinator and not known.coordinator) or (chat_id and known.unreachable_since is not None))


def _view(p: Person) -> PersonView:
    assert p.id is not None
    return PersonView(p.id, p.channel, p.user_id, p.name, p.coordinator, p.unit, p.chat_id,
                      p.unreachable_since, p.unreachable_reason, p.via, p.leader)
