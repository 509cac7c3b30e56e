"""The Alembic migrations build exactly the schema the models describe (a model change needs a migration)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import make_settings
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select

from bot.app import App
from bot.core.clock import Clock
from bot.store.db import alembic_config, make_engine, migrate, session_factory, transaction
from bot.store.tables import Audit, EvidenceFile, EvidenceItem, Task


async def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)  # already at head: applying again changes nothing
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    await engine.dispose()
    assert diff == []


def before(revision: str, cfg: Config) -> str:
    """Return the revision a migration applies on top of."""
    down = ScriptDirectory.from_config(cfg).get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


async def test_database_with_duplicate_files_upgrades_keeping_the_oldest(tmp_path: Path, db_url: str,
                                                                         clock: Clock) -> None:
    # A database from before 0009 where racing uploads filed the same bytes three times on one item
    app = await App.create(make_settings(tmp_path, db_url), clock)
    plan = await app.store.plans.plan()
    await app.close()
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), before("0009", alembic_config(c))))
    at = clock.utcnow()
    async with transaction(session_factory(engine)) as s:
        items = (await s.exec(select(EvidenceItem.id).join(Task, col(Task.evidence_list_id) == EvidenceItem.list_id)
                              .where(Task.plan_id == plan.id, Task.no == 12).order_by(col(EvidenceItem.no)))).all()
        rows = [EvidenceFile(item_id=item, sha256="a" * 64, size=3, file_name=f"报告{n}.pdf", unit="区水务局",
                             uploaded_by="wecom:lisi", uploaded_at=at + dt.timedelta(minutes=minutes),
                             withdrawn_at=at if withdrawn else None, withdrawn_by="wecom:lisi" if withdrawn else None)
                for n, (item, minutes, withdrawn) in enumerate([
                    (items[2], 5, False), (items[2], 0, False), (items[2], 5, False),  # the one at 0 is the oldest
                    (items[2], 1, True),  # withdrawn already: history, left as it was
                    (items[1], 7, False)])]  # the same bytes on another item: not a duplicate
        s.add_all(rows)
    await engine.dispose()

    app = await App.create(make_settings(tmp_path, db_url), clock)  # every start migrates to the newest revision
    try:
        files = await app.store.evidence.files(plan.id, 12)
        assert [(f.item_no, f.file_name) for f in files] == [(2, "报告4.pdf"), (3, "报告1.pdf")]
        async with app.store.sessions() as s:
            all_rows = (await s.exec(select(EvidenceFile).order_by(col(EvidenceFile.id)))).all()
            history = (await s.exec(select(Audit).where(Audit.action == "evidence.withdraw"))).all()
        assert len(all_rows) == 5  # withdrawn, never deleted
        assert [(r.file_name, r.withdrawn_by) for r in all_rows if r.withdrawn_at is not None] == [
            ("报告0.pdf", "system"), ("报告2.pdf", "system"), ("报告3.pdf", "wecom:lisi")]
        assert sorted((a.task_no, a.detail["file"], a.detail["duplicate_of"]) for a in history) == [
            (12, "报告0.pdf", files[1].id), (12, "报告2.pdf", files[1].id)]
        with pytest.raises(IntegrityError):  # and from now on the database itself refuses a second one
            async with transaction(app.store.sessions) as s:
                s.add(EvidenceFile(item_id=items[2], sha256="a" * 64, size=3, file_name="again.pdf", unit="区水务局",
                                   uploaded_by="wecom:lisi", uploaded_at=at))
    finally:
        await app.close()
