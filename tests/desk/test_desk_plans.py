"""Next year's plan on the desk: a coordinator uploads the table, reads the preview (nothing written yet), confirms;
then switches between the plans, and a page left open acts on the plan it shows; archiving from the desk."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from test_desk import COORD, EDU, bind, csrf_of, http, running, say, signed_in, tg
from test_plans import NEXT_YEAR, import_next_year, next_year

from bench.fuzz_forms import Part, multipart
from bot.app import App
from bot.core.plan import PlanSpec
from bot.core.views import TaskStatus
from bot.planfiles.yamlfile import plan_to_yaml
from bot.runner import Runtime

__all__ = ["http", "running", "tg"]  # fixtures of the desk's tests, used here


async def upload_plan(http: aiohttp.ClientSession, base: str, name: str, body: bytes) -> tuple[int, str]:
    """Choose a plan file on the 计划 page and press 预览."""
    async with http.get(f"{base}/desk/plans") as page:
        assert page.status == 200
        csrf = csrf_of(await page.text())
    data, headers = multipart(Part(b"csrf", csrf.encode()), Part(b"file", body, filename=name.encode()))
    async with http.post(f"{base}/desk/plans/preview", data=data, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_next_years_table_is_previewed_then_imported_and_both_plans_are_served(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, seed: PlanSpec) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    status, preview = await upload_plan(http, rt.http_url, "2024年分工表.yaml", plan_to_yaml(next_year(seed)).encode())
    assert status == 200, preview
    assert "共63项任务" in preview and "与库中的计划 pingshan-2023" in preview
    assert "修改：第40项的工作任务" in preview
    assert [p.key for p in await app.store.plans.list_plans()] == ["pingshan-2023"]  # a preview writes nothing

    token = re.search(r'name="token" value="([^"]+)"', preview)
    assert token is not None
    form = {"csrf": csrf_of(preview), "token": token[1], "key": "", "action": "import"}
    async with http.post(f"{rt.http_url}/desk/plans/import", data=form) as resp:
        page = await resp.text()
    assert resp.status == 200 and "已新建计划 pingshan-2024：新增63项" in page
    assert {p.key for p in await app.store.plans.list_plans()} == {"pingshan-2023", NEXT_YEAR}
    async with http.post(f"{rt.http_url}/desk/plans/import", data=form) as resp:  # the same confirmation again
        assert resp.status == 410 and "已经确认、取消或过期" in await resp.text()
    assert not list((app.settings.state_dir / "imports").iterdir())  # the uploaded table is not kept

    # the switcher names both plans; the overview of each shows its own title
    async with http.get(f"{rt.http_url}/desk/?plan={NEXT_YEAR}") as resp:
        page = await resp.text()
    assert "2024年坪山区节水典范城市建设" in page and "切换计划" in page and "2023年节水典范城市建设" in page
    async with http.get(f"{rt.http_url}/desk/tasks/40") as resp:  # no plan named: the one last shown
        assert "2024年重点推进" in await resp.text()
    async with http.get(f"{rt.http_url}/desk/tasks/40?plan=pingshan-2023") as resp:
        assert "2024年重点推进" not in await resp.text()


async def test_a_page_left_open_acts_on_the_plan_it_shows(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                          seed: PlanSpec, tmp_path: Path) -> None:
    app, rt = running
    await import_next_year(app, seed, tmp_path)
    await bind(app, EDU, "区教育局")
    for year in ("2023", "2024"):
        [ask] = await say(app, EDU, f"/done {year}-42")
        [submitted] = await say(app, EDU, callback=ask.choices[0].data)  # 仍然提交审核
        assert "已提交节水办审核" in submitted.text
    await signed_in(app, http, COORD)
    async with http.get(f"{rt.http_url}/desk/tasks/42?plan=pingshan-2023") as resp:
        page_2023 = await resp.text()
    assert 'action="/desk/tasks/42/review?plan=pingshan-2023"' in page_2023
    async with http.get(f"{rt.http_url}/desk/?plan={NEXT_YEAR}") as resp:  # another tab switches to 2024
        assert resp.status == 200
    async with http.post(f"{rt.http_url}/desk/tasks/42/review?plan=pingshan-2023",
                         data={"csrf": csrf_of(page_2023), "action": "approve"}) as resp:
        assert "任务42已审核通过" in await resp.text()
    old, new = await app.store.plans.plan("pingshan-2023"), await app.store.plans.plan(NEXT_YEAR)
    assert (await app.store.plans.task(old.id, 42)).status is TaskStatus.APPROVED
    assert (await app.store.plans.task(new.id, 42)).status is TaskStatus.SUBMITTED


async def test_a_file_that_is_not_a_plan_is_refused_in_words_and_archiving_is_one_button(
        running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    status, page = await upload_plan(http, rt.http_url, "照片.jpg", b"\xff\xd8\xff not a table")
    assert status == 400 and "只能导入这些格式的分工表" in page
    status, page = await upload_plan(http, rt.http_url, "分工表.xlsx", b"PK\x03\x04 broken")
    assert status == 400 and "没有导入" in page
    assert not list((app.settings.state_dir / "imports").iterdir())

    async with http.get(f"{rt.http_url}/desk/plans") as resp:
        csrf = csrf_of(await resp.text())
    async with http.post(f"{rt.http_url}/desk/plans/state",
                         data={"csrf": csrf, "key": "pingshan-2023", "active": "0"}) as resp:
        assert "已归档计划 pingshan-2023" in await resp.text()
    assert not (await app.store.plans.plan("pingshan-2023")).active
    audit = await app.store.chats.audit(limit=5)
    assert any(a["action"] == "plan.archive" and a["channel"] == "desk" for a in audit)


async def test_a_liaison_cannot_open_the_plans_page(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await signed_in(app, http, EDU)
    async with http.get(f"{rt.http_url}/desk/plans") as resp:
        assert resp.status == 403
