"""Workflows finished on the desk, over real HTTP: extension requests decided, a liaison submitting (and resubmitting
after a return); refused forms come back as errors with a 4xx status. The liaison hears of each in chat."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from urllib.parse import quote

import aiohttp
from fakes.telegram_api import FakeTelegram
from openpyxl import load_workbook
from playwright.async_api import Page
from test_desk import (
    BUILD,
    COORD,
    EDU,
    PDF,
    bind,
    browser,
    chromium,
    csrf_of,
    desk_link,
    enter,
    get,
    http,
    running,
    say,
    sign_in,
    signed_in,
    tg,
)
from test_plans import NEXT_YEAR, import_next_year

from bot.app import App
from bot.core.clock import Clock
from bot.core.plan import PlanSpec
from bot.core.views import TaskStatus, WarningLevel
from bot.reports.chart import DPI, SMALL_PT
from bot.runner import Runtime

__all__ = ["http", "running", "tg"]  # fixtures of the desk's tests, used here


def told(tg: FakeTelegram, user: str, words: str) -> object:
    """Wait until the fake Bot API was asked to send `words` to the user."""
    return tg.wait_for(lambda sent: any(m["chat_id"] == int(user) and words in str(m["text"]) for m in sent))


def row_of(page: str, no: int) -> str:
    """Return the task list's row of task `no`."""
    found = re.search(rf'<td data-label="序号">{no}</td>.*?</tr>', page, re.S)
    assert found is not None, f"no row of task {no}"
    return found.group(0)


def listed(page: str) -> list[int]:
    """Return the task numbers a task list shows, in order."""
    return [int(n) for n in re.findall(r'<td data-label="序号">(\d+)</td>', page)]


def error_of(page: str) -> str:
    """Return the text of the page's error box ('' when none)."""
    found = re.search(r'<div class="error" role="alert">(.*?)</div>', page, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else ""


async def test_coordinator_approves_an_extension_on_the_task_page(running: tuple[App, Runtime],
                                                                  http: aiohttp.ClientSession, tg: FakeTelegram) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    await signed_in(app, http, COORD)
    status, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert status == 200 and 'id="approve-extension"' in page
    assert "用户2001（区教育局）于 2023-10-20 10:00 申请：截止日期由2023年9月30日延至<strong>2023年11月15日</strong>" in page
    assert "原因：等待市里验收" in page
    async with http.post(f"{rt.http_url}/desk/tasks/40/extension",
                         data={"action": "approve", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        assert resp.status == 200 and "已批准任务40延期：截止日期由2023年9月30日改为2023年11月15日，已通知区教育局。" in page
    assert 'id="approve-extension"' not in page
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 40)).deadline.isoformat() == "2023-11-15"
    await told(tg, EDU, "任务40的延期申请已获节水办批准")


async def test_rejecting_an_extension_needs_a_reason_and_tells_the_liaison(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, tg: FakeTelegram) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    url = f"{rt.http_url}/desk/tasks/40/extension"
    async with http.post(url, data={"action": "reject", "note": "  ", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        assert resp.status == 400 and "请写上不批准的原因" in error_of(page) and "/delay" not in error_of(page)
    assert 'class="flash"' not in page
    async with http.post(url, data={"action": "reject", "note": "请按原计划完成。", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        assert resp.status == 200 and "已不批准任务40的延期申请，原因：请按原计划完成。已通知区教育局。" in page
    await told(tg, EDU, "任务40的延期申请未获批准，原因：请按原计划完成")
    async with http.post(url, data={"action": "approve", "csrf": csrf_of(page)}) as resp:  # nothing left to decide
        assert resp.status == 404 and "没有待批复的延期申请" in error_of(await resp.text())


async def test_pending_extensions_are_listed_oldest_first(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                          tg: FakeTelegram) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await bind(app, BUILD, "区住房和城乡建设局")
    await say(app, BUILD, "/delay 44 2023-12-20 小区改造延后")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    await signed_in(app, http, COORD)
    status, page = await get(http, f"{rt.http_url}/desk/extensions")
    assert status == 200 and "延期待批（2项）" in page
    assert page.index('id="ext-44"') < page.index('id="ext-40"')
    async with http.post(f"{rt.http_url}/desk/tasks/44/extension",
                         data={"action": "approve", "back": "list", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        assert resp.status == 200 and "延期待批（1项）" in page and "已批准任务44延期" in page
    await told(tg, BUILD, "任务44的延期申请已获节水办批准")
    await signed_in(app, http, EDU)
    status, page = await get(http, f"{rt.http_url}/desk/extensions")
    assert status == 403 and "approve-extension" not in page
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "等待市里验收" in page and 'id="approve-extension"' not in page  # a liaison sees the request, not the buttons


async def test_liaison_submits_on_the_task_page_after_confirming_missing_evidence(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, tg: FakeTelegram, tmp_path: Path) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await say(app, BUILD, "44-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    await signed_in(app, http, BUILD)
    status, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    assert status == 200 and 'id="submit"' in page
    url = f"{rt.http_url}/desk/tasks/44/submit"
    async with http.post(url, data={"csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        assert resp.status == 200 and "任务44还有" in page and 'id="submit-anyway"' in page
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 44)).status is not TaskStatus.SUBMITTED
    async with http.post(url, data={"csrf": csrf_of(page), "confirm": "1"}) as resp:
        page = await resp.text()
        assert resp.status == 200 and "任务44已提交节水办审核，状态：待审核" in page and 'id="submit"' not in page
    assert (await app.store.plans.task(plan.id, 44)).status is TaskStatus.SUBMITTED
    await told(tg, COORD, "【待审核】区住房和城乡建设局报告任务44已完成")
    async with http.post(url, data={"csrf": csrf_of(page), "confirm": "1"}) as resp:
        assert resp.status == 400 and "正在等待节水办审核" in error_of(await resp.text())


async def test_returned_task_is_resubmitted_from_the_desk(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                          tmp_path: Path) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await bind(app, EDU, "区教育局")
    [question] = await say(app, BUILD, "/done 44")
    await say(app, BUILD, callback=question.choices[0].data)  # 仍然提交审核
    await say(app, COORD, "/return 44 缺少盖章页")
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 44)).status is TaskStatus.RETURNED
    await signed_in(app, http, BUILD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    assert "补交后重新提交" in page and "原因：缺少盖章页" in page and "重新提交审核" in page
    async with http.post(f"{rt.http_url}/desk/tasks/44/submit", data={"csrf": csrf_of(page), "confirm": "1"}) as resp:
        assert resp.status == 200 and "已提交节水办审核" in await resp.text()
    assert (await app.store.plans.task(plan.id, 44)).status is TaskStatus.SUBMITTED
    await signed_in(app, http, EDU)  # a cooperating unit's liaison cannot submit the lead's task
    _, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    assert 'id="submit"' not in page
    async with http.post(f"{rt.http_url}/desk/tasks/44/submit", data={"csrf": csrf_of(page), "confirm": "1"}) as resp:
        assert resp.status == 403 and "只有牵头单位的联络员可以报告完成" in error_of(await resp.text())


async def test_an_extended_deadline_is_shown_and_filtered_everywhere(running: tuple[App, Runtime],
                                                                     http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    await say(app, COORD, "/delay approve 40")
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks")
    row = row_of(page, 40)
    assert "2023.11.15" in row and "已延期" in row and "2023.9<" not in row and "逾期" not in row
    _, november = await get(http, f"{rt.http_url}/desk/tasks?month=2023-11")
    _, september = await get(http, f"{rt.http_url}/desk/tasks?month=2023-09")
    assert "/desk/tasks/40" in november and "/desk/tasks/40" not in september
    _, overdue = await get(http, f"{rt.http_url}/desk/tasks?status=overdue")
    assert "/desk/tasks/40\"" not in overdue
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "2023年11月15日 <span class=\"tag extended\">已延期</span>（原定2023.9）" in page


async def test_a_blank_return_reason_is_an_error_in_web_words(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                               tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    await say(app, EDU, "/done 42")
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/42")
    url = f"{rt.http_url}/desk/tasks/42/review"
    async with http.post(url, data={"action": "return", "reason": " \n ", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        error = error_of(page)
        assert resp.status == 400 and "请写上退回原因" in error and "没有做任何修改" in error
        assert "/return" not in page and "例如" not in error and 'class="flash"' not in page
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 42)).status is TaskStatus.SUBMITTED
    async with http.post(url, data={"action": "return", "reason": "缺少公章。", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
        assert resp.status == 200 and 'class="flash"' in page and not error_of(page)
    assert "原因：缺少公章。已通知" in page and "。。" not in page
    assert "退回，原因：缺少公章" in page and "退回：原因：" not in page
    status, page = await get(http, f"{rt.http_url}/desk/tasks/4200")
    assert status == 404 and "没有第4200项任务" in error_of(page)


async def test_a_refused_desk_upload_leaves_no_file_in_the_evidence_store(
        running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await signed_in(app, http, EDU)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/42")

    def form(item: str) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("csrf", csrf_of(page))
        data.add_field("item", item)
        data.add_field("file", PDF, filename="不该保存.pdf", content_type="application/pdf")
        return data

    for no, item, status, words in ((44, "1", 403, "不是牵头或配合单位"), (42, "9", 400, "没有第9项材料")):
        async with http.post(f"{rt.http_url}/desk/tasks/{no}/upload", data=form(item)) as resp:
            assert resp.status == status and words in error_of(await resp.text())
    assert list(app.store.files.blobs()) == []
    assert list(app.scratch_dir.iterdir()) == []


async def test_a_used_link_opened_while_signed_in_offers_the_way_in(running: tuple[App, Runtime],
                                                                    http: aiohttp.ClientSession) -> None:
    app, _ = running
    await bind(app, EDU, "区教育局")
    link = await desk_link(app, EDU)
    assert (await sign_in(http, link)).status == 303
    for method in (http.get, http.post):
        async with method(link, allow_redirects=False) as again:
            page = await again.text()
            assert again.status == 200 and "您已登录督办台" in page and 'href="/desk/"' in page
            assert "用户2001" in page
    http.cookie_jar.clear()  # not signed in: a used link is still a dead end, said so
    async with http.get(link) as used:
        assert used.status == 403 and "已经用过" in await used.text()


async def test_favicon_is_served(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    _, rt = running
    async with http.get(f"{rt.http_url}/favicon.ico") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert (await resp.read()).startswith(b"\x89PNG")


async def test_overview_counts_open_their_lists_and_the_todo_panel_says_what_is_next(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, clock: Clock, tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    await say(app, EDU, "/done 42")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    clock.advance(dt.timedelta(days=3))
    await signed_in(app, http, COORD)
    status, page = await get(http, f"{rt.http_url}/desk/")
    assert status == 200
    counts = dict(re.findall(r'<a href="([^"]+)" id="count-\w+"[^>]*><strong>(\d+)</strong>', page))
    plan = await app.store.plans.plan()
    tasks = await app.store.plans.tasks(plan.id)
    units = {t.lead for t in tasks} | {u for t in tasks for u in t.cooperating}
    overdue = [t.no for t in tasks if t.status.is_open and t.deadline < clock.today()]
    lights = [t.warning(clock.today(), app.settings.warning_rule) for t in await app.services.reads.tasks(plan.id)]
    assert counts == {"/desk/review": "1", "/desk/tasks?status=overdue": str(len(overdue)), "/desk/extensions": "1",
                      "#unbound": str(len(units) - 1), "/desk/tasks?warning=red": str(lights.count(WarningLevel.RED)),
                      "/desk/tasks?warning=yellow": str(lights.count(WarningLevel.YELLOW))}
    assert '<span class="badge" id="badge-review">1</span>' in page
    assert "2023年10月20日提交，已等3天" in page and "用户2001（区教育局）申请延至2023年11月15日" in page
    assert "<code>/invite 区水务局</code>" in page and "<code>/invite 区教育局</code>" not in page
    _, listing = await get(http, f"{rt.http_url}/desk/tasks?status=overdue")
    assert sorted(listed(listing)) == sorted(overdue)
    _, queue = await get(http, f"{rt.http_url}/desk/review")
    assert listed(queue) == [42] and "2023年10月20日提交，已等3天" in row_of(queue, 42)


async def test_task_list_searches_and_sorts(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    plan = await app.store.plans.plan()
    tasks = await app.store.plans.tasks(plan.id)
    for q in ("42", "任务42"):
        _, page = await get(http, f"{rt.http_url}/desk/tasks?q={quote(q)}")
        assert listed(page) == [42]
    _, page = await get(http, f"{rt.http_url}/desk/tasks?q={quote('合同节水 学校')}")
    assert listed(page) == [t.no for t in tasks if "合同节水" in t.text and "学校" in t.text] and 42 in listed(page)
    _, page = await get(http, f"{rt.http_url}/desk/tasks?q=%E6%97%A0%E6%AD%A4%E8%AF%8D")  # 无此词
    assert listed(page) == [] and "没有符合条件的任务" in page
    _, page = await get(http, f"{rt.http_url}/desk/tasks?sort=deadline")
    assert listed(page) == [t.no for t in sorted(tasks, key=lambda t: (t.deadline, t.no))]
    _, page = await get(http, f"{rt.http_url}/desk/tasks?sort=unit")
    assert listed(page) == [t.no for t in sorted(tasks, key=lambda t: (t.lead, t.no))]
    await app.store.plans.set_status(plan.id, 43, TaskStatus.RETURNED, actor="test", channel="test",
                                     now=app.clock.utcnow(), note="x")
    _, page = await get(http, f"{rt.http_url}/desk/tasks?sort=status")
    assert listed(page)[0] == 43 and '<option value="status" selected>按状态</option>' in page


async def test_a_liaison_sees_which_tasks_their_unit_leads_and_which_it_cooperates_on(
        running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await signed_in(app, http, EDU)
    _, page = await get(http, f"{rt.http_url}/desk/tasks")
    assert '<span class="tag lead">牵头</span>' in row_of(page, 42)
    plan = await app.store.plans.plan()
    cooperating = [t.no for t in await app.store.plans.tasks(plan.id) if "区教育局" in t.cooperating]
    assert cooperating and all('<span class="tag coop">配合</span>' in row_of(page, no) for no in cooperating)
    assert 'id="badge-review"' not in page and "count-review" not in page


async def test_bundle_index_names_uploaders_as_the_desk_does(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                              tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    await say(app, COORD, "44-1", files=(("住建通知.pdf", PDF + b"44"),), tmp=tmp_path)
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/42")
    assert "用户2001（区教育局）" in page
    async with http.get(f"{rt.http_url}/desk/export/bundle") as resp:
        with zipfile.ZipFile(io.BytesIO(await resp.read())) as zf:
            ws = load_workbook(io.BytesIO(zf.read("index.xlsx")))["材料清单"]
    head = [c.value for c in ws[1]]
    rows = [dict(zip(head, [c.value for c in row], strict=True)) for row in ws.iter_rows(min_row=2)]
    by_file = {r["原文件名"]: r["上传人"] for r in rows if r["原文件名"]}
    assert by_file == {"签约合同.pdf": "用户2001（区教育局）", "住建通知.pdf": "用户1000（节水办）"}


# --- in headless Chromium, at an office PC's 1366 px and a phone's 390 px ------------------------------------------

PHONE, DESKTOP = (390, 844), (1366, 900)


async def no_sideways_scroll(page: Page, tmp_path: Path, name: str) -> None:
    """Fail when anything on the page is wider than the phone: the full-page screenshot is as wide as the viewport."""
    shot = await page.screenshot(full_page=True, path=str(tmp_path / f"{name}.png"))
    width = int.from_bytes(shot[16:20], "big")
    assert width == PHONE[0], f"{name}: the page is {width} px wide on a {PHONE[0]} px phone"
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]


@browser
async def test_on_a_phone_tables_are_cards_the_chart_reads_and_marks_need_no_emoji_font(
        running: tuple[App, Runtime], tmp_path: Path, backend: str) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    await say(app, EDU, "/done 42")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    async with chromium(backend) as browser:
        page = await enter(browser, await desk_link(app, COORD), *PHONE)
        await no_sideways_scroll(page, tmp_path, "overview")
        liaisons = page.locator('td[data-label="联络员"]').first
        assert await liaisons.is_visible() and (await page.locator("table.units thead").is_hidden())
        box = await liaisons.bounding_box()  # on screen, not in a part of the table scrolled away
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
        chart = page.locator("img.chart")
        await chart.scroll_into_view_if_needed()
        await page.wait_for_function("document.querySelector('img.chart').complete")
        natural, shown = await chart.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
        assert "size=phone" in await chart.evaluate("i => i.currentSrc")
        assert SMALL_PT * DPI / 72 * shown / natural >= 11, (natural, shown)
        for path in ("/desk/tasks", "/desk/review", "/desk/extensions", "/desk/tasks/42", "/desk/tasks/40"):
            await page.goto(f"{rt.http_url}{path}")
            await no_sideways_scroll(page, tmp_path, path.strip("/").replace("/", "-"))
        await page.goto(f"{rt.http_url}/desk/tasks/40")
        todo = await page.locator("li.todo .mark").first.evaluate("m => getComputedStyle(m).backgroundColor")
        await page.goto(f"{rt.http_url}/desk/tasks/42")
        done = await page.locator("li.done .mark").first.evaluate("m => getComputedStyle(m).backgroundColor")
        assert todo != done and "✅" not in await page.content()


@browser
async def test_extension_and_submission_finish_in_a_browser(running: tuple[App, Runtime], tg: FakeTelegram,
                                                            tmp_path: Path, backend: str) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await say(app, BUILD, "/delay 44 2023-12-20 小区改造延后")
    plan = await app.store.plans.plan()
    async with chromium(backend) as browser:
        liaison = await enter(browser, await desk_link(app, BUILD), *PHONE)
        await liaison.goto(f"{rt.http_url}/desk/tasks/44")
        async with liaison.expect_navigation():
            await liaison.click("#submit")
        assert "还有4项材料没有收到" in await liaison.inner_text("#confirm")
        async with liaison.expect_navigation():
            await liaison.click("#submit-anyway")
        assert "已提交节水办审核" in await liaison.inner_text(".flash")

        desk = await enter(browser, await desk_link(app, COORD), *DESKTOP)
        async with desk.expect_navigation():
            await desk.click("#count-extensions")
        async with desk.expect_navigation():
            await desk.click("a[href='/desk/tasks/44#extension']")
        assert await desk.locator("#note").evaluate("n => n.required")  # the browser asks for the reason first
        await desk.fill("#note", "请按原计划完成")
        async with desk.expect_navigation():
            await desk.click("#reject-extension")
        assert "已不批准任务44的延期申请" in await desk.inner_text(".flash")
    assert (await app.store.plans.task(plan.id, 44)).status is TaskStatus.SUBMITTED
    await told(tg, BUILD, "任务44的延期申请未获批准，原因：请按原计划完成")


async def test_with_two_plans_submitting_and_deciding_act_on_the_plan_the_page_shows(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, seed: PlanSpec, tmp_path: Path) -> None:
    app, rt = running
    await import_next_year(app, seed, tmp_path)
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "/delay 2023-40 2023-11-15 等待市里验收")
    await signed_in(app, http, EDU)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/41?plan=pingshan-2023")
    assert 'action="/desk/tasks/41/submit?plan=pingshan-2023"' in page
    await get(http, f"{rt.http_url}/desk/tasks?plan={NEXT_YEAR}")  # another tab switches to 2024
    async with http.post(f"{rt.http_url}/desk/tasks/41/submit?plan=pingshan-2023",
                         data={"csrf": csrf_of(page), "confirm": "1"}) as resp:
        assert resp.status == 200 and "任务41已提交节水办审核" in await resp.text()
    old, new = await app.store.plans.plan("pingshan-2023"), await app.store.plans.plan(NEXT_YEAR)
    assert (await app.store.plans.task(old.id, 41)).status is TaskStatus.SUBMITTED
    assert (await app.store.plans.task(new.id, 41)).status is TaskStatus.NOT_STARTED

    await signed_in(app, http, COORD)
    _, overview = await get(http, f"{rt.http_url}/desk/?plan=pingshan-2023")
    assert 'href="/desk/extensions?plan=pingshan-2023" id="count-extensions"' in overview
    _, listing = await get(http, f"{rt.http_url}/desk/extensions?plan=pingshan-2023")
    assert 'id="ext-40"' in listing and 'action="/desk/tasks/40/extension?plan=pingshan-2023"' in listing
    _, empty = await get(http, f"{rt.http_url}/desk/extensions?plan={NEXT_YEAR}")
    assert "延期待批（0项）" in empty
