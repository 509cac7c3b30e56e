"""The 台账 and the bundle are built once per state of their data: asked again with nothing changed, the desk serves the
file already built (same ETag, same file); after a change it builds again; requests at the same time share a build."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
from openpyxl import load_workbook
from test_desk import BUILD, COORD, EDU, PDF, bind, http, running, say, signed_in, tg

from bot.app import App
from bot.exports.ledger import HEADERS
from bot.handlers.export import bundle_path, ledger_path
from bot.runner import Runtime

__all__ = ["http", "running", "tg"]  # fixtures of the desk's tests, used here

Download = tuple[str, bytes]  # (ETag, body)


async def download(http: aiohttp.ClientSession, url: str) -> Download:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["ETag"], await resp.read()


def materials_of(ledger: bytes, no: int) -> str:
    """Return the 材料 column of task `no` in the 台账."""
    ws = load_workbook(io.BytesIO(ledger))["台账"]
    column = HEADERS.index("材料(已收/应收)")
    return next(str(row[column].value) for row in ws.iter_rows(min_row=2) if row[0].value == no)


async def test_ledger_is_built_again_only_after_a_change(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                         tmp_path: Path) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    url = f"{rt.http_url}/desk/export/ledger"
    built = ledger_path(app.settings.state_dir, "pingshan-2023", app.clock.today())
    first = await download(http, url)
    inode = built.stat().st_ino
    assert await download(http, url) == first  # nothing changed: the same file, not a new build
    assert built.stat().st_ino == inode
    assert materials_of(first[1], 42) == "0/1"

    await bind(app, EDU, "区教育局")
    await say(app, EDU, "42-1", files=(("合同.pdf", PDF),), tmp=tmp_path)
    changed = await download(http, url)
    assert changed[0] != first[0] and built.stat().st_ino != inode
    assert materials_of(changed[1], 42) == "1/1"

    await say(app, EDU, "42-1", files=(("补充合同.pdf", PDF + b"2"),), tmp=tmp_path)
    together = await asyncio.gather(download(http, url), download(http, url), download(http, url))
    assert len({etag for etag, _ in together}) == 1 and together[0][0] != changed[0]  # one build, shared


async def test_liaison_asking_for_the_bundle_in_a_loop_gets_one_build(running: tuple[App, Runtime],
                                                                     http: aiohttp.ClientSession,
                                                                     tmp_path: Path) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await signed_in(app, http, BUILD)
    url = f"{rt.http_url}/desk/export/bundle"
    built = bundle_path(app.settings.state_dir, "pingshan-2023", "区住房和城乡建设局", app.clock.today())
    first = await download(http, url)
    inode = built.stat().st_ino
    for _ in range(5):
        assert await download(http, url) == first
    assert built.stat().st_ino == inode
    await say(app, BUILD, "44-1", files=(("方案.pdf", PDF),), tmp=tmp_path)
    assert (await download(http, url))[0] != first[0] and built.stat().st_ino != inode


async def test_chat_export_shares_the_desks_build(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    etag, _ = await download(http, f"{rt.http_url}/desk/export/ledger")
    built = ledger_path(app.settings.state_dir, "pingshan-2023", app.clock.today())
    inode = built.stat().st_ino
    [reply] = await say(app, COORD, "/export")
    assert reply.file is not None and reply.file.path == built and built.stat().st_ino == inode
    assert (await download(http, f"{rt.http_url}/desk/export/ledger"))[0] == etag
