"""The outbox table: every proactive message is a row first, then a send, so none is lost or doubled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.messages import ChatKind, ChatRef, Choice, OutFile, Push, Reply
from bot.store.db import transaction
from bot.store.tables import OutboxRow

LEASE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class OutboxItem:
    """A claimed row: what to send, where, and how many times it was tried."""

    id: int
    dedupe_key: str
    chat: ChatRef
    reply: Reply
    attempts: int


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """Serialise a reply for the outbox row."""
    return {
        "text": reply.text,
        "choices": [[c.label, c.data] for c in reply.choices],
        "file": [reply.file.file_name, str(reply.file.path), reply.file.is_image] if reply.file else None,
        "link": list(reply.link) if reply.link else None,
    }


def reply_from_json(data: dict[str, Any]) -> Reply:
    """Rebuild a reply from an outbox row."""
    from pathlib import Path

    f = data.get("file")
    link = data.get("link")
    return Reply(
        text=data["text"],
        choices=tuple(Choice(label, d) for label, d in data.get("choices", [])),
        file=OutFile(f[0], Path(f[1]), bool(f[2])) if f else None,
        link=(link[0], link[1]) if link else None,
    )


def outbox_values(push: Push, now: dt.datetime) -> dict[str, Any]:
    """Return the column values of a push's row (the reminder ledger inserts many at once with them)."""
    return {"dedupe_key": push.dedupe_key, "channel": push.to.channel, "chat_id": push.to.chat_id,
            "chat_kind": push.to.kind.value, "payload": reply_to_json(push.reply), "status": "pending",
            "attempts": 0, "next_attempt_at": now, "error": "", "created_at": now}


def outbox_row(push: Push, now: dt.datetime) -> OutboxRow:
    """Build the row for a push."""
    return OutboxRow(**outbox_values(push, now))


class OutboxRepo:
    """Enqueue, claim and settle outgoing pushes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def enqueue(self, push: Push, now: dt.datetime) -> bool:
        """Store a push; return False when one with the same dedupe key exists (it is not sent twice)."""
        try:
            async with transaction(self._sessions) as s:
                s.add(outbox_row(push, now))
        except IntegrityError:
            return False
        return True

    async def claim(self, now: dt.datetime, worker: str, channels: Collection[str],
                    limit: int = 20, *, private: Collection[str] = ()) -> list[OutboxItem]:
        """Claim due rows of these channels atomically (one winner per row across processes).

        Only channels the caller can send on: an instance without Telegram never touches Telegram rows; of the
        channels in `private`, only private chats (another channel delivers them, see OutboxRow.stand_ins).
        Claims older than the lease (a crash between claim and settle) are taken again.
        """
        if not channels and not private:
            return []
        async with self._sessions() as s:
            candidates = (await s.exec(
                select(OutboxRow.id).where(
                    col(OutboxRow.channel).in_(list(channels))
                    | (col(OutboxRow.channel).in_(list(private)) & (col(OutboxRow.chat_kind) == ChatKind.PRIVATE.value)),
                    ((col(OutboxRow.status) == "pending") & (col(OutboxRow.next_attempt_at) <= now))
                    | ((col(OutboxRow.status) == "sending") & (col(OutboxRow.claimed_at) <= now - LEASE)))
                .order_by(col(OutboxRow.id)).limit(limit))).all()
        won: list[OutboxItem] = []
        for oid in candidates:
            async with transaction(self._sessions) as s:
                result = await s.exec(update(OutboxRow).where(  # type: ignore[call-overload]
                    col(OutboxRow.id) == oid,
                    ((col(OutboxRow.status) == "pending") & (col(OutboxRow.next_attempt_at) <= now))
                    | ((col(OutboxRow.status) == "sending") & (col(OutboxRow.claimed_at) <= now - LEASE)))
                    .values(status="sending", claimed_by=worker, claimed_at=now, attempts=col(OutboxRow.attempts) + 1))
                if result.rowcount != 1:
                    continue
                row = await s.get(OutboxRow, oid)
                assert row is not None and row.id is not None
                chat = ChatRef(row.channel, row.chat_id, ChatKind(row.chat_kind))
                won.append(OutboxItem(row.id, row.dedupe_key, chat, reply_from_json(row.payload), row.attempts))
        return won

    async def settle(self, oid: int, status: str, now: dt.datetime, *, error: str = "",
                     retry_at: dt.datetime | None = None, rest: Reply | None = None) -> None:
        """Record the outcome: sent, failed, unreachable, or back to pending for a retry at `retry_at`.

        `rest`: part of the push went out; the row keeps only what is left, so a retry sends nothing twice.
        """
        async with transaction(self._sessions) as s:
            row = await s.get(OutboxRow, oid)
            assert row is not None
            row.status, row.error = status, error[:500]
            if rest is not None:
                row.payload = reply_to_json(rest)
            if status == "sent":
                row.sent_at = now
            if retry_at is not None:
                row.next_attempt_at = retry_at

    async def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """Return outbox rows (operations and tests)."""
        async with self._sessions() as s:
            q = select(OutboxRow).order_by(col(OutboxRow.id))
            if status:
                q = q.where(OutboxRow.status == status)
            return [r.model_dump() for r in (await s.exec(q)).all()]

    async def next_due(self) -> dt.datetime | None:
        """Return when the earliest pending row is due."""
        async with self._sessions() as s:
            return (await s.exec(select(OutboxRow.next_attempt_at).where(OutboxRow.status == "pending")
                                 .order_by(col(OutboxRow.next_attempt_at)).limit(1))).first()
