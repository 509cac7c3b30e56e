"""Shared fixtures: a real store (SQLite file, and PostgreSQL where DUBAN_TEST_DATABASE_URL is set),
the real App built from settings, and a pinned clock. Nothing of duban's own is mocked."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from fakes.recorder import Recorder
from fakes.wecom_openws import FakeOpenWs
from pgdb import create_database, drop_databases

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.core.messages import ChatKind, ChatRef, Envelope, Media, Reply
from bot.core.plan import PlanSpec
from bot.core.units import UnitRegistry
from bot.planfiles.yamlfile import default_plan_path, default_units_path, load_plan_file, load_units_file

PG_URL = os.environ.get("DUBAN_TEST_DATABASE_URL", "")
TODAY = dt.date(2023, 10, 20)  # a Friday in the plan's year: some tasks overdue, some due soon
NOW = dt.time(10, 0)  # the time of day with it: after the 09:00 reminders, whatever hour the suite runs at
# .ci/run's runs under libfaketime name the faked hour here. Chromium does not work under libfaketime, and the
# browser's clock is not duban's: the browser tests skip there (the pages' server side runs in the HTTP tests).
FAKED_WALLCLOCK = bool(os.environ.get("DUBAN_TEST_WALLCLOCK_HOUR"))


def backends() -> list[object]:
    """Return the database backends to run store tests on."""
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(not PG_URL, reason="no PostgreSQL"))]


_PRIVATE_PG: dict[str, str] = {}


async def private_postgres() -> str:
    """Return the URL of a database of this test run's own, created on first use on the configured server.

    Two runs against one server (two developers, CI beside a session) must not empty each other's tables.
    """
    if "url" not in _PRIVATE_PG:
        name = f"duban_test_{os.getpid()}"
        _PRIVATE_PG["url"] = await create_database(PG_URL, name)
        _PRIVATE_PG["name"] = name
    return _PRIVATE_PG["url"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop this run's private PostgreSQL database."""
    if "name" not in _PRIVATE_PG:
        return
    import asyncio

    asyncio.run(drop_databases(PG_URL, [_PRIVATE_PG["name"]]))


async def reset_postgres(url: str) -> None:
    """Empty every table of the test database (schema kept) so each test starts clean."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.store.db import migrate

    engine = create_async_engine(url)
    await migrate(engine)
    async with engine.begin() as conn:
        rows = await conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"))
        names = ", ".join(f'"{r[0]}"' for r in rows)
        if names:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run."""
    return str(request.param)


_TEMPLATE: dict[str, Path] = {}


async def sqlite_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return a fresh SQLite file with the schema and the seed plan, copied from a once-built template."""
    if "db" not in _TEMPLATE:
        tdir = tmp_path_factory.mktemp("template")
        settings = Settings(state_dir=tdir, database_url=f"sqlite+aiosqlite:///{tdir / 'duban.db'}", today=TODAY,
                            time=NOW, _env_file=None)  # type: ignore[call-arg]
        app = await App.create(settings)
        await app.close()
        _TEMPLATE["db"] = tdir / "duban.db"
    target = tmp_path / "duban.db"
    shutil.copyfile(_TEMPLATE["db"], target)
    return f"sqlite+aiosqlite:///{target}"


def make_settings(tmp_path: Path, url: str, **overrides: object) -> Settings:
    """Build settings for a test: state in tmp_path, the given database, the date and time of day pinned."""
    values: dict[str, object] = {"state_dir": tmp_path, "database_url": url, "today": TODAY, "time": NOW,
                                 "coordinators": "console:admin,telegram:1000,wecom:jieshuiban",
                                 # the fakes listen on 127.0.0.1: a proxy set in the developer's shell stays out
                                 "proxy": "", "https_proxy": "", "http_proxy": "", "no_proxy": ""}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture
async def db_url(backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL for this test, empty of progress, with the seed plan loaded on first use."""
    if backend == "postgres":
        url = await private_postgres()
        await reset_postgres(url)
        return url
    return await sqlite_url(tmp_path, tmp_path_factory)


@pytest.fixture(scope="session")
def units() -> UnitRegistry:
    """Return the shipped unit registry."""
    return load_units_file(default_units_path())


@pytest.fixture(scope="session")
def seed(units: UnitRegistry) -> PlanSpec:
    """Return the shipped plan (the 2023 Pingshan table) as read from its YAML."""
    return load_plan_file(default_plan_path(), units)


@pytest.fixture
async def ws() -> AsyncIterator[FakeOpenWs]:
    """A fake openws (智能机器人长连接) server on a free local port."""
    fake = FakeOpenWs()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def clock() -> Clock:
    """A clock pinned to 2023-10-20 10:00 in Shanghai; tests move it with advance()."""
    return Clock(tz=SHANGHAI, pinned_today=TODAY, pinned_time=NOW)


@pytest.fixture
async def app(tmp_path: Path, db_url: str, clock: Clock) -> AsyncIterator[App]:
    """The real application on a real store."""
    application = await App.create(make_settings(tmp_path, db_url), clock)
    yield application
    await application.close()


class Chat:
    """Talk to duban the way a channel does: an envelope into the pipeline, the delivered replies out."""

    def __init__(self, app: App, tmp_path: Path) -> None:
        self.app = app
        self.tmp = tmp_path
        self.channels: dict[str, Recorder] = {}

    async def say(self, user: str, text: str = "", *, channel: str = "console", group: str | None = None,
                  files: Sequence[tuple[str, bytes]] = (), callback: str | None = None,
                  limit: int = 3500) -> list[Reply]:
        """Send a message (optionally with files) as `user` and return the replies delivered for it."""
        chat = ChatRef(channel, group or user, ChatKind.GROUP if group else ChatKind.PRIVATE)
        media = []
        for n, (name, data) in enumerate(files):
            path = self.tmp / f"upload-{len(data)}-{n}-{abs(hash(name))}"
            path.write_bytes(data)
            media.append(Media("file", str(path), name, len(data), "application/octet-stream"))
        recorder = self.channels.get(channel)
        if recorder is None or self.app.pipeline.adapters.get(channel) is not recorder:
            recorder = self.channels[channel] = Recorder(channel)
            self.app.pipeline.add(recorder)
            self.app.intake.open()
        recorder.page = recorder.limit = limit
        envelope = Envelope(f"test:{uuid.uuid4().hex}", chat, user, user, text=text, callback=callback,
                            media=tuple(media))
        return await recorder.handle(self.app.pipeline, envelope)

    async def text(self, user: str, text: str = "", **kw: object) -> str:
        """Send a message and return all reply texts joined."""
        return "\n".join(r.text for r in await self.say(user, text, **kw))  # type: ignore[arg-type]

    async def bind(self, user: str, unit: str) -> None:
        """Make `user` a liaison of `unit` the way users do: a coordinator's code, then /bind."""
        reply = await self.text("admin", f"/invite {unit}")
        code = next(w for w in reply.replace("：", " ").split() if len(w) == 8 and w.isalnum() and w.isupper())
        assert "绑定成功" in await self.text(user, f"/bind {code}")


@pytest.fixture
def chat(app: App, tmp_path: Path) -> Chat:
    """A conversation helper bound to the app."""
    return Chat(app, tmp_path)
