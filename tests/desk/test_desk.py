"""The desk over real HTTP through `duban run`'s startup path: sign-in links, sessions, CSRF, who sees which file,
review that tells the liaison in chat (fake Bot API), downloads. Plain HTTP first (runs anywhere), then the same
pages in headless Chromium where it is installed."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from conftest import FAKED_WALLCLOCK, make_settings
from fakes.telegram_api import FakeTelegram
from openpyxl import load_workbook
from playwright.async_api import Browser, Page
from sqlalchemy import event

from bench.fuzz_forms import Part, multipart
from bot.app import App
from bot.core.clock import Clock
from bot.core.messages import ChatKind, ChatRef, Message, Reply
from bot.core.views import FileView, TaskStatus
from bot.desk.auth import DeskAuth
from bot.handlers import export as export_handler
from bot.runner import Runtime

COORD = "1000"  # telegram:1000 is a configured coordinator
EDU, BUILD = "2001", "2002"  # liaisons of 区教育局 (task 42) and 区住房和城乡建设局 (task 44)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
browser = pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None or FAKED_WALLCLOCK,
                             reason="no chromium (or under a faked wall clock)")
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API server."""
    async with FakeTelegram(bot_username="duban_bot") as fake:
        yield fake


@pytest.fixture
async def running(tmp_path: Path, db_url: str, clock: Clock, tg: FakeTelegram) -> AsyncIterator[tuple[App, Runtime]]:
    """The app with its HTTP server (desk included) and the Telegram channel, uploads capped at 1 MB."""
    settings = make_settings(tmp_path, db_url, telegram_token=tg.token, telegram_api_url=tg.root, http_port=0,
                             scheduler=False, upload_max_mb=1)
    app = await App.create(settings, clock)
    async with Runtime(app) as rt:
        yield app, rt
    await app.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client keeping cookies (unsafe=True: the test server is an IP address, refused by default)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def say(app: App, user: str, text: str = "", *, group: bool = False, callback: str | None = None,
              files: tuple[tuple[str, bytes], ...] = (), tmp: Path | None = None) -> list[Reply]:
    """Talk to the core as a Telegram user, the way the channel does."""
    from bot.core.messages import Attachment

    chat = ChatRef("telegram", "-100777" if group else user, ChatKind.GROUP if group else ChatKind.PRIVATE)
    atts = []
    for name, data in files:
        assert tmp is not None
        path = tmp / f"in-{len(data)}-{abs(hash(name))}"
        path.write_bytes(data)
        atts.append(Attachment(name, path, "application/pdf", len(data)))
    return await app.conversation.handle(Message("telegram", user, chat, text=text, user_name=f"用户{user}",
                                                  attachments=tuple(atts), callback=callback))


async def bind(app: App, user: str, unit: str) -> None:
    code = await app.store.people.create_invite(unit, by="test", now=app.clock.utcnow(), days=7)
    [reply] = await say(app, user, f"/bind {code}")
    assert "绑定成功" in reply.text


async def two_units_and_a_file_of_44(app: App, name: str, tmp: Path) -> FileView:
    """Bind a liaison of 区住房和城乡建设局 (lead of task 44) and one of 区教育局; the former files 44-1."""
    await bind(app, BUILD, "区住房和城乡建设局")
    await bind(app, EDU, "区教育局")
    await say(app, BUILD, "44-1", files=((name, PDF),), tmp=tmp)
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 44)
    return f


async def desk_link(app: App, user: str) -> str:
    """Ask for the desk in chat, as a user does, and return the link."""
    [reply] = await say(app, user, "/desk")
    assert reply.link is not None, reply.text
    return reply.link[1]


async def sign_in(http: aiohttp.ClientSession, link: str) -> aiohttp.ClientResponse:
    async with http.get(link) as page:
        assert page.status == 200 and "进入督办台" in await page.text()
    async with http.post(link, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def signed_in(app: App, http: aiohttp.ClientSession, user: str) -> None:
    resp = await sign_in(http, await desk_link(app, user))
    assert resp.status == 303


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def test_desk_link_signs_in_once_with_a_strict_cookie(running: tuple[App, Runtime],
                                                             http: aiohttp.ClientSession) -> None:
    app, rt = running
    link = await desk_link(app, COORD)
    assert link.startswith(f"{rt.http_url}/desk/login/")
    for _ in range(2):  # opening it (a chat app's link preview does too) does not spend it
        async with http.get(link) as page:
            assert page.status == 200 and "用户1000" in await page.text()
    resp = await sign_in(http, link)
    assert resp.status == 303 and resp.headers["Location"] == "/desk/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/desk" in cookie
    assert "Secure" not in cookie  # the public URL is http here
    status, page = await get(http, f"{rt.http_url}/desk/")
    assert status == 200
    plan = await app.store.plans.plan()
    leads = {t.lead for t in await app.store.plans.tasks(plan.id)}
    assert all(unit in page for unit in leads) and '<img class="chart"' in page

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        async with other.get(link) as used:
            assert used.status == 403 and "已经用过" in await used.text()
        async with other.post(link, allow_redirects=False) as used:
            assert used.status == 403 and "Set-Cookie" not in used.headers
        assert (await get(other, f"{rt.http_url}/desk/"))[0] == 401


async def test_expired_or_forged_link_gives_no_session(running: tuple[App, Runtime], clock: Clock,
                                                       http: aiohttp.ClientSession) -> None:
    app, rt = running
    link = await desk_link(app, COORD)
    token = link.rsplit("/", 1)[1]
    payload, sig = token.split(".")
    for bad in (f"{payload}.{sig[:-2]}AA", f"{payload[:-3]}abc.{sig}", "garbage"):
        async with http.post(f"{rt.http_url}/desk/login/{bad}", allow_redirects=False) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers
            assert "无效或已过期" in await resp.text()
    for elsewhere in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
        async with http.post(link, allow_redirects=False, headers=elsewhere) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers  # another site cannot post the link
    async with http.post(link, allow_redirects=False, headers={"Origin": rt.http_url}) as resp:
        assert resp.status == 303 and "Set-Cookie" in resp.headers  # and did not spend it
    clock.advance(dt.timedelta(minutes=11))
    http.cookie_jar.clear()  # signed in, the browser would be offered the way in instead
    async with http.post(link, allow_redirects=False) as resp:
        assert resp.status == 403 and "Set-Cookie" not in resp.headers and "无效或已过期" in await resp.text()
    assert (await get(http, f"{rt.http_url}/desk/"))[0] == 401


async def test_sign_in_posted_from_an_opaque_origin_is_refused(running: tuple[App, Runtime],
                                                              http: aiohttp.ClientSession) -> None:
    """A sandboxed frame or a data: page on another site posts with `Origin: null` and, in older browsers, no
    Sec-Fetch-Site: it would sign the victim's browser in as the attacker (login CSRF)."""
    app, _ = running
    link = await desk_link(app, COORD)
    for opaque in ({"Origin": "null"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
        async with http.post(link, allow_redirects=False, headers=opaque) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers and "请直接点击" in await resp.text()
    # a browser that vouches for the request being same-origin is believed (our page, a no-referrer policy)
    async with http.post(link, allow_redirects=False, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}) \
            as resp:
        assert resp.status == 303 and "Set-Cookie" in resp.headers


async def test_anonymous_visitor_sees_nothing(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                              tmp_path: Path) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await say(app, BUILD, "44-1", files=(("创建通知.pdf", PDF),), tmp=tmp_path)
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 44)
    for path in ("/desk/", "/desk/tasks", "/desk/tasks/44", f"/desk/files/{f.id}", "/desk/review",
                 "/desk/downloads", "/desk/export/ledger", "/desk/export/bundle", "/desk/chart.png"):
        status, page = await get(http, f"{rt.http_url}{path}")
        assert status == 401 and "请先登录" in page and "创建通知" not in page and "区住房和城乡建设局" not in page
    async with http.post(f"{rt.http_url}/desk/tasks/44/review", data={"action": "return", "reason": "x"}) as resp:
        assert resp.status == 401
    # a cookie that is not ours is no session either
    http.cookie_jar.update_cookies({"duban_desk": "eyJ4IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA"})
    assert (await get(http, f"{rt.http_url}/desk/tasks/44"))[0] == 401


async def test_return_without_csrf_is_refused_and_with_it_tells_the_liaison(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, tg: FakeTelegram, tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    [done] = await say(app, EDU, "/done 42")
    assert "待审核" in done.text
    await signed_in(app, http, COORD)
    status, page = await get(http, f"{rt.http_url}/desk/review")
    assert status == 200 and "/desk/tasks/42" in page
    status, page = await get(http, f"{rt.http_url}/desk/tasks/42")
    assert status == 200 and 'id="return"' in page and "签约合同.pdf" in page
    url = f"{rt.http_url}/desk/tasks/42/review"
    for form in ({"action": "return", "reason": "缺少盖章页"}, {"action": "return", "reason": "缺少盖章页", "csrf": "x"}):
        async with http.post(url, data=form, allow_redirects=False) as resp:
            assert resp.status == 403 and "没有做任何修改" in await resp.text()
    plan = await app.store.plans.plan()
    assert (await app.store.plans.task(plan.id, 42)).status is TaskStatus.SUBMITTED

    form = {"action": "return", "reason": "缺少盖章页", "csrf": csrf_of(page)}
    async with http.post(url, data=form) as resp:  # follows the redirect back to the task page
        assert resp.status == 200 and "任务42已退回区教育局，原因：缺少盖章页" in await resp.text()
    task = await app.store.plans.task(plan.id, 42)
    assert task.status is TaskStatus.RETURNED and task.status_note == "缺少盖章页"
    sent = await tg.wait_for(lambda sent: any(m["chat_id"] == int(EDU) and "退回" in str(m["text"]) for m in sent))
    [notice] = [m for m in sent if m["chat_id"] == int(EDU) and "退回" in str(m["text"])]
    assert "任务42被节水办退回，原因：缺少盖章页" in str(notice["text"])
    [entry, *_] = await app.store.chats.audit(task_no=42, plan_id=plan.id)
    assert entry["action"] == "task.returned" and entry["actor"] == f"telegram:{COORD}"
    status, page = await get(http, f"{rt.http_url}/desk/tasks/42")
    assert "缺少盖章页" in page and "任务42已退回区教育局" not in page  # the flash is shown once


async def test_liaison_sees_only_their_units_files(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                   tmp_path: Path) -> None:
    app, rt = running
    f = await two_units_and_a_file_of_44(app, "住建局创建通知.pdf", tmp_path)
    await signed_in(app, http, EDU)
    status, page = await get(http, f"{rt.http_url}/desk/files/{f.id}")
    assert status == 404 and "%PDF" not in page
    status, page = await get(http, f"{rt.http_url}/desk/files/{f.id + 1000}")
    assert status == 404  # the same answer as for a file that exists
    status, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    assert status == 200 and "住建局创建通知" not in page and "不能查看它的文件" in page
    status, page = await get(http, f"{rt.http_url}/desk/tasks")
    assert "/desk/tasks/42" in page and "/desk/tasks/44" not in page
    for path in ("/desk/review", "/desk/export/ledger", "/desk/chart.png"):
        assert (await get(http, f"{rt.http_url}{path}"))[0] == 403
    async with http.post(f"{rt.http_url}/desk/tasks/44/review",
                         data={"action": "approve", "csrf": csrf_of(page)}) as resp:
        assert resp.status == 403
    # a bundle is the liaison's own unit's, whatever the URL asks for
    async with http.get(f"{rt.http_url}/desk/export/bundle?unit={quote('区住房和城乡建设局')}") as resp:
        assert resp.status == 200
        names = zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()
        assert "filename*=UTF-8''" + quote("佐证材料-区教育局-20231020.zip") in resp.headers["Content-Disposition"]
    assert any(n.startswith("40-") for n in names) and not any(n.startswith("44-") for n in names)


async def test_huge_numbers_and_broken_file_names_get_a_clear_page(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await signed_in(app, http, BUILD)
    huge = "9" * 20
    for path, says in ((f"/desk/files/{huge}", "没有这个文件"), (f"/desk/files/{2**31}", "没有这个文件"),
                       (f"/desk/tasks/{huge}", "没有这项任务")):
        status, page = await get(http, f"{rt.http_url}{path}")
        assert status == 404 and says in page, path
    status, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    for name in (b"a\x00b.pdf", "名单\n第1批.pdf".encode()):
        body, headers = multipart(Part(b"csrf", csrf_of(page).encode()), Part(b"item", b"2"),
                                  Part(b"file", PDF, name, b"application/pdf"))
        async with http.post(f"{rt.http_url}/desk/tasks/44/upload", data=body, headers=headers,
                             allow_redirects=False) as resp:
            assert resp.status == 400 and "文件名中不能有换行或空字符" in await resp.text()
    for posted in (f"/desk/tasks/{huge}/upload", f"/desk/tasks/{huge}/review"):
        async with http.post(f"{rt.http_url}{posted}", data={"csrf": csrf_of(page), "action": "approve"}) as resp:
            assert resp.status < 500, posted
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 44) == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_file_download_keeps_its_name_and_bytes(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                      tmp_path: Path) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    name = '创建"通知";\r\n第1批.pdf'
    await say(app, BUILD, "44-1", files=((name, PDF),), tmp=tmp_path)
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 44)
    await signed_in(app, http, BUILD)  # the lead unit's own liaison
    async with http.get(f"{rt.http_url}/desk/files/{f.id}") as resp:
        assert resp.status == 200 and await resp.read() == PDF
        disposition = resp.headers["Content-Disposition"]
        assert resp.headers["Content-Type"] == "application/octet-stream"
    fallback = re.search(r'filename="([^"]*)"', disposition)
    assert disposition.startswith("attachment;") and fallback is not None and fallback.group(1).isascii()
    assert "\r" not in disposition and "\n" not in disposition
    assert "filename*=UTF-8''" + quote(f.file_name.replace('"', "＂"), safe="") in disposition
    async with http.get(f"{rt.http_url}/desk/files/{f.id}?inline=1") as resp:
        assert resp.headers["Content-Disposition"].startswith("inline;")
        assert resp.headers["Content-Type"] == "application/pdf"


async def test_inline_is_decided_by_the_bytes_and_every_file_is_sandboxed(
        running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await signed_in(app, http, BUILD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32)
    html = b"<html><script>document.cookie</script></html>"
    sent = [("照片.png", png, "text/html"), ("动图.webp", webp, "application/octet-stream"),
            ("通知.pdf", html, "application/pdf")]  # the last one lies about what it is
    for item, (name, data, declared) in enumerate(sent, start=1):
        body, headers = multipart(Part(b"csrf", csrf_of(page).encode()), Part(b"item", str(item).encode()),
                                  Part(b"file", data, name.encode(), declared.encode()))
        async with http.post(f"{rt.http_url}/desk/tasks/44/upload", data=body, headers=headers) as resp:
            assert resp.status == 200 and f"已收到「{name}」" in await resp.text()
    plan = await app.store.plans.plan()
    ids = {f.file_name: f.id for f in await app.store.evidence.files(plan.id, 44)}
    for name, data, _ in sent:
        async with http.get(f"{rt.http_url}/desk/files/{ids[name]}?inline=1") as resp:
            assert resp.status == 200 and await resp.read() == data
            assert resp.headers["Content-Security-Policy"] == "sandbox"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            kind, disposition = resp.headers["Content-Type"], resp.headers["Content-Disposition"]
        if name == "通知.pdf":
            assert kind == "application/octet-stream" and disposition.startswith("attachment;")
        else:
            assert kind == {"照片.png": "image/png", "动图.webp": "image/webp"}[name]
            assert disposition.startswith("inline;")
    await signed_in(app, http, COORD)
    for export in ("/desk/export/ledger", "/desk/export/bundle"):
        async with http.get(f"{rt.http_url}{export}") as resp:
            assert resp.status == 200 and resp.headers["Content-Security-Policy"] == "sandbox"


async def test_a_stored_file_swapped_for_a_link_or_altered_is_not_handed_out(
        running: tuple[App, Runtime], http: aiohttp.ClientSession, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await say(app, BUILD, "44-1", files=(("创建通知.pdf", PDF),), tmp=tmp_path)
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 44)
    blob = app.store.files.path_for(f.sha256)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"S" * len(PDF))  # the size the record says, so only the link gives it away
    await signed_in(app, http, COORD)
    url = f"{rt.http_url}/desk/files/{f.id}"

    blob.unlink()
    blob.symlink_to(secret)
    status, page = await get(http, url)
    assert status == 404 and "找不到或已损坏" in page and "SSS" not in page
    folder = blob.parent
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    (elsewhere / f.sha256).unlink()
    (elsewhere / f.sha256).write_bytes(PDF)
    folder.symlink_to(elsewhere)  # the right bytes, but reached through a linked folder
    status, page = await get(http, url)
    assert status == 404 and "找不到或已损坏" in page
    folder.unlink()
    elsewhere.rename(folder)
    async with http.get(url) as resp:
        assert resp.status == 200 and await resp.read() == PDF

    blob.write_bytes(PDF + b"appended")  # another size than the record's
    status, page = await get(http, url)
    assert status == 404 and "找不到或已损坏" in page
    blob.write_bytes(PDF[:-1] + b"X")  # same size, other bytes: served (size is what a download checks) ...
    async with http.get(url) as resp:  # read to the end: a client gone mid-file makes the server log an error
        assert resp.status == 200 and await resp.read() == PDF[:-1] + b"X"
    status, page = await get(http, f"{rt.http_url}/desk/export/bundle")  # ... but never exported as the original
    assert status == 404 and "无法导出" in page and "校验值不符" in page
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 4 and all(r.levelno == logging.WARNING and not r.exc_info for r in refused)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_liaison_uploads_into_an_item_from_the_desk(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                          tg: FakeTelegram) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await signed_in(app, http, BUILD)
    status, page = await get(http, f"{rt.http_url}/desk/tasks/44")
    assert status == 200
    assert 'enctype="multipart/form-data"' in page
    url = f"{rt.http_url}/desk/tasks/44/upload"

    def form(csrf: str | None) -> aiohttp.FormData:
        data = aiohttp.FormData()
        if csrf is not None:
            data.add_field("csrf", csrf)
        data.add_field("item", "2")
        data.add_field("file", PDF, filename="小区名单.pdf", content_type="application/pdf")
        return data

    async with http.post(url, data=form(None), allow_redirects=False) as resp:
        assert resp.status == 403
    plan = await app.store.plans.plan()
    assert await app.store.evidence.files(plan.id, 44) == []
    async with http.post(url, data=form(csrf_of(page))) as resp:
        assert resp.status == 200 and "已收到「小区名单.pdf」，归入任务44 材料2" in await resp.text()
    [f] = await app.store.evidence.files(plan.id, 44)
    assert f.item_no == 2 and f.uploaded_by == f"telegram:{BUILD}" and f.sha256
    assert list(app.scratch_dir.iterdir()) == []
    [echo] = await tg.wait_for(lambda sent: any("网页上传" in str(m.get("text")) for m in sent))
    assert echo["chat_id"] == int(BUILD)


async def test_removed_liaison_loses_access_at_once(running: tuple[App, Runtime], http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await signed_in(app, http, EDU)
    assert (await get(http, f"{rt.http_url}/desk/tasks/42"))[0] == 200
    cookie = session_cookie(http)
    [removed] = await say(app, COORD, f"/remove telegram:{EDU}")
    assert "区教育局" in removed.text
    status, page = await get(http, f"{rt.http_url}/desk/tasks/42")
    assert status == 401 and "请先登录" in page
    await bind(app, EDU, "区教育局")  # bound again: the session of before the removal stays ended
    assert await open_with(rt, cookie, "/desk/tasks/42") == 401


def session_cookie(http: aiohttp.ClientSession) -> str:
    """Return the desk cookie the client holds (what someone copying it would have)."""
    [value] = [c.value for c in http.cookie_jar if c.key == "duban_desk"]
    return value


async def open_with(rt: Runtime, cookie: str, path: str) -> int:
    """Open a desk page in another client carrying a copy of a session cookie; return the status."""
    async with aiohttp.ClientSession() as other:
        async with other.get(f"{rt.http_url}{path}", headers={"Cookie": f"duban_desk={cookie}"},
                             allow_redirects=False) as resp:
            return resp.status


async def test_logout_ends_the_session_for_every_copy_of_the_cookie(running: tuple[App, Runtime],
                                                                    http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    cookie = session_cookie(http)
    assert await open_with(rt, cookie, "/desk/tasks/42") == 200
    _, page = await get(http, f"{rt.http_url}/desk/tasks/42")
    async with http.post(f"{rt.http_url}/desk/logout", data={"csrf": csrf_of(page)}) as resp:
        assert resp.status == 200 and "您已退出督办台" in await resp.text()
    assert await open_with(rt, cookie, "/desk/tasks/42") == 401
    assert await open_with(rt, cookie, "/desk/") == 401


async def test_a_new_unit_or_role_needs_a_new_sign_in(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                      tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await signed_in(app, http, EDU)
    liaison = session_cookie(http)
    assert await open_with(rt, liaison, "/desk/tasks") == 200
    await bind(app, EDU, "区住房和城乡建设局")
    assert await open_with(rt, liaison, "/desk/tasks") == 401

    await signed_in(app, http, EDU)
    promoted = session_cookie(http)
    now = app.clock.utcnow()
    await app.store.people.set_coordinator("telegram", EDU, True, actor="cli", now=now)  # `duban coordinator add`
    assert await open_with(rt, promoted, "/desk/tasks") == 401
    await signed_in(app, http, EDU)
    coordinator = session_cookie(http)
    assert await open_with(rt, coordinator, "/desk/review") == 200
    await app.store.people.set_coordinator("telegram", EDU, False, actor="cli", now=now)  # `… coordinator remove`
    assert await open_with(rt, coordinator, "/desk/tasks") == 401


async def test_idle_session_ends_and_a_busy_one_ends_after_ten_hours(running: tuple[App, Runtime], clock: Clock,
                                                                     http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    cookie = session_cookie(http)
    clock.advance(dt.timedelta(minutes=119))
    assert await open_with(rt, cookie, "/desk/tasks") == 200  # used again just in time
    for _ in range(4):  # a page every 1 h 55 min keeps it open ...
        clock.advance(dt.timedelta(minutes=115))
        assert await open_with(rt, cookie, "/desk/tasks") == 200
    clock.advance(dt.timedelta(minutes=115))  # ... until ten hours after signing in
    assert await open_with(rt, cookie, "/desk/tasks") == 401

    await signed_in(app, http, COORD)
    idle = session_cookie(http)
    clock.advance(dt.timedelta(minutes=121))
    status, page = await get(http, f"{rt.http_url}/desk/tasks")
    assert status == 401 and "2小时未操作" in page
    assert await open_with(rt, idle, "/desk/tasks") == 401


async def test_last_seen_is_written_at_most_once_a_minute(running: tuple[App, Runtime], clock: Clock,
                                                          http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    writes: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE DESKSESSION"):
            writes.append(statement)

    event.listen(app.store.engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(5):  # (the real clock runs on too: the steps leave it most of the minute)
            clock.advance(dt.timedelta(seconds=2))
            assert (await get(http, f"{rt.http_url}/desk/tasks"))[0] == 200
        assert writes == []
        clock.advance(dt.timedelta(seconds=55))
        for _ in range(3):
            assert (await get(http, f"{rt.http_url}/desk/tasks"))[0] == 200
        assert len(writes) == 1
    finally:
        event.remove(app.store.engine.sync_engine, "before_cursor_execute", count)
    [session] = await DeskAuth(app.settings, clock).open_sessions(app.store.desk_sessions)
    assert session.last_seen_at - session.created_at >= dt.timedelta(seconds=65)


async def test_task_page_shows_an_extension_and_progress_notes(running: tuple[App, Runtime],
                                                              http: aiohttp.ClientSession) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "/note 40 已完成2所学校的节水型单位申报")
    await say(app, EDU, "/delay 40 2023-11-15 等待市里验收")
    await signed_in(app, http, COORD)
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "阶段性进展" in page and "已完成2所学校的节水型单位申报" in page
    assert "延至<strong>2023年11月15日</strong>" in page and "待批复" in page
    await say(app, COORD, "/delay approve 40")
    _, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "已延期</span>（原定2023.9）" in page and "待批复" not in page
    assert "批准延期：截止日期由2023年9月30日改为2023年11月15日" in page


async def test_coordinator_downloads_ledger_and_bundle(running: tuple[App, Runtime],
                                                       http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    async with http.get(f"{rt.http_url}/desk/export/ledger") as resp:
        assert resp.status == 200
        assert "filename*=UTF-8''" + quote("台账-20231020.xlsx") in resp.headers["Content-Disposition"]
        assert load_workbook(io.BytesIO(await resp.read()))["台账"]["A1"].value == "序号"
    async with http.get(f"{rt.http_url}/desk/export/bundle") as resp:
        assert resp.status == 200 and "index.xlsx" in zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()


async def test_overview_filters_by_month_status_and_unit(running: tuple[App, Runtime],
                                                         http: aiohttp.ClientSession) -> None:
    app, rt = running
    await signed_in(app, http, COORD)
    status, page = await get(http, f"{rt.http_url}/desk/?month=2023-09&status=overdue")
    assert status == 200 and "（已筛选）" in page
    plan = await app.store.plans.plan()
    september = {t.lead for t in await app.store.plans.tasks(plan.id) if f"{t.deadline:%Y-%m}" == "2023-09"}
    rows = re.findall(r'<td data-label="牵头单位" class="head"><a href="/desk/tasks\?unit=[^"]+">([^<]+)</a></td>', page)
    assert rows and set(rows) == september
    status, page = await get(http, f"{rt.http_url}/desk/tasks?unit={quote('区教育局')}")
    assert "/desk/tasks/42" in page and "/desk/tasks/44" not in page


async def test_desk_command_only_in_private_and_for_people_with_standing(running: tuple[App, Runtime]) -> None:
    app, _ = running
    [group] = await say(app, COORD, "/desk", group=True)
    assert group.link is None and "私聊" in group.text
    [stranger] = await say(app, "3999", "/desk")
    assert stranger.link is None and "/bind" in stranger.text


async def test_large_bundle_in_chat_links_to_the_desk(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app, rt = running
    monkeypatch.setattr(export_handler, "SEND_LIMIT", 10)
    [reply] = await say(app, COORD, "/export 材料 教育局")
    assert reply.file is None and reply.link is not None and str(app.settings.state_dir) not in reply.text
    assert "请在督办台下载" in reply.text
    resp = await sign_in(http, reply.link[1])
    assert resp.headers["Location"] == "/desk/downloads?unit=" + quote("区教育局")
    status, page = await get(http, f"{rt.http_url}{resp.headers['Location']}")
    assert status == 200 and '<option value="区教育局" selected>' in page


async def test_session_cookie_is_secure_behind_https(tmp_path: Path, db_url: str, clock: Clock,
                                                     http: aiohttp.ClientSession) -> None:
    public = "https://duban.example.gov.cn"
    app = await App.create(make_settings(tmp_path, db_url, http_port=0, scheduler=False, public_url=public), clock)
    try:
        async with Runtime(app) as rt:
            link = await desk_link(app, COORD)
            assert link.startswith(f"{public}/desk/login/")
            resp = await sign_in(http, link.replace(public, rt.http_url))  # as the reverse proxy would pass it on
            assert resp.status == 303 and "Secure" in resp.headers["Set-Cookie"]
    finally:
        await app.close()


# --- in headless Chromium (Debian's, which CI installs) -----------------------------------------------


@contextlib.asynccontextmanager
async def chromium(backend: str) -> AsyncIterator[Browser]:
    """Launch headless Chromium (once per test, on SQLite only: the browser path does not depend on the database)."""
    from playwright.async_api import async_playwright

    if backend != "sqlite":
        pytest.skip("the browser path does not depend on the database; once on SQLite is enough")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def enter(browser: Browser, link: str, width: int, height: int) -> Page:
    """Open a sign-in link in a new browser context and press the button, as a user does."""
    page = await (await browser.new_context(viewport={"width": width, "height": height})).new_page()
    await page.goto(link)
    async with page.expect_navigation():
        await page.click("#enter")
    return page


@browser
async def test_coordinator_reviews_and_downloads_in_a_browser(running: tuple[App, Runtime], tg: FakeTelegram,
                                                              tmp_path: Path, backend: str) -> None:
    app, rt = running
    await bind(app, BUILD, "区住房和城乡建设局")
    await bind(app, EDU, "区教育局")
    await say(app, BUILD, "44-1", files=(("创建工作通知.pdf", PDF),), tmp=tmp_path)
    await say(app, EDU, "42-1", files=(("签约合同.pdf", PDF),), tmp=tmp_path)
    assert "待审核" in (await say(app, EDU, "/done 42"))[0].text
    plan = await app.store.plans.plan()
    leads = {t.lead for t in await app.store.plans.tasks(plan.id)}
    link = await desk_link(app, COORD)
    async with chromium(backend) as browser:
        page = await enter(browser, link, 1280, 900)  # an office PC
        assert page.url == f"{rt.http_url}/desk/"
        table = await page.inner_text("table.units")
        assert all(unit in table for unit in leads)

        await page.goto(f"{rt.http_url}/desk/tasks/44")
        async with page.expect_download() as info:
            await page.click("a.file")
        download = await info.value
        assert download.suggested_filename == "创建工作通知.pdf"
        assert Path(await download.path()).read_bytes() == PDF
        [f44] = await app.store.evidence.files(plan.id, 44)
        viewer = page.expect_event("framenavigated", lambda f: f.url.startswith("chrome-extension://"))
        async with viewer:  # Chromium's PDF viewer still opens the preview under CSP sandbox
            await page.goto(f"{rt.http_url}/desk/files/{f44.id}?inline=1")

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
    task = await app.store.plans.task(plan.id, 42)
    assert task.status is TaskStatus.RETURNED
    sent = await tg.wait_for(lambda sent: any(m["chat_id"] == int(EDU) and "退回" in str(m["text"]) for m in sent))
    assert any("任务42被节水办退回，原因：合同缺少盖章页" in str(m["text"]) for m in sent)


@browser
async def test_liaison_on_a_phone_uploads_and_cannot_open_another_units_file(
        running: tuple[App, Runtime], tmp_path: Path, backend: str) -> None:
    app, rt = running
    other = await two_units_and_a_file_of_44(app, "住建局通知.pdf", tmp_path)
    plan = await app.store.plans.plan()
    doc = tmp_path / "学校合同.pdf"
    doc.write_bytes(PDF + b"school")
    link = await desk_link(app, EDU)
    async with chromium(backend) as browser:
        page = await enter(browser, link, 390, 844)  # a phone
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
    [mine] = await app.store.evidence.files(plan.id, 42)
    assert mine.uploaded_by == f"telegram:{EDU}" and mine.file_name == "学校合同.pdf"


async def test_coordinator_returns_one_file_from_the_task_page(running: tuple[App, Runtime], http: aiohttp.ClientSession,
                                                               tmp_path: Path) -> None:
    app, rt = running
    await bind(app, EDU, "区教育局")
    await say(app, EDU, "40-3", files=(("排名表.pdf", PDF),), tmp=tmp_path)
    plan = await app.store.plans.plan()
    [f] = await app.store.evidence.files(plan.id, 40)
    await signed_in(app, http, COORD)
    status, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert status == 200 and f'name="file" value="{f.id}"' in page and "年份或期间不对" in page
    form = {"action": "return-file", "file": str(f.id), "category": "年份或期间不对", "reason": "", "csrf": csrf_of(page)}
    async with http.post(f"{rt.http_url}/desk/tasks/40/review", data=form) as resp:
        assert resp.status == 200 and "已退回「排名表.pdf」，原因：年份或期间不对" in await resp.text()
    task = await app.store.plans.task(plan.id, 40)
    assert task.evidence_done == 0 and task.items[2].returned == "年份或期间不对"
    status, page = await get(http, f"{rt.http_url}/desk/tasks/40")
    assert "已退回：年份或期间不对" in page and "退回材料" in page  # the item, and the history
