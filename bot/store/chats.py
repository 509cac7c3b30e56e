"""Conversation state kept in the database: pending questions, group subscriptions, robots, seen keys."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotAllowed, UserError
from bot.core.messages import ChatKind, ChatRef
from bot.core.views import Question
from bot.store.db import transaction
from bot.store.tables import Audit, QuestionRow, Robot, SeenMessage, Subscription


class ChatRepo:
    """State that outlives one message: buttons' questions, subscriptions, robots, dedupe of inbound ids."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ask(self, person: str, kind: str, payload: dict[str, Any], *, now: dt.datetime,
                  ttl: dt.timedelta = dt.timedelta(days=2)) -> str:
        """Store a question for `person`; return the short token its buttons carry."""
        token = secrets.token_urlsafe(6)
        async with transaction(self._sessions) as s:
            s.add(QuestionRow(token=token, person=person, kind=kind, payload=payload, created_at=now,
                          expires_at=now + ttl))
        return token

    async def take_question(self, token: str, person: str, *, now: dt.datetime,
                     check: Callable[[str], None] | None = None) -> Question:
        """Consume a question; refuse a stranger's press, a stale button or a second press.

        `check` sees the question's kind before it is consumed; raising there refuses and changes nothing.
        """
        async with transaction(self._sessions) as s:
            row = await s.get(QuestionRow, token)
            if row is None:
                raise UserError("这个按钮已失效，请重新发起操作。")
            if row.person != person:
                raise NotAllowed("这个按钮是发给其他人的，您不能操作。")
            if row.used_at is not None:
                raise UserError("这个按钮已经按过了。")
            if row.expires_at <= now:
                raise UserError("这个按钮已过期，请重新发起操作。")
            if check is not None:
                check(row.kind)
            row.used_at = now
            return Question(row.token, row.person, row.kind, dict(row.payload))

    async def take_latest(self, person: str, kind: str, *, now: dt.datetime) -> Question | None:
        """Consume the newest open question of a kind (typed answers such as 「下一页」)."""
        async with transaction(self._sessions) as s:
            row = (await s.exec(select(QuestionRow).where(
                QuestionRow.person == person, QuestionRow.kind == kind, col(QuestionRow.used_at).is_(None),
                col(QuestionRow.expires_at) > now).order_by(col(QuestionRow.created_at).desc()))).first()
            if row is None:
                return None
            row.used_at = now
            return Question(row.token, row.person, row.kind, dict(row.payload))

    async def subscribe(self, chat: ChatRef, title: str, *, by: str, now: dt.datetime) -> bool:
        """Subscribe a group to scheduled digests; return False if it already was."""
        async with transaction(self._sessions) as s:
            exists = (await s.exec(select(Subscription).where(
                Subscription.channel == chat.channel, Subscription.chat_id == chat.chat_id))).first()
            if exists:
                return False
            s.add(Subscription(channel=chat.channel, chat_id=chat.chat_id, title=title, created_by=by,
                               created_at=now))
            s.add(Audit(at=now, actor=by, channel=chat.channel, action="digest.subscribe",
                        detail={"chat": chat.key(), "title": title}))
            return True

    async def unsubscribe(self, chat: ChatRef, *, by: str, now: dt.datetime) -> bool:
        """Stop scheduled digests to a group; return False if it was not subscribed."""
        async with transaction(self._sessions) as s:
            result = await s.exec(delete(Subscription).where(  # type: ignore[call-overload]
                col(Subscription.channel) == chat.channel, col(Subscription.chat_id) == chat.chat_id))
            s.add(Audit(at=now, actor=by, channel=chat.channel, action="digest.unsubscribe",
                        detail={"chat": chat.key()}))
            return bool(result.rowcount)

    async def subscriptions(self) -> list[ChatRef]:
        """Return every group subscribed to digests."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Subscription).order_by(col(Subscription.id)))).all()
            return [ChatRef(r.channel, r.chat_id, ChatKind.GROUP) for r in rows]

    async def add_robot(self, name: str, key: str, *, by: str, now: dt.datetime) -> None:
        """Register (or re-key) a WeCom group robot and subscribe it to digests."""
        async with transaction(self._sessions) as s:
            row = await s.get(Robot, name)
            if row is None:
                s.add(Robot(name=name, key=key, created_by=by, created_at=now))
            else:
                row.key = key
            exists = (await s.exec(select(Subscription).where(
                Subscription.channel == "wecom-robot", Subscription.chat_id == name))).first()
            if exists is None:
                s.add(Subscription(channel="wecom-robot", chat_id=name, title=name, created_by=by, created_at=now))
            s.add(Audit(at=now, actor=by, channel=by.partition(":")[0], action="robot.add", detail={"name": name}))

    async def robot_key(self, name: str) -> str | None:
        """Return a robot's webhook key."""
        async with self._sessions() as s:
            row = await s.get(Robot, name)
            return row.key if row else None

    async def first_time(self, key: str, now: dt.datetime) -> bool:
        """Record an inbound message id; return False when it was already handled (a retried delivery)."""
        try:
            async with transaction(self._sessions) as s:
                s.add(SeenMessage(key=key, at=now))
        except IntegrityError:
            return False
        return True

    async def seen(self, key: str) -> bool:
        """Tell whether `first_time` already recorded this key."""
        async with self._sessions() as s:
            return await s.get(SeenMessage, key) is not None

    async def record(self, actor: str, channel: str, action: str, *, now: dt.datetime, plan_id: int | None = None,
                     task_no: int | None = None, detail: dict[str, Any] | None = None) -> None:
        """Write an audit entry for an action that changes no other row (a 催办, a sent digest)."""
        async with transaction(self._sessions) as s:
            s.add(Audit(at=now, actor=actor, channel=channel, action=action, plan_id=plan_id, task_no=task_no,
                        detail=detail or {}))

    async def counts(self, plan_id: int, actions: Sequence[str]) -> dict[int, int]:
        """Return, per task of a plan, how many audit entries of these actions it has (退回次数 in the 台账)."""
        async with self._sessions() as s:
            rows = (await s.exec(select(Audit.task_no, func.count(col(Audit.id))).where(
                Audit.plan_id == plan_id, col(Audit.action).in_(list(actions)), col(Audit.task_no).is_not(None))
                .group_by(col(Audit.task_no)))).all()
            return {no: int(n) for no, n in rows if no is not None}

    async def audit(self, *, task_no: int | None = None, plan_id: int | None = None, action: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
        """Return recent audit entries (of one plan, one task, one kind of action), newest first."""
        async with self._sessions() as s:
            q = select(Audit).order_by(col(Audit.id).desc()).limit(limit)
            if action is not None:
                q = q.where(Audit.action == action)
            if task_no is not None:
                q = q.where(Audit.task_no == task_no)
            if plan_id is not None:
                q = q.where(Audit.plan_id == plan_id)
            return [{"at": a.at, "actor": a.actor, "channel": a.channel, "action": a.action, "task": a.task_no,
                     "detail": a.detail} for a in (await s.exec(q)).all()]
