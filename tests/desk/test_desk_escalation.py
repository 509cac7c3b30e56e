"""The rhythm and the escalation ladder on the desk, over real HTTP: each task's traffic light (colour and word) in the
overview, the task list and the task page; the 督办通知单 of a task listed, downloaded and issued; last year's files
of the same items; the unit's 分管领导 reading and writing a 批示."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
import docx
from fakes.telegram_api import FakeTelegram
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
    signed_in,
    tg,
)
from test_desk_workflows import PHONE, error_of, listed, no_sideways_scroll, row_of, told
from test_plans import NEXT_YEAR, import_next_year

from bot.app import App
from bot.core.plan import PlanSpec
from bot.core.views import TaskStatus, WarningLevel
from bot.runner import Runtime

__all__ = ["http", "running", "tg"]  # fixtures of the desk's tests, used here
LEADER = "3001"  # the 分管领导 of 区教育局


def unit_row(page: str, unit: str) -> str:
    """Return the overview's row of a lead unit."""
    found = re.search(rf'<tr[^>]*>\s*<td data-label="牵头单位" class="head">(?:<a[^>]*>)?{unit}.*?</tr>', page, re.S)
    assert found is not None, f"no row of {unit}"
    return found.group(0)


async def test_each_open_task_shows_its_light_as_colour_and_word(running: tuple[App, Runtime],
                                                                 http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks")
    assert '<span class="light l-red">红</span>' in row_of(page, 40)  # due 2023.9: overdue
    assert '<span class="light l-yellow">黄</span>' in row_of(page, 41)  # due within 14 days, evidence missing
    assert '<span class="light l-green">绿</span>' in row_of(page, 42)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert '预警</dt><dd><span class="light l-red">红</span>（已逾期）' in page

    # filtered and sorted by the light: red first, then yellow, green, then those with none
    _, page = await get(http, f"{rt.http_url}/desk/tasks?warning=red")
    reds = listed(page)
    assert 40 in reds and 41 not in reds and 42 not in reds
    _, page = await get(http, f"{rt.http_url}/desk/tasks?sort=warning")
    order = listed(page)
    assert order.index(40) < order.index(41) < order.index(42)

    # a task done shows none
    [ask] = await say(app, EDU, "/done 40")
    await say(app, EDU, callback=ask.choices[0].data)
    _, page = await get(http, f"{rt.http_url}/desk/tasks")
    assert 'class="light' not in row_of(page, 40)
    _, page = await get(http, f"{rt.http_url}/desk/tasks?sort=warning")
    order = listed(page)
    assert order.index(42) < order.index(40)


async def test_overview_counts_red_and_yellow_per_unit_and_in_total(running: tuple[App, Runtime],
                                                                    http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/")
    tasks = await app.services.reads.tasks((await app.store.plans.plan()).id)
    today, rule = app.clock.today(), app.settings.warning_rule
    edu = [t.warning(today, rule) for t in tasks if t.lead == "区教育局"]
    assert edu.count(WarningLevel.RED) and edu.count(WarningLevel.YELLOW)  # task 40 red, 41 yellow
    row = unit_row(page, "区教育局")
    assert re.search(rf'data-label="红">(<a[^>]*>)?{edu.count(WarningLevel.RED)}<', row), row
    assert re.search(rf'data-label="黄">(<a[^>]*>)?{edu.count(WarningLevel.YELLOW)}<', row), row
    every = [t.warning(today, rule) for t in tasks]
    assert f'<strong>{every.count(WarningLevel.RED)}</strong>红' in page
    assert f'<strong>{every.count(WarningLevel.YELLOW)}</strong>黄' in page


async def test_coordinator_issues_a_notice_on_the_task_page_and_the_unit_downloads_it(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, tg: FakeTelegram) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await bind(app, BUILD, "区住房和城乡建设局")
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "还没有督办通知单" in page and 'id="issue-notice"' in page
    async with http.post(f"{rt.http_url}/desk/tasks/40/notice",
                         data={"unit": "区教育局", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
    assert resp.status == 200 and "已向区教育局的1位联络员发出督办通知单〔2023〕第1号（任务40），计为一次催办" in page
    assert "任务40此前未催办过" in page
    await told(tg, EDU, "【督办通知单】〔2023〕第1号")
    found = re.search(r'<a href="(/desk/notices/\d+)"[^>]*>督办通知单〔2023〕第1号</a>', page)
    assert found is not None, page
    assert "用户1000（节水办）" in page[found.end():found.end() + 300]
    async with http.get(f"{rt.http_url}{found[1]}") as resp:
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        body = await resp.read()
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(body)).paragraphs)
    assert "督办通知单" in text and "〔2023〕第1号" in text and "区教育局" in text

    # a second one is numbered on; a unit with no liaison is refused, nothing issued
    async with http.post(f"{rt.http_url}/desk/tasks/40/notice",
                         data={"unit": "区教育局", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
    assert "〔2023〕第2号" in page and "任务40此前已催办1次" in page
    _, page = await get(http, f"{rt.http_url}/desk/tasks/1")
    async with http.post(f"{rt.http_url}/desk/tasks/1/notice",
                         data={"unit": "区水务局", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
    assert resp.status == 400 and "区水务局还没有绑定联络员" in error_of(page)
    assert len(await app.store.notices.notices((await app.store.plans.plan()).id)) == 2

    # the unit's liaison sees and downloads it but cannot issue; another unit's liaison gets nothing
    http.cookie_jar.clear()
    await signed_in(app, http, EDU)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "督办通知单〔2023〕第1号" in page and 'id="issue-notice"' not in page
    async with http.get(f"{rt.http_url}{found[1]}") as resp:
        assert resp.status == 200
    async with http.post(f"{rt.http_url}/desk/tasks/40/notice",
                         data={"unit": "区教育局", "csrf": csrf_of(page)}) as resp:
        assert resp.status == 403
    http.cookie_jar.clear()
    await signed_in(app, http, BUILD)
    async with http.get(f"{rt.http_url}{found[1]}") as resp:
        assert resp.status == 404 and "〔2023〕" not in await resp.text()


async def test_last_years_files_of_the_same_items_are_on_the_task_page_for_reference(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, seed: PlanSpec, tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await bind(app, BUILD, "区住房和城乡建设局")
    await say(app, EDU, "40-1", files=(("2023年名单.pdf", PDF),), tmp=tmp_path)
    await import_next_year(app, seed, tmp_path)
    await signed_in(app, http, EDU)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40?plan={NEXT_YEAR}")
    assert "佐证材料（已收 0/" in page  # last year's file is not this year's evidence
    section = page[page.index('id="last-year"'):]
    assert "去年同项材料" in section and "只供参考，不计入今年的材料" in section
    assert "2023年节水典范城市建设的任务40" in section
    found = re.search(r'<a href="(/desk/tasks/40/lastyear/\d+\?plan=pingshan-2024)"[^>]*>2023年名单.pdf</a>', section)
    assert found is not None, section
    async with http.get(f"{rt.http_url}{found[1]}") as resp:
        assert resp.status == 200 and await resp.read() == PDF
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40?plan=pingshan-2023")
    assert 'id="last-year"' not in page  # the first year continues nothing

    http.cookie_jar.clear()
    await signed_in(app, http, BUILD)  # another unit's liaison: nothing, the same as no such file
    async with http.get(f"{rt.http_url}{found[1]}") as resp:
        assert resp.status == 404 and "2023年名单" not in await resp.text()


async def bind_leader(app: App, user: str, unit: str) -> None:
    """Make `user` the 分管领导 of `unit`: a leader's invitation code, then /bind in chat."""
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7, leader=True)
    [reply] = await say(app, user, f"/bind {code}")
    assert "分管领导" in reply.text


async def test_a_leader_reads_the_units_tasks_and_writes_an_instruction_on_the_task_page(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, tg: FakeTelegram, tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "40-1", files=(("名单.pdf", PDF),), tmp=tmp_path)
    await bind_leader(app, LEADER, "区教育局")
    [reply] = await say(app, LEADER, "/desk")
    assert reply.link is not None and "只读" in reply.text
    [detail] = await say(app, LEADER, "/task 40")  # in chat too: no upload link, unlike the unit's liaison
    assert "节水型学校" in detail.text and detail.link is None and "/done 40" not in detail.text
    assert (await say(app, EDU, "/task 40"))[0].link is not None
    await signed_in(app, http, LEADER)
    status, page = await get(http, f"{rt.http_url}/desk/")
    assert status == 302  # no overview: their unit's task list
    _, page = await get(http, f"{rt.http_url}/desk/tasks")
    assert "区教育局分管领导" in page and 40 in listed(page) and 44 not in listed(page)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "名单.pdf" in page and 'id="instruct"' in page
    for form in ('id="upload"', 'id="submit"', 'id="return"', 'id="issue-notice"', "退回此文件"):
        assert form not in page, form

    async with http.post(f"{rt.http_url}/desk/tasks/40/instruct",
                         data={"text": "请抓紧落实，月底前完成。", "csrf": csrf_of(page)}) as resp:
        page = await resp.text()
    assert resp.status == 200 and "已对任务40写批示，已通知区教育局联络员和节水办" in page
    assert "请抓紧落实，月底前完成。" in page[page.index('id="instructions"'):]
    await told(tg, EDU, "【分管领导批示】区教育局分管领导用户3001对任务40")
    async with http.post(f"{rt.http_url}/desk/tasks/40/instruct", data={"text": " ", "csrf": csrf_of(page)}) as resp:
        assert resp.status == 400 and "请写上批示内容" in error_of(await resp.text())

    # every write but the 批示 is refused, naming the leader's role; another unit's task takes no 批示
    async with http.post(f"{rt.http_url}/desk/tasks/40/submit", data={"csrf": csrf_of(page)}) as resp:
        assert resp.status == 403 and "您是区教育局的分管领导" in error_of(await resp.text())
    async with http.post(f"{rt.http_url}/desk/tasks/44/instruct", data={"text": "好", "csrf": csrf_of(page)}) as resp:
        assert resp.status == 403 and "不能对它写批示" in error_of(await resp.text())
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 40)).status is not TaskStatus.SUBMITTED

    # the liaison and the coordinator read it on the page, without the form
    for user in (EDU, COORD):
        http.cookie_jar.clear()
        await signed_in(app, http, user)
        _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
        assert "请抓紧落实，月底前完成。" in page[page.index('id="instructions"'):] and 'id="instruct"' not in page


@browser
async def test_on_a_phone_the_light_is_drawn_beside_its_word_and_a_notice_is_issued(
        running: tuple[App, Runtime], tmp_path: Path, backend: str) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    async with chromium(backend) as browser:
        page = await enter(browser, await desk_link(app, COORD), *PHONE)
        await page.goto(f"{rt.http_url}/desk/tasks?sort=warning")
        await no_sideways_scroll(page, tmp_path, "tasks-by-light")
        dots = [await page.locator(f".l-{c}").first.evaluate("m => getComputedStyle(m, '::before').backgroundColor")
                for c in ("red", "yellow", "green")]
        assert len(set(dots)) == 3 and "🔴" not in await page.content()
        assert await page.locator('td[data-label="预警"]').first.inner_text() == "红"
        await page.goto(f"{rt.http_url}/desk/tasks/40")
        async with page.expect_navigation():
            await page.click("#issue-notice")
        assert "督办通知单〔2023〕第1号" in await page.inner_text(".flash")
        await no_sideways_scroll(page, tmp_path, "task-40-notice")
