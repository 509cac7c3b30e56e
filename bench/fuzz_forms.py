"""Property-based fuzz of the web forms (hypothesis): the signed upload page and the desk upload, printing counts as
JSON. Not a test.

A liaison's signed upload link (task 12) and a liaison's desk session (task 44) receive hostile multipart POSTs
over real HTTP, built byte for byte: file names with NUL, CR, LF, RTL and BOM marks, path parts, quotes,
percent-escapes, invalid UTF-8 or thousands of characters; odd or missing part and request content types; missing,
repeated and unknown fields; huge field values; empty, small and over-limit files; bodies cut short or with the
wrong boundary; task numbers past any integer. For every request it checks that

- the answer is never a 5xx, and nothing is logged at ERROR or with a traceback,
- a refused request (4xx, or an answer that is not 「已收到」) changes no row of the evidence, task and audit
  tables, and no temporary upload is left behind,
- an accepted file is kept under a name without control characters or path separators, extension kept.

    .venv/bin/python bench/fuzz_forms.py [--examples 300] [--seed 1] [--database-url postgresql+asyncpg://…]

`tests/test_form_fuzz.py` runs the same property on a bounded example set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.multipart import BadContentDispositionHeader
from hypothesis import strategies as st
from sqlalchemy import text

from bot.app import App
from bot.config import Settings
from bot.core.clock import SHANGHAI, Clock
from bot.core.messages import ChatKind, ChatRef, Message
from bot.runner import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a script too: bench.fuzzing
from bench.fuzzing import drive, main, rows_digest

TODAY = dt.date(2023, 10, 20)
WATER, BUILD = "fz-water", "fz-build"  # console liaisons of 区水务局 (task 12) and 区住房和城乡建设局 (task 44)
MAIN_TABLES = ("evidencefile", "task", "audit")
LIMIT_MB = 1
ACCEPTED = "已收到「"

NAMES = ["调研报告.pdf", "照片.jpg", "a\x00b.pdf", "调研\n报告.pdf", "a\rb.pdf", "报告\r\n.pdf", "\u202egnp.exe", "\ufeff清单.xlsx",
         "../../etc/passwd", "..\\..\\win.ini", "C:\\fakepath\\合同.pdf", "", ".", "..", "...", "CON", "nul.txt",
         '引"号".pdf', "a;b=c.pdf", "%00.pdf", "%E6%8A%A5%E5%91%8A.pdf", "%ZZ.pdf", "名" * 300 + ".pdf",
         "x" * 3000, " .pdf", "报告.PDF ", "<script>.html", "a/b/c.docx"]
CONTENT_TYPES = [b"application/pdf", b"text/html", b"image/svg+xml", b"", b"multipart/mixed", b"x/y; a=\x00",
                 b"application/octet-stream", b"image/png"]
ITEMS = [b"1", b"3", b"0", b"-1", b"99999999999999999999", "１".encode(), "²".encode(), b"", b"<script>", b"\x00",
         b"9" * 100_000, b"1.5", b"NaN"]
TASKS = ["12", "44", "40", "0", "99999999999999999999", "2147483648"]


@dataclass(frozen=True)
class Part:
    """One part of a multipart form, sent byte for byte: a field, or a file when `filename` is given."""

    name: bytes
    value: bytes
    filename: bytes | None = None
    content_type: bytes | None = None


@dataclass(frozen=True)
class Post:
    """One hostile POST: where to, its parts, and how the request itself is framed."""

    target: str  # "upload" (the signed page) or "desk"
    task: str  # the desk's task number in the URL
    parts: tuple[Part, ...]
    csrf: str  # "real", "none" or "fake" (desk only)
    framing: str  # "multipart", "no-boundary", "wrong-boundary", "truncated", "urlencoded", "none"
    cut: int = 0  # bytes cut from the end when truncated


def _file_name() -> st.SearchStrategy[bytes]:
    named = st.sampled_from(NAMES).map(lambda n: n.encode())
    raw = st.one_of(st.binary(max_size=40), st.text(max_size=60).map(lambda t: t.encode()))
    return st.one_of(named, named, named, named, raw, st.sampled_from([b"\xff\xfe.pdf", b"caf\xe9.pdf"]))


def _file_part() -> st.SearchStrategy[Part]:
    fresh = st.builds(lambda u, b: u.bytes + b, st.uuids(), st.binary(max_size=64))  # not always a duplicate
    data = st.one_of(fresh.map(lambda b: b"%PDF-1.4 fuzz" + b), fresh.map(lambda b: b"\x89PNG\r\n\x1a\n" + b), st.just(b""),
                     st.just(b"<html><script>x</script></html>"))
    data = st.one_of(data, data, data, data, data, data, st.just(b"z" * (LIMIT_MB * 1024 * 1024 + 1)))
    return st.builds(Part, name=st.just(b"file"), value=data, filename=st.one_of(_file_name(), _file_name(), st.none()),
                      content_type=st.one_of(st.sampled_from(CONTENT_TYPES), st.none()))


def posts() -> st.SearchStrategy[Post]:
    """Return the strategy of hostile form posts: mostly a form a page could send, with hostile values."""
    value = st.one_of(st.sampled_from([b"1", b"2", b"3"]), st.sampled_from([b"1", b"2", b"3"]), st.sampled_from(ITEMS),
                      st.binary(max_size=20))
    item = st.builds(Part, name=st.just(b"item"), value=value)
    odd_name = st.sampled_from([b"file", b"item", b"task", b"csrf", b"", "材料".encode()])
    odd = st.builds(Part, name=st.one_of(odd_name, odd_name, odd_name, st.binary(min_size=1, max_size=10)),
                    value=st.one_of(st.binary(max_size=30), st.just(b"A" * 200_000)))
    some = st.integers(0, 9)  # a page sends the item and the file; a hostile client may leave either out
    parts = st.builds(lambda i, f, n, m, extra: (*([i] if n else []), *([f] if m else []), *extra),
                      item, _file_part(), some, some, st.lists(odd, max_size=2))
    return st.builds(Post, target=st.sampled_from(["upload", "desk"]),
                     task=st.one_of(st.just("44"), st.just("44"), st.sampled_from(TASKS)), parts=parts,
                     csrf=st.sampled_from(["real", "real", "real", "none", "fake"]),
                     framing=st.sampled_from(["multipart"] * 20 + ["no-boundary", "wrong-boundary", "truncated",
                                                                    "urlencoded", "none"]),
                     cut=st.integers(1, 200))


class _Errors(logging.Handler):
    """Keep every record logged at ERROR or with a traceback (the server's "Error handling request" among them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(f"{record.name}: {record.getMessage()[:200]}")


@dataclass
class Fuzz:
    """Drive one running App's HTTP server with fuzzed forms and check the property on each."""

    app: App
    rt: Runtime
    http: aiohttp.ClientSession
    upload_url: str = ""
    csrf: str = ""
    seen: dict[str, int] = field(default_factory=lambda: {
        "posts": 0, "to_upload_page": 0, "to_desk": 0, "accepted": 0, "refused_4xx": 0, "refused_in_words": 0,
        "hostile_names": 0, "over_limit": 0})

    async def setup(self) -> None:
        """Bind both liaisons, make the upload link, sign the desk liaison in and keep their CSRF token."""
        for user, unit in ((WATER, "区水务局"), (BUILD, "区住房和城乡建设局")):
            code = await self.app.store.people.create_invite(unit, by="fuzz", now=self.app.clock.utcnow(), days=7)
            await self._say(user, f"/bind {code}")
        water = await self.app.store.people.get(f"console:{WATER}")
        assert water is not None and self.app.services.upload_link is not None
        self.upload_url = self.app.services.upload_link(water, (await self.app.store.plans.plan()).id, 12)
        [reply] = await self._say(BUILD, "/desk")
        assert reply.link is not None, reply.text
        async with self.http.post(reply.link[1], allow_redirects=False) as resp:
            assert resp.status == 303, resp.status
        async with self.http.get(f"{self.rt.http_url}/desk/tasks/44") as resp:
            page = await resp.text()
        self.csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    async def _say(self, user: str, words: str) -> list[Any]:
        chat = ChatRef("console", user, ChatKind.PRIVATE)
        return await self.app.conversation.handle(Message("console", user, chat, text=words, user_name=user))

    async def send(self, post: Post) -> None:
        """Send one post and assert the property; raise AssertionError naming it when it fails."""
        url = self.upload_url if post.target == "upload" else f"{self.rt.http_url}/desk/tasks/{post.task}/upload"
        parts = post.parts
        if post.target == "desk" and post.csrf != "none":
            parts = (Part(b"csrf", self.csrf.encode() if post.csrf == "real" else b"fake"), *parts)
        body, headers = self._frame(post, parts)
        errors = _Errors()
        root = logging.getLogger()
        root.addHandler(errors)
        try:
            before = await self.checksum()
            async with self.http.post(url, data=body, headers=headers) as resp:
                status, page = resp.status, await resp.text(errors="replace")
            after = await self.checksum()
        finally:
            root.removeHandler(errors)
        where = f"{post.target} {post.framing} parts={[(p.name[:10], (p.filename or b'')[:40]) for p in parts]}"
        assert status < 500, f"{status} for {where}: {page[:300]}"
        assert not errors.records, f"logged for {where}: {errors.records}"
        accepted = status == 200 and ACCEPTED in page
        if not accepted:
            assert before == after, f"rows changed by a refused post ({status}): {where}"
        scratch = self.app.scratch_dir
        assert not scratch.exists() or not list(scratch.iterdir()), f"temporary upload left by {where}"
        if accepted and before != after:
            await self._check_kept_name(where)
        self._count(post, status, accepted)

    def _frame(self, post: Post, parts: tuple[Part, ...]) -> tuple[bytes, dict[str, str]]:
        boundary = uuid.uuid4().hex
        body, headers = multipart(*parts, boundary=boundary)
        kind = {"multipart": headers["Content-Type"], "truncated": headers["Content-Type"],
                "no-boundary": "multipart/form-data", "wrong-boundary": f"multipart/form-data; boundary={boundary[::-1]}",
                "urlencoded": "application/x-www-form-urlencoded"}.get(post.framing)
        if post.framing == "truncated":
            body = body[:max(0, len(body) - post.cut)]
        return body, ({"Content-Type": kind} if kind else {})

    async def _check_kept_name(self, where: str) -> None:
        async with self.app.store.engine.connect() as c:
            name = (await c.execute(text("SELECT file_name FROM evidencefile ORDER BY id DESC LIMIT 1"))).scalar_one()
        assert name and not any(ch in name for ch in "\x00\r\n/\\"), f"kept name {name!r} for {where}"
        assert len(name.encode()) <= 240, f"kept name of {len(name.encode())} bytes for {where}"

    def _count(self, post: Post, status: int, accepted: bool) -> None:
        self.seen["posts"] += 1
        self.seen["to_upload_page" if post.target == "upload" else "to_desk"] += 1
        self.seen["accepted"] += accepted
        self.seen["refused_4xx"] += status >= 400
        self.seen["refused_in_words"] += status < 400 and not accepted
        files = [p for p in post.parts if p.name == b"file"]
        self.seen["hostile_names"] += any(p.filename and any(b in p.filename for b in (b"\x00", b"\r", b"\n", b"/"))
                                          for p in files)
        self.seen["over_limit"] += any(len(p.value) > LIMIT_MB * 1024 * 1024 for p in files)

    async def checksum(self) -> str:
        """Return a digest of every row of the evidence, task and audit tables."""
        return await rows_digest(self.app.store.engine, MAIN_TABLES)


def multipart(*parts: Part, boundary: str = "") -> tuple[bytes, dict[str, str]]:
    """Return the body and headers of a multipart/form-data POST carrying `parts` byte for byte.

    Tests use it too: no client library would send a raw newline or NUL in a file name.
    """
    boundary = boundary or uuid.uuid4().hex
    body = b""
    for p in parts:
        head = b'Content-Disposition: form-data; name="' + p.name + b'"'
        if p.filename is not None:
            head += b'; filename="' + p.filename + b'"'
        if p.content_type is not None:
            head += b"\r\nContent-Type: " + p.content_type
        body += f"--{boundary}\r\n".encode() + head + b"\r\n\r\n" + p.value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def start(state_dir: Path, database_url: str = "") -> tuple[App, Runtime, aiohttp.ClientSession]:
    """Build a fresh App with the seed plan and start its HTTP server on a free port, uploads capped at 1 MB."""
    values: dict[str, Any] = {"state_dir": state_dir, "today": TODAY, "coordinators": "console:admin",
                              "http_port": 0, "scheduler": False, "upload_max_mb": LIMIT_MB}
    if database_url:
        values["database_url"] = database_url
    app = await App.create(Settings(_env_file=None, **values),  # type: ignore[call-arg]
                           Clock(tz=SHANGHAI, pinned_today=TODAY, pinned_time=dt.time(10, 0)))
    rt = Runtime(app)
    await rt.start()
    return app, rt, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def run(state_dir: Path, examples: int, seed_value: int, database_url: str = "") -> dict[str, Any]:
    """Run `examples` fuzzed sessions (up to 3 posts each) and return the counts and any failure."""
    with asyncio.Runner() as runner, warnings.catch_warnings():
        warnings.simplefilter("ignore", BadContentDispositionHeader)  # aiohttp's word on the hostile headers we send
        app, rt, http = runner.run(start(state_dir, database_url))
        fuzz = Fuzz(app, rt, http)
        try:
            runner.run(fuzz.setup())
            failure, failures = drive(runner, st.lists(posts(), min_size=1, max_size=3), fuzz.send, examples,
                                      seed_value)
        finally:
            runner.run(http.close())
            runner.run(rt.stop())
            runner.run(app.close())
    return {**fuzz.seen, "examples": examples, "seed": seed_value, "failure": failure, "failures": failures}


if __name__ == "__main__":
    main(__doc__, run, "duban-fuzz-forms-")
