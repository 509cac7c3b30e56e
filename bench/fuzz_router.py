"""Property-based fuzz of the conversation router (hypothesis), printing counts as JSON. Not a test.

A stranger, a liaison (区教育局) and a coordinator send hostile messages through the real message pipeline,
as every channel does (a recording channel stands for the platform): commands with random arguments, Unicode digits, huge
numbers, NaN and inf, control characters, very long text, button data (real tokens with odd
answers, and made-up ones) and attachments (some empty). For every message it checks that

- no exception escapes and none is logged (the apology is never the answer),
- at least one reply is delivered, and every part delivered fits the channel's limit,
- a refusal (a `UserError`, logged by the router as "refused") changes no row of the main tables,
  and nothing a stranger sends changes them at all.

    .venv/bin/python bench/fuzz_router.py [--examples 500] [--seed 1] [--database-url postgresql+asyncpg://…]

`tests/test_router_fuzz.py` runs the same property on a bounded example set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.recorder import Recorder
from hypothesis import strategies as st

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.core.messages import ChatKind, ChatRef, Envelope, Media
from bot.handlers.router import APOLOGY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a script too: bench.fuzzing
from bench.fuzzing import drive, main, rows_digest

TODAY = dt.date(2023, 10, 20)
USERS = {"stranger": "fz-stranger", "liaison": "fz-li", "coordinator": "admin"}
LIMITS = (3500, 600)  # Telegram's and WeCom's reply limits as the channels set them
# Rows a refusal must leave alone. Pending questions, bind failures and seen-message ids are the
# bookkeeping of refusals themselves (a wrong invite code is counted by design).
MAIN_TABLES = ("task", "evidencefile", "invite", "person", "subscription", "robot", "outbox", "audit", "snooze")
ROUTER_LOG = "bot.handlers.router"

ODD_NUMBERS = ["²", "①", "٣", "１２", "99999999999999999999", "2147483648", "-1", "-0", "0", "1.5", "NaN", "nan%",
               "inf", "-inf", "Infinity", "1e400", "1e9", "0x10", "1_000", "١٢", "Ⅻ", "十二", "四十", "#3", "42"]
WORDS = ["教育局", "水务局", "局", "区教育局", "住建局", "图", "材料", "console:fz-li", "telegram:1", "下一页", "yes", "x",
         "next", "任务42", "42-1", "12.3", "本月", "逾期", "\x00", "\u202e", "\ufeff", "<b>", "&amp;", "\n", "\t"]
PHRASES = ["我单位有哪些任务", "任务42还差哪些材料", "十月份要完成什么", "逾期的任务", "下一页", "汇总", "教育局的任务",
           "任务99999999999", "任务²", "第四十二项", "42号任务的文件", "你好", ""]


def _argument() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ODD_NUMBERS), st.sampled_from(WORDS),
                     st.integers(-10**30, 10**30).map(str),
                     st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=8),
                     st.text(max_size=30))


def _long() -> st.SearchStrategy[str]:
    return st.integers(1_500, 6_000).map(lambda n: ("任务42" * n)[:n])


@dataclass(frozen=True)
class Sent:
    """One fuzzed message: who sends it, how, and within which reply limit."""

    role: str
    text: str = ""
    button: tuple[int, str] | None = None  # (which offered button, the answer after the token) or a made-up one
    limit: int = 3500
    group: bool = False
    file: bytes | None = None  # an attachment, captioned with `text`; empty ones must be refused


def messages(commands: list[str]) -> st.SearchStrategy[Sent]:
    """Return the strategy of hostile messages for a router with these command names."""
    odd = st.sampled_from(ODD_NUMBERS)
    command = st.builds(lambda name, args: f"/{name} {' '.join(args)}".rstrip(),
                        st.sampled_from([*commands, "foo", "TASK", "task@duban_bot", "进度"]),
                        st.lists(st.one_of(odd, odd, _argument()), max_size=3))
    body = st.one_of(command, st.sampled_from(PHRASES), _argument(), _long(),
                     st.text(st.characters(categories=["Cc", "Cf", "Zs", "Lo"]), max_size=50))
    button = st.tuples(st.integers(0, 50), st.one_of(st.sampled_from(["yes", "no", "x", "next", "0", "1", "7"]),
                                                     odd, _argument()))
    file = st.sampled_from([b"", b"%PDF-1.4 fuzz"]).flatmap(lambda head: st.binary(max_size=64).map(
        lambda tail: head + tail if head else b""))
    return st.builds(Sent, role=st.sampled_from(list(USERS)), text=body,
                     button=st.one_of(st.none(), st.none(), button),
                     limit=st.sampled_from(LIMITS), group=st.booleans(),
                     file=st.one_of(st.none(), st.none(), st.none(), file))


class _Refusals(logging.Handler):
    """Count the router's "refused" and "unhandled error" records (what the router logs, observed as a reader)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.refused = 0
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("refused "):
            self.refused += 1
        elif record.levelno >= logging.ERROR:
            self.errors.append(message[:300])


@dataclass
class Fuzz:
    """Drive one App with fuzzed messages and check the property on each."""

    app: App
    channel: Recorder = field(default_factory=Recorder)
    seen: dict[str, int] = field(default_factory=lambda: {
        "messages": 0, "buttons": 0, "files": 0, "empty_files": 0, "refused": 0, "replies": 0, "split_replies": 0,
        "by_stranger": 0, "by_liaison": 0, "by_coordinator": 0})
    offered: dict[str, list[str]] = field(default_factory=dict)  # buttons each user was offered

    async def setup(self) -> None:
        """Make the liaison a liaison of 区教育局 and let every user be known once."""
        self.app.pipeline.add(self.channel)
        self.app.intake.open()
        code = await self.app.store.people.create_invite("区教育局", by="fuzz", now=self.app.clock.utcnow(), days=7)
        await self.channel.handle(self.app.pipeline, self._envelope(Sent("liaison", f"/bind {code}")))
        for role in USERS:
            await self.channel.handle(self.app.pipeline, self._envelope(Sent(role, "/help")))

    async def send(self, sent: Sent) -> None:
        """Send one message and assert the property; raise AssertionError with the message when it fails."""
        handler = _Refusals()
        logger = logging.getLogger(ROUTER_LOG)
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            msg = self._envelope(sent)
            self.channel.page = self.channel.limit = sent.limit
            before = await self.checksum()
            replies = await self.channel.handle(self.app.pipeline, msg)
            after = await self.checksum()
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        where = f"{sent.role} sent {msg.text[:80]!r} callback={msg.callback!r}"
        assert not handler.errors, f"exception for {where}: {handler.errors}"
        assert replies, f"no answer to {where}"
        for reply in replies:
            assert reply.text != APOLOGY, f"apology for {where}"
            assert len(reply.text) <= sent.limit, f"{len(reply.text)} > {sent.limit} for {where}"
        if handler.refused or sent.role == "stranger" or (msg.media and sent.file == b""):
            assert before == after, f"rows changed by a refused message: {where}"
        self._count(sent, replies, handler.refused, msg)
        self.offered.setdefault(sent.role, []).extend(c.data for r in replies for c in r.choices)

    def _count(self, sent: Sent, replies: list[Any], refused: int, msg: Envelope) -> None:
        self.seen["messages"] += 1
        self.seen[f"by_{sent.role}"] += 1
        self.seen["buttons"] += msg.callback is not None
        self.seen["files"] += bool(msg.media)
        self.seen["empty_files"] += bool(msg.media) and sent.file == b""
        self.seen["replies"] += len(replies)
        self.seen["split_replies"] += len(replies) > 1
        self.seen["refused"] += bool(refused)

    def _envelope(self, sent: Sent) -> Envelope:
        user = USERS[sent.role]
        chat = ChatRef("console", "-100fuzz" if sent.group else user, ChatKind.GROUP if sent.group else ChatKind.PRIVATE)
        callback = None
        if sent.button is not None:
            which, answer = sent.button
            offered = self.offered.get(sent.role) or self.offered.get("liaison") or []
            token = offered[which % len(offered)].partition(":")[0] if offered else f"made-up{which}"
            callback = f"{token}:{answer}"
        media: tuple[Media, ...] = ()
        if sent.file is not None and callback is None:
            path = self.app.settings.state_dir / "fuzz-upload"
            path.write_bytes(sent.file)
            media = (Media("file", str(path), "材料.pdf", len(sent.file), "application/pdf"),)
        return Envelope(f"fuzz:{uuid.uuid4().hex}", chat, user, user, text="" if callback else sent.text,
                        callback=callback, media=media)

    async def checksum(self) -> str:
        """Return a digest of every row of the main tables."""
        return await rows_digest(self.app.store.engine, MAIN_TABLES)


async def start(state_dir: Path, database_url: str = "") -> App:
    """Build a fresh App with the seed plan on its own database, the date pinned to the demo's."""
    values: dict[str, Any] = {"state_dir": state_dir, "today": TODAY, "coordinators": "console:admin"}
    if database_url:
        values["database_url"] = database_url
    return await App.create(Settings(_env_file=None, **values),  # type: ignore[call-arg]
                            Clock(tz=SHANGHAI, pinned_today=TODAY, pinned_time=dt.time(10, 0)))


def run(state_dir: Path, examples: int, seed_value: int, database_url: str = "") -> dict[str, Any]:
    """Run `examples` fuzzed conversations (up to 5 messages each) and return the counts and any failure."""
    with asyncio.Runner() as runner:
        app = runner.run(start(state_dir, database_url))
        fuzz = Fuzz(app)
        runner.run(fuzz.setup())
        names = sorted({cmd.name for cmd in app.router.listed()})
        try:
            failure, failures = drive(runner, st.lists(messages(names), min_size=1, max_size=5), fuzz.send,
                                      examples, seed_value)
        finally:
            runner.run(app.close())
    return {**fuzz.seen, "examples": examples, "seed": seed_value, "failure": failure, "failures": failures}


if __name__ == "__main__":
    main(__doc__, run, "duban-fuzz-")
