"""The desk's pages on duban's own HTTP server: overview, task list and page, review queue, extension requests,
downloads.

Every page and download resolves the signed-in person from the store and asks `bot.actions.access`
what they may see, the same rules chat uses. Review, extension decisions, submissions and uploads call the same
actions in `bot.actions` as chat (never a chat command), so permissions, audit and the chat notices stay the
core's. A refused form comes back to its page with the refusal and a 4xx status; a done one redirects with a
green notice. Pages are server-rendered Jinja2 (autoescaped), no scripts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.actions import completion, extensions, instructions, lastyear, returns
from bot.actions import urge as urging
from bot.actions.access import (
    current_role,
    is_leader,
    may_instruct,
    may_review,
    may_see_task,
    may_submit,
    may_upload,
    may_use_desk,
    visible_tasks,
)
from bot.actions.base import Actor, AppParts
from bot.actions.completion import MissingEvidence
from bot.actions.notices import SYSTEM
from bot.actions.plans import import_previewed, preview_import, served_plans, set_plan_active
from bot.actions.returns import REASONS
from bot.core.chinese import day_text, whole_number
from bot.core.errors import NotFound, UserError
from bot.core.views import FileView, ItemView, PersonView, PlanView, TaskStatus, TaskView, WarningLevel
from bot.desk.auth import COOKIE, SESSION_HOURS, DeskAuth, SignInGrant
from bot.desk.history import history_line
from bot.desk.summary import (
    SORTS,
    Filters,
    month_options,
    review_queue,
    status_options,
    totals,
    unit_rows,
    warning_options,
)
from bot.desk.upload import BadForm, TooBig, file_upload, receive_form, refusal_status
from bot.exports.counts import overdue_days
from bot.exports.names import safe_name
from bot.exports.notice import notice_docx
from bot.exports.people import person_labels
from bot.handlers.desk import HOME
from bot.handlers.export import bundle_file, bundle_name, ledger_file, ledger_name
from bot.planfiles.limits import LIMITS
from bot.planfiles.preview import preview_json, preview_lines
from bot.reports.digest import progress_chart_png
from bot.reports.render import deadline_text, file_size
from bot.store.files import BlobRefused

TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("duban_desk_templates", jinja2.Environment)
FLASH = "duban_desk_flash"
PLAN_COOKIE = "duban_desk_plan"  # the plan last shown, for pages whose address does not name one (filters, bookmarks)
STATIC = Path(__file__).parent / "static"
# The task page offers a preview of files declared as these; what is served inline is decided by the file's first
# bytes (sniff), whatever the sender's client declared.
PREVIEWABLE = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})
MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
         (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))
SNIFF_BYTES = 16
CHUNK = 256 * 1024
HTML_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # sign-in links carry their token in the URL: never sent to another site
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
PLAN_FILES = (".xlsx", ".docx", ".yaml", ".yml")  # what the plan readers take from the desk
_TOKEN = re.compile(r"[A-Za-z0-9_-]{24}")  # a pending import's name (secrets.token_urlsafe(18))
MAX_ROW_NUMBER = 2**31 - 1  # PostgreSQL INTEGER, the narrowest column a task or file number is looked up in
TODO_SHOWN = 5  # the overview's 待办 panel shows this many of each kind, the rest a click away
SIGN_IN = "请在督办助手中发送 /desk，点击收到的登录链接。"
DESK = "desk"  # the channel the audit log names for what is done on the desk

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as of this request, with their session's CSRF token and the posted form."""

    person: PersonView
    session: str
    csrf: str
    form: Mapping[str, str] = field(default_factory=dict)
    plans: tuple[PlanView, ...] = ()  # the plans served, for the switcher when there are several
    to_review: int = 0  # tasks waiting for review, the badge on a coordinator's 待审核

    @property
    def role(self) -> str:
        """Say who they are, as the page header shows it."""
        if is_leader(self.person):
            return f"{self.person.unit}分管领导"
        return "节水办" if self.person.coordinator else (self.person.unit or "")


Handler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


class Desk:
    """Serve /desk/… and make the one-time sign-in links to it."""

    def __init__(self, app: AppParts) -> None:
        self.app = app
        self.auth = DeskAuth(app.settings, app.clock)
        self._charts: dict[bool, tuple[object, bytes]] = {}  # phone or not: the chart of the data it shows

    def link(self, person: PersonView, next_path: str = "/desk/") -> str:
        """Return a one-time sign-in link for this person, landing on `next_path`."""
        return self.auth.link(person, next_path)

    def install(self, web_app: web.Application) -> None:
        """Add the desk's routes, templates and stylesheet."""
        env = aiohttp_jinja2.setup(web_app, app_key=TEMPLATES, autoescape=True, default_helpers=False,
                                   loader=jinja2.PackageLoader("bot.desk", "templates"))
        env.filters.update(size=file_size, local=self._local, deadline=deadline_text, day=day_text)
        r = web_app.router
        r.add_get("/desk", self._to_home)
        r.add_get("/desk/login/{token}", self._login_page)
        r.add_post("/desk/login/{token}", self._login)
        r.add_post("/desk/logout", self._signed_in(self._logout, post=True))
        r.add_get("/desk/", self._signed_in(self._overview))
        r.add_get("/desk/chart.png", self._signed_in(self._chart_png, coordinator=True))
        r.add_get("/desk/tasks", self._signed_in(self._tasks))
        r.add_get("/desk/tasks/{no:\\d+}", self._signed_in(self._task))
        r.add_post("/desk/tasks/{no:\\d+}/review", self._signed_in(self._review, coordinator=True, post=True))
        r.add_post("/desk/tasks/{no:\\d+}/upload", self._signed_in(self._upload))
        r.add_post("/desk/tasks/{no:\\d+}/extension", self._signed_in(self._extension, coordinator=True, post=True))
        r.add_post("/desk/tasks/{no:\\d+}/submit", self._signed_in(self._submit, post=True))
        r.add_post("/desk/tasks/{no:\\d+}/notice", self._signed_in(self._notice, coordinator=True, post=True))
        r.add_post("/desk/tasks/{no:\\d+}/instruct", self._signed_in(self._instruct, post=True))
        r.add_get("/desk/review", self._signed_in(self._queue, coordinator=True))
        r.add_get("/desk/extensions", self._signed_in(self._extensions, coordinator=True))
        r.add_get("/desk/files/{id:\\d+}", self._signed_in(self._file))
        r.add_get("/desk/notices/{id:\\d+}", self._signed_in(self._notice_file))
        r.add_get("/desk/tasks/{no:\\d+}/lastyear/{id:\\d+}", self._signed_in(self._last_year_file))
        r.add_get("/desk/downloads", self._signed_in(self._downloads))
        r.add_get("/desk/export/ledger", self._signed_in(self._ledger, coordinator=True))
        r.add_get("/desk/export/bundle", self._signed_in(self._bundle))
        r.add_get("/desk/plans", self._signed_in(self._plans, coordinator=True))
        r.add_post("/desk/plans/preview", self._signed_in(self._plan_preview, coordinator=True))
        r.add_post("/desk/plans/import", self._signed_in(self._plan_import, coordinator=True, post=True))
        r.add_post("/desk/plans/state", self._signed_in(self._plan_state, coordinator=True, post=True))
        r.add_static("/desk/static/", STATIC)
        r.add_get("/favicon.ico", self._favicon)

    async def _favicon(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "favicon.png", headers={"Content-Type": "image/png",
                                                                 "Cache-Control": "public, max-age=86400"})

    # ---- signing in -----------------------------------------------------------------------------
    async def _to_home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/desk/")

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        found = await self._grant(request)
        if isinstance(found, web.StreamResponse):
            return found
        person, _ = found
        return self._render(request, "login.html", {"person": person, "role": person.role_text, "viewer": None})

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if not self._same_origin(request):
            # another site posting someone's link would sign this browser in as that person (login CSRF)
            return self._message(request, "不能登录", f"请直接点击督办助手发给您的链接登录。{SIGN_IN}", 403)
        found = await self._grant(request)
        if isinstance(found, web.StreamResponse):
            return found
        _, grant = found
        if not await self.auth.spend(grant, self.app.store.chats):
            return await self._already_in(request, grant.next_path) or self._used(request)
        value, seconds = await self.auth.session(grant.person_key, self.app.store.desk_sessions)
        response = _see_other(grant.next_path)
        response.set_cookie(COOKIE, value, max_age=seconds, path="/desk", httponly=True, samesite="Strict",
                            secure=self.auth.secure_cookie)
        return response

    async def _grant(self, request: web.Request) -> tuple[PersonView, SignInGrant] | web.StreamResponse:
        grant = self.auth.read_link(request.match_info["token"])
        if grant is None:
            return await self._already_in(request, HOME) or self._message(
                request, "链接无效", f"这个登录链接无效或已过期（10分钟内有效）。{SIGN_IN}", 403)
        if await self.app.store.chats.seen(grant.seen_key):
            return await self._already_in(request, grant.next_path) or self._used(request)
        person = await self.app.store.people.get(grant.person_key)
        if person is None or not may_use_desk(current_role(person, self.app.settings.coordinator_keys)):
            return self._message(request, "不能登录", "这个链接对应的用户不是节水办人员，也没有绑定单位。", 403)
        return current_role(person, self.app.settings.coordinator_keys), grant

    def _same_origin(self, request: web.Request) -> bool:
        """Tell whether a browser's POST comes from the desk's own pages (clients that send neither header pass)."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if origin == "null":
            # sent by a page whose referrer policy hides its origin, ours or a sandboxed frame on any site:
            # only a browser that says the request is same-origin is believed
            return site is not None
        public = urlsplit(self.app.settings.public_url)
        return origin in (f"{public.scheme}://{public.netloc}", f"{request.scheme}://{request.host}")

    async def _already_in(self, request: web.Request, next_path: str) -> web.Response | None:
        """Offer the way in to someone whose link is spent or stale but who is signed in in this browser (they opened
        the chat's link again), else None."""
        key = await self.auth.resume(request.cookies.get(COOKIE, ""), self.app.store.desk_sessions)
        person = await self.app.store.people.get(key) if key else None
        if person is None:
            return None
        person = current_role(person, self.app.settings.coordinator_keys)
        return self._render(request, "signed_in.html", {"person": person, "role": person.role_text, "next": next_path,
                                                         "viewer": None})

    def _used(self, request: web.Request) -> web.StreamResponse:
        return self._message(request, "链接已用过", f"这个登录链接已经用过了，每个链接只能用一次。{SIGN_IN}", 403)

    async def _logout(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        await self.auth.end(viewer.session, "logout", self.app.store.desk_sessions)
        response = self._message(request, "已退出", "您已退出督办台。再次使用时，请在督办助手中发送 /desk。")
        response.del_cookie(COOKIE, path="/desk")
        return response

    def _signed_in(self, handler: Handler, *, coordinator: bool = False, post: bool = False) -> Route:
        """Wrap a handler: resolve the session to a person with standing, check role and CSRF, then call it."""

        async def route(request: web.Request) -> web.StreamResponse:
            value = request.cookies.get(COOKIE, "")
            key = await self.auth.resume(value, self.app.store.desk_sessions)
            person = await self.app.store.people.get(key) if key else None
            if person is None:
                page = self._message(request, "请先登录", f"督办台需要登录（退出、{self.auth.idle_text}未操作或登录满"
                                     f"{SESSION_HOURS}小时后要重新登录）。{SIGN_IN}", 401)
                if value:
                    page.del_cookie(COOKIE, path="/desk")
                return page
            person = current_role(person, self.app.settings.coordinator_keys)
            if not may_use_desk(person):
                return self._message(request, "不能使用督办台", "您现在不是节水办人员，也没有绑定单位。", 403)
            viewer = Viewer(person, value, self.auth.csrf(value), plans=tuple(await served_plans(self.app.services)),
                            to_review=await self._to_review(request, person))
            if coordinator and not may_review(person):
                return self._message(request, "没有权限", "这一页只有节水办统筹人员可以使用。", 403, viewer)
            if post:
                form = await request.post()
                if not self.auth.csrf_ok(value, str(form.get("csrf", ""))):
                    return self._message(request, "表单已失效", "页面已过期，请返回刷新后再操作。没有做任何修改。", 403, viewer)
                viewer = replace(viewer, form={k: v for k, v in form.items() if isinstance(v, str)})
            return await handler(request, viewer)

        return route

    async def _to_review(self, request: web.Request, person: PersonView) -> int:
        """Count the plan's tasks waiting for review, for a coordinator's badge (from memory: every page shows it)."""
        if not may_review(person):
            return 0
        _, tasks = await self._plan_tasks(request)
        return sum(t.status is TaskStatus.SUBMITTED for t in tasks)

    # ---- pages ----------------------------------------------------------------------------------
    async def _overview(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        if not viewer.person.coordinator:
            raise web.HTTPFound("/desk/tasks")
        plan, tasks = await self._plan_tasks(request)
        today = self.app.clock.today()
        rule = self.app.settings.warning_rule
        filters = Filters.from_query(request.query)
        shown = filters.apply(tasks, today, rule)
        liaisons = await self.app.store.people.liaison_counts()
        queue = review_queue(tasks, await self.app.store.plans.submitted_at(plan.id), today, self.app.settings.tz)
        extensions = await self.app.store.extensions.pending(plan.id)
        return self._render(request, "overview.html", {
            "viewer": viewer, "plan": plan, "today": today, "filters": filters, "rows": unit_rows(shown, liaisons, today, rule),
            "totals": totals(shown, liaisons, today, rule), "months": month_options(tasks), "statuses": status_options(),
            "warnings": warning_options(),
            "units": _units(tasks), "query": urlencode(request.query), "nav": "overview", "queue": queue,
            "overdue": sum(overdue_days(t, today) > 0 for t in tasks),
            "extensions": extensions, "unbound": [u for u in _units(tasks) if not liaisons.get(u)],
            "names": await self._names(e.requested_by for e in extensions[:TODO_SHOWN]),
            "shown": TODO_SHOWN})

    async def _chart_png(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan, tasks = await self._plan_tasks(request)
        today = self.app.clock.today()
        phone = request.query.get("size") == "phone"
        key = (plan.id, today, tuple((t.no, t.status, t.deadline) for t in tasks))
        kept = self._charts.get(phone)
        if kept is None or kept[0] != key:
            kept = (key, await progress_chart_png(plan.title, tasks, today,
                                                  self.app.settings.state_dir / "cache" / "matplotlib", phone=phone))
            self._charts[phone] = kept
        return web.Response(body=kept[1], content_type="image/png", headers={"Cache-Control": "no-store"})

    async def _tasks(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan, tasks = await self._plan_tasks(request)
        today = self.app.clock.today()
        mine = visible_tasks(viewer.person, tasks)
        filters = Filters.from_query(request.query)
        shown = filters.apply(mine, today, self.app.settings.warning_rule)
        return self._render(request, "tasks.html", {
            "viewer": viewer, "plan": plan, "today": today, "filters": filters, "tasks": shown,
            "late": {t.no: overdue_days(t, today) for t in shown}, "months": month_options(mine),
            "lights": self._lights(shown, today), "warnings": warning_options(),
            "statuses": status_options(), "units": _units(mine) if viewer.person.coordinator else [],
            "sorts": SORTS, "waiting": {}, "title": "任务列表", "nav": "tasks"})

    async def _queue(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan, tasks = await self._plan_tasks(request)
        today = self.app.clock.today()
        queue = review_queue(tasks, await self.app.store.plans.submitted_at(plan.id), today, self.app.settings.tz)
        waiting = [w.task for w in queue]
        return self._render(request, "tasks.html", {
            "viewer": viewer, "plan": plan, "today": today, "filters": Filters(), "tasks": waiting,
            "late": {t.no: overdue_days(t, today) for t in waiting}, "months": [], "statuses": [], "units": [],
            "lights": self._lights(waiting, today),
            "waiting": {w.task.no: w for w in queue},
            "title": f"待审核（{len(waiting)}项，先提交的在前）", "nav": "review"})

    async def _extensions(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan, tasks = await self._plan_tasks(request)
        by_no = {t.no: t for t in tasks}
        waiting = sorted(await self.app.store.extensions.pending(plan.id), key=lambda e: (e.requested_at, e.id))
        return self._render(request, "extensions.html", {
            "viewer": viewer, "plan": plan, "waiting": waiting, "tasks": by_no,
            "names": await self._names(e.requested_by for e in waiting),
            "nav": "extensions"})

    async def _task(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await self._task_page(request, viewer)

    async def _task_page(self, request: web.Request, viewer: Viewer, *, status: int = 200, error: str = "",
                         missing: tuple[ItemView, ...] = ()) -> web.StreamResponse:
        """Render a task page; a refused form comes back to it with the refusal (error) and its 4xx status, a
        submission still missing evidence with those items to confirm."""
        plan = await self._plan(request)
        try:
            task = await self.app.store.plans.task(plan.id, _row_number(request.match_info["no"], "项任务"))
        except UserError as e:
            return self._message(request, "没有这项任务", e.message, 404, viewer)
        person = viewer.person
        allowed = may_see_task(person, task)
        files = await self.app.store.evidence.files(plan.id, task.no) if allowed else []
        by_item: dict[int, list[FileView]] = {}
        for f in files:
            by_item.setdefault(f.item_no, []).append(f)
        history = await self.app.store.chats.audit(task_no=task.no, plan_id=plan.id, limit=50) if allowed else []
        extensions = await self.app.store.extensions.pending(plan.id, task.no)
        shown = [*(h["actor"] for h in history), *(f.uploaded_by for f in files)] if allowed else []
        names = await self._names([*shown, *(e.requested_by for e in extensions)])
        progress_notes = await self.app.store.notes.latest(plan.id, task.no) if allowed else []
        earlier = await lastyear.last_year(self._actor(viewer), task) if allowed else None
        said = await self.app.store.chats.audit(plan_id=plan.id, task_no=task.no, action=instructions.ACTION,
                                                limit=50) if allowed else []
        notices = await self.app.store.notices.notices(plan.id, task.no) if allowed else []
        names |= await self._names(n.issued_by for n in notices)
        today = self.app.clock.today()
        return self._render(request, "task.html", {
            "progress_notes": progress_notes, "extensions": extensions, "notices": notices, "system": SYSTEM,
            "last_year": earlier, "instructions": said, "can_instruct": may_instruct(person, task),
            "can_issue": may_review(person) and task.status.is_open, "units": (task.lead, *task.cooperating),
            "error": error, "missing": missing, "form": viewer.form,
            "can_decide": may_review(person), "can_submit": may_submit(person, task),
            "viewer": viewer, "plan": plan, "today": today, "t": task, "allowed": allowed, "by_item": by_item,
            "previewable": PREVIEWABLE, "late": overdue_days(task, today), "names": names,
            "light": task.light(today, self.app.settings.warning_rule),
            "history": [history_line(h, names, self.app.settings.tz) for h in history],
            "can_approve": may_review(person) and task.status is TaskStatus.SUBMITTED,
            "can_return": may_review(person) and task.status in (TaskStatus.SUBMITTED, TaskStatus.APPROVED),
            "can_upload": bool(task.items) and may_upload(person, task),
            "can_return_files": may_review(person), "reasons": REASONS,
            "max_mb": self.app.settings.upload_max_mb, "nav": "tasks"}, status)

    # ---- actions --------------------------------------------------------------------------------
    async def _review(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        no = int(request.match_info["no"])
        action, reason = viewer.form.get("action", ""), " ".join(viewer.form.get("reason", "").split())
        if action not in ("approve", "return", "return-file"):
            return await self._task_page(request, viewer, status=400, error="请在任务页面上选择“审核通过”或“退回”。")
        actor, plan = self._actor(viewer), await self._plan(request)
        try:
            if action == "return-file":  # one file, with a reason of the list or the coordinator's own words
                file_id = whole_number(viewer.form.get("file", ""))
                if file_id is None or file_id > MAX_ROW_NUMBER:
                    return self._message(request, "操作无效", "没有这个文件。", 400, viewer)
                r = await returns.return_file(actor, file_id, reason or viewer.form.get("category", ""))
                return self._after(f"/desk/tasks/{r.task.no}{_query(request)}",
                                   f"已退回{r.names}，原因：{r.reason}。已通知{r.task.lead}联络员。")
            if action == "approve":
                t = await completion.approve(actor, plan, no)
                text = f"任务{no}已审核通过（已完成），已通知{t.lead}。"
            else:
                t = await completion.return_task(actor, plan, no, reason)
                text = f"任务{no}已退回{t.lead}，原因：{_sentence(reason)}已通知该单位联络员。"
        except UserError as e:
            return await self._refused(request, viewer, e)
        return self._after(f"/desk/tasks/{no}{_query(request)}", text)

    async def _extension(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        no = int(request.match_info["no"])
        action, note = viewer.form.get("action", ""), " ".join(viewer.form.get("note", "").split())
        if action not in ("approve", "reject"):
            return await self._task_page(request, viewer, status=400, error="请在任务页面上选择“批准”或“不批准”。")
        try:
            ext = await extensions.decide_extension(self._actor(viewer), await self._plan(request), no,
                                                    approve=action == "approve", note=note)
        except UserError as e:
            return await self._refused(request, viewer, e)
        if ext.status == "approved":
            text = (f"已批准任务{no}延期：截止日期由{day_text(ext.deadline_from)}改为{day_text(ext.deadline_to)}，"
                    f"已通知{ext.unit}。")
        else:
            text = f"已不批准任务{no}的延期申请，原因：{_sentence(note)}已通知{ext.unit}。"
        back = "/desk/extensions" if viewer.form.get("back") == "list" else f"/desk/tasks/{no}"
        return self._after(f"{back}{_query(request)}", text)

    async def _submit(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        no = int(request.match_info["no"])
        try:
            await completion.submit(self._actor(viewer), await self._plan(request), no,
                                    despite_missing=viewer.form.get("confirm") == "1")
        except MissingEvidence as e:
            return await self._task_page(request, viewer, missing=e.task.missing)
        except UserError as e:
            return await self._refused(request, viewer, e)
        return self._after(f"/desk/tasks/{no}{_query(request)}",
                           f"任务{no}已提交节水办审核，状态：待审核。审核结果会在聊天中通知您。")

    async def _instruct(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Keep a 分管领导's 批示 on this task: the same action as chat's 「/批示 任务号 内容」."""
        no = int(request.match_info["no"])
        try:
            t = await instructions.instruct(self._actor(viewer), await self._plan(request), no,
                                            viewer.form.get("text", ""))
        except UserError as e:
            return await self._refused(request, viewer, e)
        units = "、".join(dict.fromkeys([t.lead, viewer.person.unit or t.lead]))  # the lead's, and a cooperating one's
        return self._after(f"/desk/tasks/{no}{_query(request)}", f"已对任务{no}写批示，已通知{units}联络员和节水办。")

    async def _notice(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Issue a 督办通知单 to a unit about this task: the same action as chat's 「/urge 单位 任务号」."""
        no = int(request.match_info["no"])
        unit = viewer.form.get("unit", "")
        try:
            urged = await urging.urge(self._actor(viewer), await self._plan(request), unit, no)
        except UserError as e:
            return await self._refused(request, viewer, e)
        assert urged is not None and urged.notice is not None  # a task named: a notice, or a refusal
        away = f"（其中{'、'.join(urged.unreachable)}目前无法送达）" if urged.unreachable else ""
        text = "\n".join([f"已向{unit}的{len(urged.liaisons)}位联络员发出督办通知单{urged.notice.notice.label}（任务{no}）"
                          f"{away}，计为一次催办。", *urged.history()])
        return self._after(f"/desk/tasks/{no}{_query(request)}", text)

    async def _refused(self, request: web.Request, viewer: Viewer, e: UserError) -> web.StreamResponse:
        """Show the task page again with why the form was refused, under the status a refusal of its kind has."""
        return await self._task_page(request, viewer, status=refusal_status(e), error=e.message)

    async def _upload(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        no = int(request.match_info["no"])
        limit = self.app.settings.upload_max_mb * 1024 * 1024
        try:
            fields, upload = await receive_form(request, limit, self.app.scratch_file)
        except TooBig:
            return self._message(request, "文件太大", f"文件超过了 {self.app.settings.upload_max_mb}MB 的上限，没有保存。"
                                 "请压缩或拆分后再上传。", 413, viewer)
        except BadForm as e:
            return self._message(request, "上传失败", str(e), 400, viewer)
        try:
            if not self.auth.csrf_ok(viewer.session, fields.get("csrf", "")):
                return self._message(request, "表单已失效", "页面已过期，请返回刷新后再上传。没有做任何修改。", 403, viewer)
            if upload is None:
                return await self._task_page(request, viewer, status=400,
                                             error="没有选择文件：请选择要上传的文件后再提交。")
            done = await file_upload(self._actor(viewer), await self._plan(request), no, fields.get("item", ""), upload)
        finally:
            if upload is not None:
                upload.path.unlink(missing_ok=True)
        if done.refused is not None:
            return await self._task_page(request, viewer, status=refusal_status(done.refused), error=done.text)
        return self._after(f"/desk/tasks/{no}{_query(request)}", done.text)

    # ---- plans: the list, importing next year's table (upload → preview → confirm), archiving ----------------------
    async def _plans(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return self._render(request, "plans.html", {
            "viewer": viewer, "plans": await self.app.store.plans.list_plans(), "title": "计划", "nav": "plans",
            "kinds": ", ".join(PLAN_FILES), "max_mb": LIMITS.file_mb})

    async def _plan_preview(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        try:
            fields, upload = await receive_form(request, LIMITS.file_mb * 1024 * 1024, self.app.scratch_file)
        except TooBig:
            return self._message(request, "文件太大", f"分工表超过了 {LIMITS.file_mb}MB 的上限，没有导入。", 413, viewer)
        except BadForm as e:
            return self._message(request, "上传失败", str(e), 400, viewer)
        if not self.auth.csrf_ok(viewer.session, fields.get("csrf", "")):
            if upload is not None:
                upload.path.unlink(missing_ok=True)
            return self._message(request, "表单已失效", "页面已过期，请返回刷新后再上传。没有做任何修改。", 403, viewer)
        if upload is None:
            return self._message(request, "没有选择文件", "请选择要导入的分工表文件后再提交。", 400, viewer)
        suffix = Path(upload.file_name).suffix.lower()
        if suffix not in PLAN_FILES:
            upload.path.unlink(missing_ok=True)
            return self._message(request, "文件类型不对", f"只能导入这些格式的分工表：{'、'.join(PLAN_FILES)}。"
                                 f"「{upload.file_name}」没有导入。", 400, viewer)
        pending = self._pending_imports()
        token = secrets.token_urlsafe(18)
        kept = pending / f"{token}{suffix}"
        upload.path.replace(kept)
        key = fields.get("key", "").strip() or None
        try:
            preview = await preview_import(self.app.store, self.app.services.units, kept, key)
        except UserError as e:
            kept.unlink(missing_ok=True)
            return self._message(request, "无法导入", f"「{upload.file_name}」没有导入：{e.message}", 400, viewer)
        return self._render(request, "plan_preview.html", {
            "viewer": viewer, "title": "导入预览", "nav": "plans", "name": upload.file_name, "token": token,
            "key": key or "", "lines": preview_lines(preview), "summary": preview_json(preview)})

    async def _plan_import(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        token, key = viewer.form.get("token", ""), viewer.form.get("key", "") or None
        kept = next(iter(self._pending_imports().glob(f"{token}.*")), None) if _TOKEN.fullmatch(token) else None
        if kept is None:
            return self._message(request, "预览已失效", "这份分工表的预览已经确认、取消或过期，请重新上传。", 410, viewer)
        try:
            if viewer.form.get("action") != "import":
                return self._after("/desk/plans", "已取消导入，没有做任何修改。")
            preview = await preview_import(self.app.store, self.app.services.units, kept, key)
            r = await import_previewed(self._actor(viewer), preview)
        except UserError as e:
            return self._message(request, "无法导入", e.message, 400, viewer)
        finally:
            kept.unlink(missing_ok=True)
        verb = "新建" if r.created else "更新"
        return self._after("/desk/plans", f"已{verb}计划 {r.plan_key}：新增{r.tasks_added}项，更新{r.tasks_updated}项，"
                                          f"未变{r.tasks_unchanged}项，备注{r.notes}条。")

    async def _plan_state(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        key, active = viewer.form.get("key", ""), viewer.form.get("active") == "1"
        try:
            p = await set_plan_active(self._actor(viewer), key, active)
        except UserError as e:
            return self._message(request, "操作失败", e.message, 404, viewer)
        text = (f"计划 {p.key}（{p.title}）已恢复办理。" if active else
                f"已归档计划 {p.key}（{p.title}）：不再提醒，不再出现在聊天和督办台中；记录和材料都保留，可随时恢复。")
        return self._after("/desk/plans", text)

    def _pending_imports(self) -> Path:
        """Return the directory of uploaded plan files waiting for confirmation; those a day old are dropped."""
        pending = self.app.settings.state_dir / "imports"
        pending.mkdir(parents=True, exist_ok=True)
        stale = self.app.clock.real_utcnow().timestamp() - 86400
        for old in pending.iterdir():
            if old.stat().st_mtime < stale:
                old.unlink(missing_ok=True)
        return pending

    def _actor(self, viewer: Viewer) -> Actor:
        """The signed-in person acting through the desk."""
        return Actor(viewer.person, DESK, self.app.services)

    # ---- downloads ------------------------------------------------------------------------------
    async def _file(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        try:
            plan_id, f = await self.app.store.evidence.file(_row_number(request.match_info["id"], "个文件"))
            task = await self.app.store.plans.task(plan_id, f.task_no)
            sharers = [task, *[await self.app.store.plans.task(plan_id, n) for n in task.shared_with]]
        except UserError:
            sharers = []
        if not any(may_see_task(viewer.person, t) for t in sharers):
            return self._no_file(request, viewer)
        return await self._send_file(request, viewer, f)

    async def _last_year_file(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Send one of last year's files listed under a task continuing last year's (whoever may see this task)."""
        plan = await self._plan(request)
        try:
            task = await self.app.store.plans.task(plan.id, _row_number(request.match_info["no"], "项任务"))
            found = await lastyear.last_year(self._actor(viewer), task)
        except UserError:
            found = None
        f = found.file(int(request.match_info["id"])) if found is not None else None
        return self._no_file(request, viewer) if f is None else await self._send_file(request, viewer, f)

    def _no_file(self, request: web.Request, viewer: Viewer) -> web.Response:
        # the same answer for "no such file" and "not yours": a liaison learns nothing by trying numbers
        return self._message(request, "没有这个文件", "没有这个文件，或它不属于贵单位的任务。", 404, viewer)

    async def _send_file(self, request: web.Request, viewer: Viewer, f: FileView) -> web.StreamResponse:
        """Stream a stored file: shown in the browser when asked (?inline=1) and its first bytes allow, else saved."""
        try:
            blob = await asyncio.to_thread(self.app.store.files.open_blob, f.sha256, f.size)
        except BlobRefused:  # logged by the store, with the reason
            return self._message(request, "文件缺失", "这个文件在存储中找不到或已损坏，请联系管理员。", 404, viewer)
        try:
            head = await asyncio.to_thread(blob.read, SNIFF_BYTES)
            shown = sniff(head) if request.query.get("inline") == "1" else None
            response = web.StreamResponse(headers=_file_headers(f.file_name, shown or "application/octet-stream",
                                                                 inline=shown is not None))
            response.content_length = f.size
            await response.prepare(request)
            await response.write(head)
            while chunk := await asyncio.to_thread(blob.read, CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            blob.close()

    async def _notice_file(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Send a 督办通知单 as .docx, written from what it said when issued; seen by whoever may see its task's files."""
        try:
            n = await self.app.store.notices.notice(_row_number(request.match_info["id"], "份督办通知单"))
            allowed = may_see_task(viewer.person, await self.app.store.plans.task(n.plan_id, n.task_no))
        except UserError:
            allowed = False
        if not allowed:  # the same answer for "none" and "not yours", as for files
            return self._message(request, "没有这份督办通知单", "没有这份督办通知单，或它不属于贵单位的任务。", 404, viewer)
        body = await asyncio.to_thread(notice_docx, n)
        return web.Response(body=body, headers=_file_headers(
            n.file_name, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", inline=False))

    async def _downloads(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan, tasks = await self._plan_tasks(request)
        leads = list(dict.fromkeys(t.lead for t in tasks))
        chosen = request.query.get("unit", "")
        return self._render(request, "downloads.html", {
            "viewer": viewer, "plan": plan, "units": leads, "chosen": chosen if chosen in leads else "",
            "nav": "downloads"})

    async def _ledger(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan = await self._plan(request)
        today = self.app.clock.today()
        path = await ledger_file(self.app.services, plan.key, today)
        return _download(path, ledger_name(today),
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    async def _bundle(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        plan = await self._plan(request)
        today = self.app.clock.today()
        unit = request.query.get("unit") or None
        if not viewer.person.coordinator:
            unit = viewer.person.unit  # a liaison's bundle is their unit's, whatever the URL says
        try:
            result = await bundle_file(self.app.services, plan.key, unit, today)
        except UserError as e:
            return self._message(request, "无法导出", e.message, 404, viewer)
        return _download(result.path, bundle_name(unit, today), "application/zip")

    # ---- helpers --------------------------------------------------------------------------------
    async def _plan(self, request: web.Request) -> PlanView:
        """Return the plan a page is about: the one its address names (?plan=KEY, which every link and form of a
        page about a plan carries when several are served, so a page left open acts on the plan it shows), else
        the one last shown, else the newest."""
        plans = await served_plans(self.app.services)
        wanted = request.query.get("plan") or request.cookies.get(PLAN_COOKIE, "")
        return next((p for p in plans if p.key == wanted), plans[0])

    async def _plan_tasks(self, request: web.Request) -> tuple[PlanView, list[TaskView]]:
        """Return the plan and its tasks from the read model: every change is seen there once committed."""
        plan = await self._plan(request)
        return plan, await self.app.services.reads.tasks(plan.id)

    def _lights(self, tasks: Iterable[TaskView], today: dt.date) -> dict[int, WarningLevel | None]:
        """Return each task's traffic light by number, by the one rule chat and the exports use."""
        return {t.no: t.warning(today, self.app.settings.warning_rule) for t in tasks}

    async def _names(self, keys: Iterable[str]) -> dict[str, str]:
        return await person_labels(self.app.store, self.app.settings.coordinator_keys, keys)

    def _local(self, at: dt.datetime) -> str:
        return at.astimezone(self.app.settings.tz).strftime("%Y-%m-%d %H:%M")

    def _render(self, request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
        flash = _read_flash(request.cookies.get(FLASH, ""))
        plan: PlanView | None = context.get("plan")
        viewer: Viewer | None = context.get("viewer")
        several = viewer is not None and len(viewer.plans) > 1
        pq = f"?plan={quote(plan.key, safe='')}" if plan and several else ""
        response = aiohttp_jinja2.render_template(template, request, {**context, "flash": flash, "pq": pq,
                                                                      "pa": pq.replace("?", "&", 1)},
                                                  app_key=TEMPLATES, status=status)
        response.headers.update(HTML_HEADERS)
        if flash:
            response.del_cookie(FLASH, path="/desk")
        if plan is not None and several:
            response.set_cookie(PLAN_COOKIE, plan.key, path="/desk", httponly=True, samesite="Strict")
        return response

    def _message(self, request: web.Request, title: str, text: str, status: int = 200,
                 viewer: Viewer | None = None) -> web.Response:
        return self._render(request, "message.html", {"title": title, "text": text, "viewer": viewer,
                                                      "failed": status >= 400}, status)

    @staticmethod
    def _after(location: str, text: str) -> web.StreamResponse:
        """Redirect after a POST, carrying the core's answer to the next page (so a refresh does not repeat it)."""
        response = _see_other(location)
        value = base64.urlsafe_b64encode(text.encode()[:3000]).decode().rstrip("=")
        response.set_cookie(FLASH, value, max_age=120,
                            path="/desk", httponly=True, samesite="Strict")
        return response


def _sentence(text: str) -> str:
    """End a user's words with one full stop, whatever they ended with."""
    return text.rstrip("。.!！ ") + "。"


def _row_number(text: str, what: str) -> int:
    """Read a task or file number from the URL; past what the database's integers hold it names nothing."""
    n = int(text)
    if n > MAX_ROW_NUMBER:  # asking the database would overflow its integer (a 500), not find nothing
        raise NotFound(f"没有第{n}{what}。")
    return n


def _query(request: web.Request) -> str:
    """Return the request's query string with its "?" (the plan a form acted on), or nothing."""
    return f"?{request.query_string}" if request.query_string else ""


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def _read_flash(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8", "replace") if value else ""
    except (binascii.Error, ValueError):
        return ""


def _units(tasks: list[TaskView]) -> list[str]:
    """Return every unit taking part in the tasks, leads first in plan order."""
    return list(dict.fromkeys([*(t.lead for t in tasks), *(u for t in tasks for u in t.cooperating)]))


def content_disposition(name: str, *, inline: bool = False) -> str:
    """Name a download safely: an ASCII fallback for old clients and the original name as RFC 5987 UTF-8."""
    clean = safe_name(name)
    ascii_name = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode()
    ascii_name = "".join(ch if ch.isalnum() or ch in "._-() " else "_" for ch in ascii_name).strip(" ._")
    _, dot, ext = clean.rpartition(".")
    if not ascii_name or ascii_name == ext:
        ascii_name = f"file.{ext}" if dot and ext.isascii() and ext.isalnum() else "file"
    return f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _download(path: Path, name: str, mime: str) -> web.FileResponse:
    return web.FileResponse(path, headers=_file_headers(name, mime, inline=False))


def _file_headers(name: str, mime: str, *, inline: bool) -> dict[str, str]:
    """Return the headers of a file response: a file shown in the browser runs nothing (CSP sandbox) and is not
    re-sniffed into HTML."""
    return {"Content-Type": mime, "Content-Disposition": content_disposition(name, inline=inline),
            "Content-Security-Policy": "sandbox", "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def sniff(head: bytes) -> str | None:
    """Return the type of a file the browser may show inline, from its first bytes (PDF, PNG, JPEG, GIF, WebP)."""
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in MAGIC if head.startswith(magic)), None)
