"""`scripts/run` with no channel configured: the console, and the desk on 127.0.0.1 beside it (start, fetch, stop)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"🔗 打开督办台：(http://127\.0\.0\.1:\d+/desk/login/\S+)")


@asynccontextmanager
async def scripts_run(tmp_path: Path, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start `scripts/run` as a newcomer would (no channel configured), talking through pipes; end its input after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update(DUBAN_STATE_DIR=str(tmp_path / "state"), DUBAN_HTTP_PORT=str(port), PYTHONUNBUFFERED="1",
               # scripts/run reads the checkout's .env: a developer's channels and database stay out of this test
               DUBAN_TELEGRAM_TOKEN="", DUBAN_WECOM_CORP_ID="", DUBAN_WECOM_BOT_ID="", DUBAN_DATABASE_URL="",
               DUBAN_PUBLIC_URL="http://127.0.0.1:8080", DUBAN_COORDINATORS="")
    script = REPO / "scripts" / "run"
    if not (REPO / ".venv" / "bin" / "duban").exists():  # scripts/run would first set the project up (minutes)
        script = Path(sys.executable)
        args: tuple[str, ...] = ("-m", "bot", "run")
    else:
        args = ()
    proc = await asyncio.create_subprocess_exec(str(script), *args, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env, cwd=tmp_path)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 120)


async def line_matching(stream: asyncio.StreamReader | None, pattern: str) -> str:
    """Read lines until one contains pattern; return it (fail when the stream ends first)."""
    assert stream is not None
    seen = []
    while line := (await asyncio.wait_for(stream.readline(), 120)).decode():
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError("".join(seen))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_console_mode_serves_the_desk_and_desk_signs_the_console_user_in(tmp_path: Path) -> None:
    port = free_port()
    async with scripts_run(tmp_path, port) as proc:
        started = await line_matching(proc.stderr, "督办台：")
        assert f"http://127.0.0.1:{port}/desk/" in started
        assert proc.stdin is not None
        proc.stdin.write(b"/desk\n")
        await proc.stdin.drain()
        found = LINK.search(await line_matching(proc.stdout, "打开督办台"))
        assert found is not None and found.group(1).startswith(f"http://127.0.0.1:{port}/desk/login/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(found.group(1)) as signed_in:  # follows to the overview
                page = await signed_in.text()
                assert signed_in.status == 200 and "区住房和城乡建设局" in page and "admin（节水办）" in page
    assert proc.returncode == 0


async def test_a_taken_port_is_said_and_the_console_goes_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        async with scripts_run(tmp_path, taken.getsockname()[1]) as proc:
            said = await line_matching(proc.stderr, "无法使用")
            assert "督办台这次没有启动" in said and "DUBAN_HTTP_PORT" in said
            assert proc.stdin is not None
            proc.stdin.write("/desk\n我单位有哪些任务\n".encode())
            await proc.stdin.drain()
            assert "督办台没有启动" in await line_matching(proc.stdout, "督办台")
    assert proc.returncode == 0
