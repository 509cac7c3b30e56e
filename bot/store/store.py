"""The store: one object holding the engine, the repositories and the file store."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.chats import ChatRepo
from bot.store.db import make_engine, migrate, session_factory
from bot.store.evidence import EvidenceRepo
from bot.store.extensions import ExtensionRepo
from bot.store.files import FileStore
from bot.store.intake import IntakeRepo
from bot.store.leases import LeaseRepo
from bot.store.notes import NoteRepo
from bot.store.notices import NoticeRepo
from bot.store.outbox import OutboxRepo
from bot.store.people import PeopleRepo
from bot.store.plans import PlanRepo
from bot.store.reminders import ReminderRepo
from bot.store.sessions import DeskSessionRepo
from bot.store.urges import UrgeRepo


@dataclass
class Store:
    """Everything persistent; built once by the composition root and passed down."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    plans: PlanRepo
    people: PeopleRepo
    evidence: EvidenceRepo
    chats: ChatRepo
    outbox: OutboxRepo
    intake: IntakeRepo
    files: FileStore
    extensions: ExtensionRepo
    notes: NoteRepo
    leases: LeaseRepo
    reminders: ReminderRepo
    desk_sessions: DeskSessionRepo
    urges: UrgeRepo
    notices: NoticeRepo

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.intake.close()
        await self.engine.dispose()


async def open_store(url: str, state_dir: Path, *, run_migrations: bool = True) -> Store:
    """Connect, migrate to the newest schema, and build the repositories."""
    engine = make_engine(url)
    if run_migrations:
        await migrate(engine)
    sessions = session_factory(engine)
    # the reminder ledger names who claimed each entry: this process, and this store within it (tests run two)
    worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    urges = UrgeRepo(sessions)
    return Store(engine, sessions, PlanRepo(sessions), PeopleRepo(sessions), EvidenceRepo(sessions), ChatRepo(sessions),
                 OutboxRepo(sessions), IntakeRepo(sessions), FileStore(state_dir / "evidence"), ExtensionRepo(sessions),
                 NoteRepo(sessions), LeaseRepo(sessions), ReminderRepo(sessions, worker),
                 DeskSessionRepo(sessions), urges, NoticeRepo(sessions, urges))
