"""The Alembic migrations build exactly the schema the models describe (a model change needs a migration)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import make_settings
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select
from sqlmodel.sql.sqltypes import UTCDateTime

import bot.store.tables  # noqa: F401  (registers the tables)
from bot.app import App
from bot.core.clock import Clock
from bot.store.db import alembic_config, make_engine, migrate, session_factory, transaction
from bot.store.store import open_store
from bot.store.tables import Audit, EvidenceFile, EvidenceItem, Task


async def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)  # already at head: applying again changes nothing
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    await engine.dispose()
    assert diff == []


async def test_wecom_bot_people_become_the_wecom_people_they_are(db_url: str, tmp_path: Path) -> None:
    """0011: one person per WeCom UserID; the bot's rows merge into the app's, and old keys are rewritten."""
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0010"))  # to just before 0011
        await conn.run_sync(_write_two_wecom_realms)
    await migrate(engine)
    async with engine.connect() as conn:
        people = {(r.channel, r.user_id): r for r in await conn.execute(sa.text("SELECT * FROM person"))}
        merges = [r.detail for r in await conn.execute(sa.select(AUDIT).where(AUDIT.c.action == "person.merge"))]
        keys = {table: sorted(tuple(r) for r in await conn.execute(sa.text(sql))) for table, sql in KEY_QUERIES}
    await engine.dispose()
    store = await open_store(db_url, tmp_path, run_migrations=False)
    li = await store.people.get("wecom-bot:lilaoshi")
    await store.close()
    assert sorted(people) == [("wecom", "jieshuiban"), ("wecom", "lilaoshi"), ("wecom", "wangwu")]
    lilaoshi = people[("wecom", "lilaoshi")]
    assert (lilaoshi.unit, lilaoshi.name, lilaoshi.unreachable_since, lilaoshi.via) == ("区教育局", "李老师", None, "")
    assert people[("wecom", "jieshuiban")].coordinator and people[("wecom", "jieshuiban")].via == "wecom-bot"
    assert people[("wecom", "wangwu")].unit == "区教育局"  # both bound: the app's unit kept, the other one named
    assert {"person": "wecom:wangwu", "from": "wecom-bot:wangwu", "unit": "区教育局",
            "dropped_unit": "区水务局"} in merges and len(merges) == 2
    assert li is not None and li.key == "wecom:lilaoshi" and li.unit == "区教育局"
    assert keys == {
        "audit": [("wecom-bot", "wecom:lilaoshi")],
        "pending": [("wecom:lilaoshi",)],
        "snooze": [("wecom:lilaoshi", 40, "2023-10-27"), ("wecom:lilaoshi", 41, "2023-10-30")],
        "ledger": [("remind:1:40:2023:d-7:wecom:lilaoshi", "wecom:lilaoshi"),
                   ("remind:1:41:2023:d-7:wecom:lilaoshi", "wecom:lilaoshi")],
        "desk": [("wecom:lilaoshi",)],  # a removal ends the sessions of the person's key
    }


AUDIT = sa.table("audit", sa.column("at", UTCDateTime()), sa.column("actor"), sa.column("channel"),
                 sa.column("action"), sa.column("detail", sa.JSON()))
KEY_QUERIES = (("audit", "SELECT channel, actor FROM audit WHERE action = 'liaison.bind'"),
               ("pending", "SELECT person FROM pending"),
               ("snooze", "SELECT person, task_no, CAST(until AS VARCHAR) FROM snooze"),
               ("ledger", "SELECT key, recipient FROM reminderledger"),
               ("desk", "SELECT person FROM desksession"))


def _write_two_wecom_realms(c: Connection) -> None:
    """Rows as duban kept them before 0011: people of both WeCom channels, keyed by channel."""
    at = dt.datetime(2023, 10, 1, 2, tzinfo=dt.UTC)
    person = sa.table("person", sa.column("channel"), sa.column("user_id"), sa.column("name"),
                      sa.column("coordinator", sa.Boolean()), sa.column("unit"), sa.column("chat_id"),
                      sa.column("unreachable_since", UTCDateTime()), sa.column("unreachable_reason"),
                      sa.column("created_at", UTCDateTime()))

    def someone(channel: str, user: str, **kw: object) -> dict[str, object]:
        return {"channel": channel, "user_id": user, "name": "", "coordinator": False, "unit": None,
                "chat_id": user, "unreachable_since": None, "unreachable_reason": "", "created_at": at, **kw}

    c.execute(person.insert(), [
        someone("wecom-bot", "lilaoshi", name="李老师", unit="区教育局"),
        someone("wecom", "lilaoshi", unreachable_since=at, unreachable_reason="不在应用可见范围内"),
        someone("wecom-bot", "jieshuiban", coordinator=True),
        someone("wecom-bot", "wangwu", unit="区水务局"),
        someone("wecom", "wangwu", unit="区教育局"),
    ])
    c.execute(AUDIT.insert().values(at=at, actor="wecom-bot:lilaoshi", channel="wecom-bot", action="liaison.bind",
                                    detail={"unit": "区教育局"}))
    pending = sa.table("pending", sa.column("token"), sa.column("person"), sa.column("kind"),
                       sa.column("payload", sa.JSON()), sa.column("created_at", UTCDateTime()),
                       sa.column("expires_at", UTCDateTime()))
    c.execute(pending.insert().values(token="t1", person="wecom-bot:lilaoshi", kind="file", payload={},
                                      created_at=at, expires_at=at + dt.timedelta(days=1)))
    snooze = sa.table("snooze", sa.column("person"), sa.column("plan_id"), sa.column("task_no"),
                      sa.column("until", sa.Date()))
    c.execute(snooze.insert(), [
        {"person": "wecom:lilaoshi", "plan_id": 1, "task_no": 40, "until": dt.date(2023, 10, 27)},
        {"person": "wecom-bot:lilaoshi", "plan_id": 1, "task_no": 40, "until": dt.date(2023, 10, 24)},
        {"person": "wecom-bot:lilaoshi", "plan_id": 1, "task_no": 41, "until": dt.date(2023, 10, 30)},
    ])
    ledger = sa.table("reminderledger", sa.column("key"), sa.column("plan_id"), sa.column("task_no"),
                      sa.column("period"), sa.column("stage"), sa.column("recipient"),
                      sa.column("due_at", UTCDateTime()), sa.column("status"), sa.column("claimed_by"),
                      sa.column("claimed_at", UTCDateTime()), sa.column("outbox_key"))

    def reminder(task: int, who: str) -> dict[str, object]:
        return {"key": f"remind:1:{task}:2023:d-7:{who}", "plan_id": 1, "task_no": task, "period": "2023",
                "stage": "d-7", "recipient": who, "due_at": at, "status": "sent", "claimed_by": "x",
                "claimed_at": at, "outbox_key": ""}

    c.execute(ledger.insert(), [reminder(40, "wecom:lilaoshi"), reminder(40, "wecom-bot:lilaoshi"),
                                reminder(41, "wecom-bot:lilaoshi")])
    desk = sa.table("desksession", sa.column("id"), sa.column("person"), sa.column("created_at", UTCDateTime()),
                    sa.column("last_seen_at", UTCDateTime()), sa.column("end_reason"))
    c.execute(desk.insert().values(id="s1", person="wecom-bot:lilaoshi", created_at=at, last_seen_at=at,
                                   end_reason=""))


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
        rows = [dict(item_id=item, sha256="a" * 64, size=3, file_name=f"报告{n}.pdf", mime_type="", unit="区水务局",
                     uploaded_by="wecom:lisi", uploaded_at=at + dt.timedelta(minutes=minutes),
                     withdrawn_at=at if withdrawn else None, withdrawn_by="wecom:lisi" if withdrawn else None)
                for n, (item, minutes, withdrawn) in enumerate([
                    (items[2], 5, False), (items[2], 0, False), (items[2], 5, False),  # the one at 0 is the oldest
                    (items[2], 1, True),  # withdrawn already: history, left as it was
                    (items[1], 7, False)])]  # the same bytes on another item: not a duplicate
        # the columns of 0009's day only: later migrations add more to the model
        columns = EvidenceFile.__table__.c  # type: ignore[attr-defined]
        await (await s.connection()).execute(
            sa.insert(sa.table("evidencefile", *(sa.column(c, columns[c].type) for c in rows[0]))), rows)
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
