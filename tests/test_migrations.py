"""The Alembic migrations build exactly the schema the models describe (a model change needs a migration)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.store.tables  # noqa: F401  (registers the tables)
from bot.store.db import make_engine, migrate


async def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)  # already at head: applying again changes nothing
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    await engine.dispose()
    assert diff == []
