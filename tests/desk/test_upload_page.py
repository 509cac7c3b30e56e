"""The signed upload page over real HTTP (and in headless Chromium where installed): files land byte-identical."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from conftest import FAKED_WALLCLOCK, make_settings
from fakes.wecom_api import FakeWeCom

from bench.fuzz_forms import Part, multipart
from bot.app import App
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, Message
from bot.core.views import PersonView
from bot.desk.upload import UploadPage
from bot.runner import Runtime
from bot.signing import Signer

CORP, SECRET = "wwduban0000000001", "duban-app-secret"
PDF = b"%PDF-1.4\n" + os.urandom(300_000) + b"\n%%EOF\n"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(corp_id=CORP, secret=SECRET) as server:
        yield server


@pytest.fixture
async def running(tmp_path: Path, db_url: str, clock: Clock, fake: FakeWeCom) -> AsyncIterator[tuple[App, Runtime]]:
    settings = make_settings(tmp_path, db_url, wecom_corp_id=CORP, wecom_agent_id=1000002, wecom_secret=SECRET,
                             wecom_token="dubanToken123", wecom_aes_key="A" * 43, wecom_api_url=fake.base_url,
                             http_port=0, wecom_replay_window_s=0, scheduler=False, upload_max_mb=1)
    app = await App.create(settings, clock)
    async with Runtime(app) as rt:
        yield app, rt
    await app.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def liaison(app: App, user: str, unit: str) -> PersonView:
    """Bind a WeCom user to a unit the way /bind does, and return them."""
    now = app.clock.utcnow()
    person = await app.store.people.identify("wecom", user, name="", chat_id=user, now=now)
    code = await app.store.people.create_invite(unit, by="test", now=now, days=7)
    await app.store.people.bind(person, code, now=now)
    bound = await app.store.people.get(f"wecom:{user}")
    assert bound is not None
    return bound


def link(app: App, person: PersonView, task_no: int) -> str:
    assert app.services.upload_link is not None
    return app.services.upload_link(person, 1, task_no)  # the shipped plan, the only one


async def upload(http: aiohttp.ClientSession, url: str, data: bytes, item: str = "3",
                 name: str = "再生水利用调研报告.pdf", **extra: str) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("item", item)
    for k, v in extra.items():
        form.add_field(k, v)
    form.add_field("file", data, filename=name, content_type="application/pdf")
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.text()


async def test_link_shows_the_task_checklist(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    assert url.startswith(f"{rt.http_url}/upload/")
    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        page = await resp.text()
    plan = await app.store.plans.plan()
    task = await app.store.plans.task(plan.id, 12)
    assert "任务12" in page and task.deadline_raw in page and "佐证材料（已收 0/" in page
    assert all(i.title in page for i in task.items)
    assert '<select id="item" name="item">' in page and 'type="file"' in page and "<script" not in page


async def test_uploaded_file_lands_byte_identical_as_evidence(running: tuple[App, Runtime], fake: FakeWeCom,
                                                              http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    status, page = await upload(http, url, PDF)
    assert status == 200 and "已收到「再生水利用调研报告.pdf」，归入任务12 材料3" in page, page[-800:]
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 12)
    assert f.sha256 == hashlib.sha256(PDF).hexdigest() and f.size == len(PDF) and f.item_no == 3
    assert app.store.files.path_for(f.sha256).read_bytes() == PDF
    assert list(app.scratch_dir.iterdir()) == []
    [echo] = await fake.wait_sent(1)  # the chat shows it too
    assert echo["touser"] == "lisi" and "归入任务12 材料3" in str(echo["text"]["content"])
    async with http.get(url) as resp:
        assert "已收1个文件" in await resp.text()
    status, page = await upload(http, url, PDF)
    assert "已经提交过了" in page


async def test_same_file_sent_twelve_times_at_once_is_filed_once(running: tuple[App, Runtime],
                                                                  http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    pages = await asyncio.gather(*(upload(http, url, PDF) for _ in range(12)))
    assert all(status == 200 for status, _ in pages)
    assert sum("已收到「再生水利用调研报告.pdf」" in page for _, page in pages) == 1
    assert sum("这个文件已经提交过了" in page for _, page in pages) == 11
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 12)
    assert f.sha256 == hashlib.sha256(PDF).hexdigest()
    assert sum(f"#{f.id}" in page for _, page in pages) == 12  # the eleven name the file that was kept


async def test_forged_or_altered_token_is_refused(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    token = url.rsplit("/", 1)[1]
    payload, sig = token.split(".")
    forged = UploadPage.__new__(UploadPage)
    forged.app, forged._signer = app, Signer(b"\x00" * 32, b"duban-upload-link\x00")  # right format, wrong secret
    other_person = PersonView(id=99, channel="wecom", user_id="lisi", unit="区水务局")
    def altered(part: str) -> str:  # another first character: six bits of it differ, whatever the token was
        return ("B" if part[0] == "A" else "A") + part[1:]

    for bad in (f"{payload}.{altered(sig)}", f"{altered(payload)}.{sig}", "garbage", "a.b",
                forged.link(other_person, 1, 12).rsplit("/", 1)[1]):
        async with http.get(f"{rt.http_url}/upload/{bad}") as resp:
            assert resp.status == 403 and "链接无效" in await resp.text()
        status, _ = await upload(http, f"{rt.http_url}/upload/{bad}", PDF)
        assert status == 403
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []


async def test_expired_link_is_refused(running: tuple[App, Runtime], clock: Clock,
                                       http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    clock.advance(dt.timedelta(hours=app.settings.upload_link_hours + 1))
    async with http.get(url) as resp:
        assert resp.status == 403 and "已过期" in await resp.text()
    status, _ = await upload(http, url, PDF)
    assert status == 403
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []


async def test_link_files_only_for_its_own_person_and_task(running: tuple[App, Runtime],
                                                           http: aiohttp.ClientSession) -> None:
    app, _ = running
    water = await liaison(app, "lisi", "区水务局")
    education = await liaison(app, "zhangsan", "区教育局")
    # a form field naming another task changes nothing: the task comes from the signed link
    status, page = await upload(http, link(app, water, 12), PDF, task="40")
    assert status == 200 and "归入任务12 材料3" in page
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 40) == []
    # a link made for a task outside the person's unit is refused before the task is shown
    status, page = await upload(http, link(app, education, 12), b"other bytes" * 100)
    assert status == 403 and "不是这项任务所属单位的联络员" in page
    [f] = await app.store.evidence.files(plan.id, 12)
    assert f.uploaded_by == "wecom:lisi"


async def test_oversize_upload_is_refused_with_413(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    big = b"x" * (1024 * 1024 + 1)
    status, page = await upload(http, url, big)
    assert status == 413 and "1MB" in page

    # without Content-Length (chunked), the limit is enforced while streaming
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n3\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(20):
            yield b"y" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    async with http.post(url, data=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}) \
            as resp:
        assert resp.status == 413 and "文件太大" in await resp.text()
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []
    assert list(app.scratch_dir.iterdir()) == []


async def test_empty_or_malformed_form_is_refused(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    status, page = await upload(http, url, b"", name="")  # what a browser sends when no file was chosen
    assert status == 400 and "请返回上一页" in page
    async with http.post(url, data=b"item=3", headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 400
    status, page = await upload(http, url, PDF, item="<script>")
    assert "请选择这份文件对应的材料" in page and "<script>" not in page


async def test_empty_file_is_refused_with_its_reason(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    status, page = await upload(http, url, b"", name="空白.pdf")
    assert status == 400 and "「空白.pdf」未归档" in page and "0字节" in page and 'class="error"' in page
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 12) == []
    async with http.get(url) as resp:
        assert "佐证材料（已收 0/" in await resp.text()
    assert list(app.scratch_dir.iterdir()) == []


@pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None or FAKED_WALLCLOCK,
                    reason="no chromium (or under a faked wall clock)")
async def test_upload_in_headless_chromium(running: tuple[App, Runtime], tmp_path: Path, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the browser path does not depend on the database; once on SQLite is enough")
    from playwright.async_api import async_playwright

    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    doc = tmp_path / "计划用水调研报告.pdf"
    doc.write_bytes(PDF)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            await page.goto(url)
            assert "任务12" in await page.inner_text("h1")
            await page.select_option("#item", "2")
            await page.set_input_files("#file", str(doc))
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            text = await page.inner_text("main")
        finally:
            await browser.close()
    assert "已收到「计划用水调研报告.pdf」，归入任务12 材料2" in text
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 12)
    assert f.sha256 == hashlib.sha256(PDF).hexdigest() and f.file_name == "计划用水调研报告.pdf"
    assert app.store.files.path_for(f.sha256).read_bytes() == PDF


@pytest.mark.parametrize("name", [b"a\x00b.pdf", "调研\n报告.pdf".encode(), b"a\rb.pdf", "报告\r\n.pdf".encode()])
async def test_control_characters_in_a_file_name_give_a_clear_page(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
        name: bytes) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    body, headers = multipart(Part(b"item", b"3"), Part(b"file", PDF, name, b"application/pdf"))
    async with http.post(url, data=body, headers=headers) as resp:
        status, page = resp.status, await resp.text()
    assert status < 500 and "上传" in page, page
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    plan = await app.store.plans.plan()
    files = await app.store.evidence.files(plan.id, 12)
    if status == 200:
        [f] = files
        assert "已收到" in page and not any(ch in f.file_name for ch in "\x00\r\n")
    else:
        assert status == 400 and files == [] and "文件名" in page
    assert not app.scratch_dir.exists() or list(app.scratch_dir.iterdir()) == []


async def test_link_of_a_removed_or_moved_liaison_shows_nothing_of_the_task(
        running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, _ = running
    plan = await app.store.plans.plan()
    task = await app.store.plans.task(plan.id, 12)
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    coordinator = ChatRef("wecom", "jieshuiban", ChatKind.PRIVATE)
    for change in ("/remove wecom:lisi", "moved"):
        if change == "moved":
            await liaison(app, "lisi", "区教育局")  # bound again, to a unit with no part in task 12
        else:
            [removed] = await app.conversation.handle(Message("wecom", "jieshuiban", coordinator, text=change))
            assert "已移除" in removed.text
        async with http.get(url) as resp:
            page = await resp.text()
            assert resp.status == 403 and "链接已经失效" in page
        assert "状态" not in page and task.lead not in page and not any(i.title in page for i in task.items)
        status, page = await upload(http, url, PDF)
        assert status == 403 and "链接已经失效" in page
    assert await app.store.evidence.files(plan.id, 12) == []


async def test_a_very_long_file_name_keeps_its_extension(running: tuple[App, Runtime],
                                                         http: aiohttp.ClientSession) -> None:
    app, _ = running
    url = link(app, await liaison(app, "lisi", "区水务局"), 12)
    long_name = "再生水利用调研报告" * 33 + "（定稿）.pdf"  # 304 characters
    status, page = await upload(http, url, PDF, name=long_name)
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 12)
    assert status == 200 and f"已收到「{f.file_name}」" in page
    assert f.file_name.endswith(".pdf") and f.file_name.startswith("再生水利用调研报告")
    assert len(f.file_name.encode()) <= 240


async def test_a_returned_items_link_opens_the_page_on_that_item(running: tuple[App, Runtime],
                                                                 http: aiohttp.ClientSession) -> None:
    app, _ = running
    lisi = await liaison(app, "lisi", "区水务局")
    for item in ("1", "2"):
        status, _ = await upload(http, link(app, lisi, 12), b"%PDF page " + item.encode(), item=item,
                                 name=f"材料{item}.pdf")
        assert status == 200
    admin = ChatRef("console", "admin", ChatKind.PRIVATE)
    [said] = await app.conversation.handle(Message("console", "admin", admin, text="/return 12-2 缺少盖章页"))
    assert "缺少盖章页" in said.text
    [row] = [r for r in await app.store.outbox.rows() if r["dedupe_key"].startswith("returned-item:")]
    url = row["payload"]["link"][1]
    assert url.endswith("?item=2")
    async with http.get(url) as resp:
        page = await resp.text()
    assert '<option value="2" selected>' in page  # not the first item still missing (3)
