"""The read model: what nearly every message asks — the sender, the plan, its tasks — answered from memory.

A steady-state question ("我单位有哪些任务") runs no SQL. The cache holds data (PersonView, PlanView, TaskView),
which does not depend on the date; the one piece of text kept, a unit's rendered task list (`rendered`), has
the day in its key. It only answers questions: every write keeps checking inside its own transaction, and
messages that act (commands, buttons, files) identify the sender from the database, not from here (see
`bot.handlers.router`).

Invalidation is pushed, and any change drops everything (writes are rare next to reads; dropping all keeps the
rule simple and safe):
- **This process**: a commit of a connection that wrote to a table the reads depend on drops the cache at once,
  so a user sees their own change. The tables are every table except the bookkeeping ones in `UNRELATED`, so a
  table added later is covered without anyone remembering to list it.
- **Other processes** (another `duban run`, the CLI, an administrator's SQL): triggers on the tables the reads
  depend on (migration 0007) bump a revision — a row `readrevision` on SQLite, the sequence `duban_revision` plus a
  `NOTIFY duban_changed` on PostgreSQL. `watch()` listens on PostgreSQL (a dedicated connection; when it is lost,
  the cache is reset and the listener comes back) and compares the revision every `check_every` seconds on both,
  which bounds staleness if a notification were ever missed.

A value read while an invalidation happened is returned but not kept (a generation counter), so a read that
raced a write never pins the old state. Questions that miss together share one read of the plan or its tasks:
after a change, the 16 chats being handled at once would otherwise each read the whole plan again. A read is
only shared with questions asked in the same generation, so nobody is handed what was read before their change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bot.core.views import PersonView, PlanView, TaskView
from bot.store.people import needs_update
from bot.store.store import Store

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "duban_changed"
# Tables whose rows no cached read depends on: queues, ledgers, logs, one-time keys. Everything else counts.
UNRELATED = frozenset({"pending", "outbox", "reminderledger", "inbound", "seenmessage", "audit", "snooze",
                       "bindfailure", "subscription", "robot", "lease", "invite", "alembic_version", "readrevision",
                       "desksession", "urge", "notice"})
_DML = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
MAX_RENDERED = 4096  # rendered lists kept at most (a generation rarely sees more than units x questions x days)
K = TypeVar("K")
V = TypeVar("V")


class ReadModel:
    """Per-process cache of people, plans and each plan's tasks with progress."""

    def __init__(self, store: Store, *, check_every: float = 1.0) -> None:
        self.store = store
        self.check_every = check_every
        self.generation = 0
        self._people: dict[tuple[str, str], PersonView] = {}
        self._plans: dict[str, PlanView] = {}
        self._active: dict[str, list[PlanView]] = {}  # one entry, "": the plans being worked on
        self._tasks: dict[int, list[TaskView]] = {}
        self._reading: dict[tuple[str, object], tuple[int, asyncio.Future[Any]]] = {}  # shared reads in flight
        self._rendered: dict[Hashable, Any] = {}  # replies rendered from this generation's data (see `rendered`)
        self._revision: int | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()  # set while a PostgreSQL listener is attached (tests wait on it)
        self.listener_pid: int | None = None  # the listening connection's server process (operations, tests)
        self._watch_own_commits()

    # ---- reads -----------------------------------------------------------------------------------
    def known(self, channel: str, user_id: str, *, name: str, chat_id: str | None,
              coordinator: bool) -> PersonView | None:
        """Return the sender from memory, when known here and the message brings nothing new to record."""
        hit = self._people.get((channel, user_id))
        return hit if hit is not None and not needs_update(hit, channel, name, chat_id, coordinator) else None

    async def identify(self, channel: str, user_id: str, *, name: str, chat_id: str | None, now: Any,
                       coordinator: bool) -> PersonView:
        """Return the sender; from memory unless unknown here or the message brings something to record."""
        hit = self.known(channel, user_id, name=name, chat_id=chat_id, coordinator=coordinator)
        if hit is not None:
            return hit
        return await self._keep(self._people, (channel, user_id), self.store.people.identify(
            channel, user_id, name=name, chat_id=chat_id, now=now, coordinator=coordinator))

    async def plan(self, key: str | None) -> PlanView:
        """Return the plan with this key, or the newest one."""
        hit = self._plans.get(key or "")
        if hit is not None:
            return hit
        return await self._shared(self._plans, "plan", key or "", lambda: self.store.plans.plan(key))

    async def active_plans(self) -> list[PlanView]:
        """Return the plans being worked on, newest import first."""
        hit = self._active.get("")
        if hit is not None:
            return hit
        return await self._shared(self._active, "active", "", self.store.plans.active_plans)

    async def tasks(self, plan_id: int) -> list[TaskView]:
        """Return a plan's tasks with status, effective deadline, evidence counts and progress."""
        hit = self._tasks.get(plan_id)
        if hit is not None:
            return hit
        return await self._shared(self._tasks, "tasks", plan_id, lambda: self.store.plans.tasks(plan_id))

    def rendered(self, key: Hashable) -> Any | None:
        """Return what `keep_rendered` kept for this key in this generation.

        The cache holds data, not text; a rendered list is the one exception: the same question from the same unit
        on the same day over the same data gets the same words, and rendering a unit's list was the largest
        piece of a steady-state question left. The key must hold everything the text depends on (the day too).
        """
        return self._rendered.get(key)

    def keep_rendered(self, key: Hashable, value: Any, generation: int) -> None:
        """Keep a reply rendered from data read in `generation`; refused when the data changed since."""
        if generation != self.generation:
            return
        if len(self._rendered) >= MAX_RENDERED:
            self._rendered.clear()
        self._rendered[key] = value

    async def _keep(self, cache: dict[K, V], key: K, read: Awaitable[V]) -> V:
        seen = self.generation
        value = await read
        if seen == self.generation:  # nothing changed while we read: safe to keep
            cache[key] = value
        return value

    async def _shared(self, cache: dict[K, V], kind: str, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """Read and keep a missing value, or wait for the same read another question of this generation started."""
        flight = (kind, key)
        current = self._reading.get(flight)
        if current is not None and current[0] == self.generation:
            ok, theirs = await asyncio.shield(current[1])
            if ok:
                return cast(V, theirs)
        started = (self.generation, asyncio.get_running_loop().create_future())
        self._reading[flight] = started
        result: tuple[bool, Any] = (False, None)  # a failed or cancelled read: the waiters read for themselves
        try:
            value = await self._keep(cache, key, read())
            result = (True, value)
            return value
        finally:
            started[1].set_result(result)
            if self._reading.get(flight) is started:
                del self._reading[flight]

    def invalidate(self) -> None:
        """Drop everything (a change was seen here or elsewhere)."""
        self.generation += 1
        self._people.clear()
        self._plans.clear()
        self._active.clear()
        self._tasks.clear()
        self._rendered.clear()

    # ---- this process's writes ---------------------------------------------------------------------
    def _watch_own_commits(self) -> None:
        """Drop the cache when one of this process's connections commits a write the reads depend on.

        Which connections wrote is kept here, beside them, not in `conn.info`: reading `info` revalidates the
        connection, and in the rollback that follows a cancelled PostgreSQL query that raises — which turned the
        caller's CancelledError into a PendingRollbackError and made cancelled tasks carry on (a stop that hung).
        These hooks must never raise.
        """
        sync_engine = self.store.engine.sync_engine
        dirty: weakref.WeakSet[Any] = weakref.WeakSet()

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _wrote(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            found = _DML.match(statement)
            if found is not None and found.group(1).lower() not in UNRELATED:
                dirty.add(conn)

        @event.listens_for(sync_engine, "commit")
        def _committed(conn: Any) -> None:
            if conn in dirty:
                dirty.discard(conn)
                self.invalidate()

        @event.listens_for(sync_engine, "rollback")
        def _rolled_back(conn: Any) -> None:
            dirty.discard(conn)

    # ---- other processes' writes -------------------------------------------------------------------
    async def start(self) -> None:
        """Start watching for other processes' changes."""
        if self._watcher is None:
            self._revision = await self.revision()
            self._watcher = asyncio.create_task(self._watch(), name="read-model-watch")

    async def stop(self) -> None:
        """Stop watching."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def revision(self) -> int:
        """Return the database's revision: bumped by triggers on every write to what the reads depend on."""
        async with self.store.engine.connect() as c:
            if c.dialect.name == "postgresql":
                row = (await c.execute(text("SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END "
                                            "FROM duban_revision"))).scalar_one()
            else:
                row = (await c.execute(text("SELECT n FROM readrevision WHERE id = 1"))).scalar_one()
            return int(row)

    async def _check(self) -> None:
        current = await self.revision()
        if current != self._revision:
            self._revision = current
            self.invalidate()

    async def _watch(self) -> None:
        if self.store.engine.dialect.name == "postgresql":
            await self._listen_forever()
            return
        while True:
            await asyncio.sleep(self.check_every)
            try:
                await self._check()
            except Exception:
                log.warning("read model: revision check failed; dropping the cache", exc_info=True)
                self.invalidate()

    async def _listen_forever(self) -> None:
        """LISTEN on a connection of its own; on its loss, reset and listen again; check the revision meanwhile."""
        import asyncpg  # type: ignore[import-untyped]  # the PostgreSQL driver duban uses

        url = make_url(self.store.engine.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        backoff = 1.0
        while True:
            lost = asyncio.Event()
            conn: Any = None
            try:
                conn = await asyncpg.connect(dsn)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(NOTIFY_CHANNEL, self._notified)
                self.listener_pid = conn.get_server_pid()
                self.invalidate()  # whatever happened while nobody listened
                self._revision = await self.revision()
                self._listening.set()
                backoff = 1.0
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self.check_every)
                    if not lost.is_set():
                        await self._check()
                        await conn.execute("SELECT 1")  # a dead listener is noticed here, not only by the OS
            except asyncio.CancelledError:
                raise
            except Exception:
                if _being_cancelled():  # a cancellation that surfaced as another error is still a stop
                    raise
                log.warning("read model: listener lost, resetting and listening again in %.0f s", backoff,
                            exc_info=True)
            finally:
                self._listening.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            self.invalidate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def _notified(self, *_args: object) -> None:
        self.invalidate()

    async def listening(self) -> None:
        """Wait until the PostgreSQL listener is attached (tests)."""
        await self._listening.wait()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
