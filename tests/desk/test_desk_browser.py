"""The desk in headless Chromium (Debian's, which CI installs): sign in from a chat link, review, download, refusals."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import make_settings
from fakes.telegram_api import FakeTelegram
from test_desk import BUILD, COORD, EDU, PDF, bind, desk_link, say

from bot.app import App
from bot.core.clock import Clock
from bot.core.views import TaskStatus
from bot.runner import Runtime

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
                                reason="no chromium")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(bot_username="duban_bot")
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def running(tmp_path: Path, db_url: str, clock: Clock, tg: FakeTelegram,
                  backend: str) -> AsyncIterator[tuple[App, Runtime]]:
    if backend != "sqlite":
        pytest.skip("the browser path does not depend on the database; once on SQLite is enough")
    settings = make_settings(tmp_path, db_url, telegram_token=tg.token, telegram_api_url=tg.root, http_port=0,
                             scheduler=False)
    app = await App.create(settings, clock)
    async with Runtime(app) as rt:
        yield app, rt
    await app.close()


async def test_coordinator_reviews_and_downloads_in_a_browser(running: tuple[App, Runtime], tg: FakeTelegram,
                                                              tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await bind(app, EDU, "区教育局")
    await say(app, BUILD, "44-1", files=(("创建工作通知.pdf", PDF),), tmp=tmp_path)
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    assert "待审核" in (await say(app, EDU, "/done 42"))[0].text
    plan = await app.store.plans.plan()
    leads = {t.lead for t in await app.store.plans.tasks(plan.id)}
    link = await desk_link(app, COORD)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            await page.goto(link)
            async with page.expect_navigation():
                await page.click("#enter")
            assert page.url == f"{rt.http_url}/desk/"
            table = await page.inner_text("table.units")
            assert all(unit in table for unit in leads)

            await page.goto(f"{rt.http_url}/desk/tasks/44")
            async with page.expect_download() as info:
                await page.click("a.file")
            download = await info.value
            assert download.suggested_filename == "创建工作通知.pdf"
            assert Path(await download.path()).read_bytes() == PDF

            await page.goto(f"{rt.http_url}/desk/review")
            async with page.expect_navigation():
                await page.click("a[href='/desk/tasks/42']")
            await page.fill("#reason", "合同缺少盖章页")
            async with page.expect_navigation():
                await page.click("#return")
            assert "任务42已退回区教育局，原因：合同缺少盖章页" in await page.inner_text(".flash")

            # the used link, in a fresh browser: refused, and no session
            stranger = await (await browser.new_context()).new_page()
            await stranger.goto(link)
            assert "已经用过" in await stranger.inner_text("main")
            response = await stranger.goto(f"{rt.http_url}/desk/tasks/44")
            assert response is not None and response.status == 401
            assert "创建工作通知" not in await stranger.content()
        finally:
            await browser.close()
    task = await app.store.plans.task(plan.id, 42)
    assert task.status is TaskStatus.RETURNED
    sent = await tg.wait_for(lambda sent: any(m["chat_id"] == int(EDU) and "退回" in str(m["text"]) for m in sent))
    assert any("任务42被节水办退回，原因：合同缺少盖章页" in str(m["text"]) for m in sent)


async def test_liaison_on_a_phone_uploads_and_cannot_open_another_units_file(
        running: tuple[App, Runtime], tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await bind(app, EDU, "区教育局")
    await say(app, BUILD, "44-1", files=(("住建局通知.pdf", PDF),), tmp=tmp_path)
    plan = await app.store.plans.plan()
    [other] = await app.store.evidence.files(plan.id, 44)
    doc = tmp_path / "学校合同.pdf"
    doc.write_bytes(PDF + b"school")
    link = await desk_link(app, EDU)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()  # a phone
            await page.goto(link)
            async with page.expect_navigation():
                await page.click("#enter")
            assert page.url == f"{rt.http_url}/desk/tasks"
            async with page.expect_navigation():
                await page.click("a[href='/desk/tasks/42']")
            await page.select_option("#item", "1")
            await page.set_input_files("#file", str(doc))
            async with page.expect_navigation():
                await page.click("#upload")
            assert "已收到「学校合同.pdf」，归入任务42 材料1" in await page.inner_text(".flash")
            assert "学校合同.pdf" in await page.inner_text("ol.items")

            response = await page.goto(f"{rt.http_url}/desk/files/{other.id}")
            assert response is not None and response.status == 404
            assert "没有这个文件" in await page.inner_text("main")
        finally:
            await browser.close()
    [mine] = await app.store.evidence.files(plan.id, 42)
    assert mine.uploaded_by == f"telegram:{EDU}" and mine.file_name == "学校合同.pdf"
