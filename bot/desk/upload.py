"""The signed upload page: a link bound to one person and one task, for files chat cannot carry.

A WeCom self-built app never receives file messages and Telegram's cloud API downloads at most 20 MB,
so task replies carry a link to this page. The token in the link is

    base64url(JSON [person key, task no, expiry unix time]) "." base64url(HMAC-SHA256[:16])

signed with the instance secret (domain-separated), so it cannot be forged, stretched or moved to
another person or task. The page streams the file to disk and files it through the same evidence action as
a file sent in chat: permissions, duplicates and audit are the action's. The plan is the one chats work on;
a token names no plan.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.actions import evidence
from bot.actions.access import current_role, may_see_task
from bot.actions.base import Actor, AppParts
from bot.config import secret_for
from bot.core.chinese import whole_number
from bot.core.errors import NotAllowed, NotFound, UserError
from bot.core.messages import Attachment, Push, Reply
from bot.core.views import PersonView, PlanView, TaskView
from bot.reports.render import deadline_line
from bot.signing import Signer

log = logging.getLogger(__name__)

ROUTE = "/upload/{token}"
UPLOAD = "upload"  # the channel the audit log names for files given on this page
CHUNK = 256 * 1024
FIELD_LIMIT = 64  # bytes of a small form field ("item", "csrf")
MAX_ITEM = 999  # item numbers of one checklist; the caption "任务-材料" reads at most three digits
BAD_PART = "表单的格式不对（文件名中不能有换行或空字符），没有保存。请把文件改名后重新上传。"
BROKEN = "上传的内容不完整或格式不对，没有保存。请返回上一页，重新选择文件上传。"
_DOMAIN = b"duban-upload-link\x00"
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class UploadGrant:
    """What a valid upload token allows: this person, this task of this plan, until then."""

    person_key: str
    plan_id: int
    task_no: int
    expires: dt.datetime


class UploadPage:
    """Serve GET/POST /upload/{token} and make the signed links to it."""

    def __init__(self, app: AppParts) -> None:
        self.app = app
        self._signer = Signer(secret_for(app.settings), _DOMAIN)

    def install(self, web_app: web.Application) -> None:
        """Add the page's routes."""
        web_app.router.add_get(ROUTE, self._get)
        web_app.router.add_post(ROUTE, self._post)

    # ---- tokens ------------------------------------------------------------------------------
    def link(self, person: PersonView, plan_id: int, task_no: int) -> str:
        """Return the page URL for this person and task, valid for DUBAN_UPLOAD_LINK_HOURS."""
        hours = self.app.settings.upload_link_hours
        expires = int((self.app.clock.real_utcnow() + dt.timedelta(hours=hours)).timestamp())
        token = self._signer.sign([person.key, plan_id, task_no, expires])
        return f"{self.app.settings.public_url.rstrip('/')}/upload/{token}"

    def verify(self, token: str) -> UploadGrant | None:
        """Return the grant of a genuine, unexpired token, else None."""
        values = self._signer.verify(token)
        if values is None:
            return None
        try:
            key, plan_id, task_no, expires = values
            grant = UploadGrant(str(key), int(plan_id), int(task_no), dt.datetime.fromtimestamp(int(expires), dt.UTC))
        except (ValueError, TypeError):
            return None
        if self.app.clock.real_utcnow() >= grant.expires:
            return None
        return grant

    # ---- routes ------------------------------------------------------------------------------
    async def _get(self, request: web.Request) -> web.Response:
        found = await self._resolve(request.match_info["token"])
        if isinstance(found, web.Response):
            return found
        person, _, task = found
        return _page("上传佐证材料", _form(person, task, self.app.settings.upload_max_mb, self.app.clock.today(),
                                     request.query.get("item", "")))

    async def _post(self, request: web.Request) -> web.Response:
        found = await self._resolve(request.match_info["token"])
        if isinstance(found, web.Response):
            return found
        person, plan, task = found
        limit = self.app.settings.upload_max_mb * 1024 * 1024
        try:
            fields, upload = await receive_form(request, limit, self.app.scratch_file)
        except TooBig:
            return _too_big(self.app.settings.upload_max_mb)
        except BadForm as e:
            return _page("上传失败", f"<p>{html.escape(str(e))}</p>" + _back(request), status=400)
        if upload is None:
            return _page("没有选择文件", "<p>请返回上一页，选择要上传的文件后再提交。</p>" + _back(request), status=400)
        try:
            done = await file_upload(Actor(person, UPLOAD, self.app.services), plan, task.no, fields.get("item", ""),
                                     upload)
        finally:
            upload.path.unlink(missing_ok=True)
        body = "".join(f"<p>{html.escape(line)}</p>" for line in done.text.split("\n") if line.strip())
        if done.refused is not None:
            return _page("没有上传成功", f'<div class="error" role="alert">{body}</div>' + _back(request),
                         status=refusal_status(done.refused))
        return _page("上传结果", f'<div class="result">{body}</div>' + _back(request, "继续上传"))

    async def _resolve(self, token: str) -> tuple[PersonView, PlanView, TaskView] | web.Response:
        grant = self.verify(token)
        if grant is None:
            return _page("链接无效", "<p>这个上传链接无效或已过期。请在督办助手中重新发送「任务号」，"
                         "点击新的「上传佐证材料」链接。</p>", status=403)
        person = await self.app.store.people.get(grant.person_key)
        if person is None:
            return _page("链接无效", "<p>这个上传链接对应的用户已不存在。</p>", status=403)
        person = current_role(person, self.app.settings.coordinator_keys)
        try:
            plan = next(p for p in await self.app.store.plans.active_plans() if p.id == grant.plan_id)
            task = await self.app.store.plans.task(plan.id, grant.task_no)
        except (UserError, StopIteration):
            return _page("任务不存在", f"<p>办理中的计划里没有这项任务（任务{grant.task_no}）：计划可能已归档。</p>",
                         status=404)
        if not may_see_task(person, task):
            # removed, or moved to another unit since the link was sent: the task's status is no longer theirs to see
            return _page("链接已失效", "<p>这个上传链接已经失效：您现在不是这项任务所属单位的联络员。"
                         "如需上传材料，请在督办助手中发送「任务号」，点击新的「上传佐证材料」链接；如有疑问请联系节水办。</p>",
                         status=403)
        return person, plan, task


async def receive_form(request: web.Request, limit: int,
                       new_file: Callable[[str], Path]) -> tuple[dict[str, str], Upload | None]:
    """Read a multipart form: small fields as text, the "file" part streamed to a temporary file chunk by chunk.

    `new_file(prefix)` makes the temporary file (`App.scratch_file`: per process, so a restart can clean up).
    Raises TooBig past `limit` (declared or streamed) and BadForm, in words, for anything but a well-formed
    multipart form (a raw newline or NUL in a file name breaks the part's headers; a body cut short).
    A file part without a name (nothing was chosen) counts as none and leaves nothing behind; a chosen file
    that is empty is returned, for the core to refuse in words. The caller deletes the temporary file.
    """
    if request.content_type != "multipart/form-data":
        raise BadForm("请在页面中选择文件后提交。")
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise TooBig
    fields: dict[str, str] = {}
    upload: Upload | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file" and upload is None:
                upload = await _stream(part, limit, new_file)
            elif part.name and part.name not in fields:
                raw = await part.read_chunk(FIELD_LIMIT)
                fields[part.name] = raw.decode("utf-8", "replace").strip()
                await part.release()
            else:
                await part.release()
    except BaseException as e:
        if upload is not None:
            upload.path.unlink(missing_ok=True)
        if isinstance(e, HttpProcessingError):  # the part's headers do not parse
            raise BadForm(BAD_PART) from None
        if isinstance(e, ValueError):  # no boundary, another boundary, a body cut short
            raise BadForm(BROKEN) from None
        raise
    if upload is not None and not upload.file_name:
        upload.path.unlink(missing_ok=True)
        upload = None
    return fields, upload


async def _stream(part: BodyPartReader, limit: int, new_file: Callable[[str], Path]) -> Upload:
    path = await asyncio.to_thread(new_file, "upload-")
    handle: IO[bytes] = path.open("wb")
    size = 0
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooBig
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    await asyncio.to_thread(handle.close)
    # No filename: the form's file field was left empty. A name that cleans to nothing still names a file.
    file_name = (_plain_name(part.filename) or "未命名文件") if part.filename else ""
    mime = part.headers.get("Content-Type") or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    return Upload(file_name, path, mime, size)


def refusal_status(e: UserError) -> int:
    """Return the HTTP status of a refused form: 403 not allowed, 404 nothing to act on, 400 otherwise."""
    return 403 if isinstance(e, NotAllowed) else 404 if isinstance(e, NotFound) else 400


@dataclass(frozen=True)
class Uploaded:
    """What became of a form's file: the sentence the person reads, and the refusal when it was not filed."""

    text: str
    refused: UserError | None = None


async def file_upload(actor: Actor, plan: PlanView, task_no: int, item: str, upload: Upload) -> Uploaded:
    """File a form's file through the same evidence action as chat, echo the answer to the person's chat, return it.

    Whether the person may file it there is asked before the file is kept: a refused upload leaves nothing in the
    evidence store.
    """
    item_no = whole_number(item, limit=MAX_ITEM)
    refused = None
    try:
        if item_no is None:
            raise UserError("请选择这份文件对应的材料。")
        evidence.item_for_upload(actor, await actor.store.plans.task(plan.id, task_no), item_no)
        blob = await evidence.keep_file(actor, Attachment(upload.file_name, upload.path, upload.mime_type, upload.size))
        filed = await evidence.file_evidence(actor, plan, blob, task_no, item_no)
        text = filed.summary() + ("，可以提交审核。" if filed.ready else "")
    except UserError as e:
        refused, text = e, f"「{evidence.kept_name(upload.file_name)}」未归档：{e.message}"
    stamp = actor.now.isoformat()
    await actor.services.push(Push(actor.person.chat, Reply(f"（网页上传）{text}"),
                                   dedupe_key=f"upload:{actor.key}:{task_no}-{item_no}:{upload.path.name}:{stamp}"))
    return Uploaded(text, refused)


@dataclass(frozen=True)
class Upload:
    """A file received from a form, in a temporary file until filed."""

    file_name: str
    path: Path
    mime_type: str
    size: int


class TooBig(Exception):
    """The file part grew past DUBAN_UPLOAD_MAX_MB."""


class BadForm(Exception):
    """The request is not a form the page could have sent; the message says so in Chinese."""


def _plain_name(name: str) -> str:
    """Undo the percent-encoding some clients (aiohttp, older libraries) apply to a multipart filename."""
    if name.isascii() and _PERCENT.search(name):
        try:
            return unquote(name, errors="strict")
        except UnicodeDecodeError:
            return name
    return name


def _too_big(max_mb: int) -> web.Response:
    return _page("文件太大", f"<p>文件超过了 {max_mb}MB 的上限，没有保存。请压缩或拆分后再上传。</p>", status=413)


def _back(request: web.Request, label: str = "返回") -> str:
    return f'<p><a class="button" href="{html.escape(request.path)}">{html.escape(label)}</a></p>'


def _form(person: PersonView, task: TaskView, max_mb: int, today: dt.date, item: str = "") -> str:
    """The page's form; `item` (from a link such as a returned item's) is the item chosen first."""
    e = html.escape
    text = task.text if len(task.text) <= 120 else task.text[:119] + "…"
    rows = []
    for i in task.items:
        got = (f"已收{i.files}个文件" if i.files else "未收") + (f"；已退回：{i.returned}" if i.returned else "")
        rows.append(f'<li class="{"done" if i.files else "todo"}"><span class="mark"></span>{i.no}. {e(i.title)}'
                    f' <span class="got">（{got}）</span></li>')
    default = next((i.no for i in task.items if str(i.no) == item), None) or next(
        (i.no for i in task.items if not i.files), task.items[0].no if task.items else 0)
    options = "".join(f'<option value="{i.no}"{" selected" if i.no == default else ""}>'
                      f'{i.no}. {e(i.title)}</option>' for i in task.items)
    overdue = "（已逾期）" if task.status.is_open and task.deadline < today else ""
    head = (f"<h1>任务{task.no}</h1><p class=\"text\">{e(text)}</p>"
            f"<p class=\"meta\">牵头单位：{e(task.lead)}<br>完成时间：{e(deadline_line(task))}"
            f"{overdue}<br>状态：{e(task.status.label)}<br>"
            f"提交人：{e(person.display)}（{e(person.unit or ('节水办' if person.coordinator else '未绑定单位'))}）</p>")
    if not task.items:
        return head + "<p>本任务不要求提交佐证材料。</p>"
    return (head + f"<h2>佐证材料（已收 {task.evidence_done}/{len(task.items)}）</h2><ul>{''.join(rows)}</ul>"
            '<form method="post" enctype="multipart/form-data">'
            '<label for="item">这份文件是哪一项材料</label>'
            f'<select id="item" name="item">{options}</select>'
            '<label for="file">选择文件（任意类型）</label>'
            '<input id="file" name="file" type="file" required>'
            f'<p class="hint">单个文件不超过 {max_mb}MB。提交后，督办助手也会在聊天中告诉您结果。</p>'
            '<button type="submit">上传</button></form>')


_CSS = ("body{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;padding:16px;"
        "background:#f5f6f7;color:#222;line-height:1.6;font-size:16px}"
        "main{max-width:560px;margin:0 auto;background:#fff;border-radius:8px;padding:16px}"
        "h1{font-size:20px;margin:0 0 8px}h2{font-size:17px;margin:16px 0 4px}"
        ".meta,.hint,.got{color:#666;font-size:14px}ul{padding-left:0;list-style:none}li{margin:4px 0}"
        "label{display:block;margin-top:12px;font-weight:600}"
        "select,input[type=file]{display:block;width:100%;margin-top:4px;font-size:16px;box-sizing:border-box}"
        "select{padding:8px}button,.button{display:block;width:100%;margin-top:16px;padding:12px;font-size:17px;"
        "background:#07c160;color:#fff;border:0;border-radius:6px;text-align:center;text-decoration:none}"
        ".result p,.error p{margin:6px 0}"
        ".error{background:#fdecea;border-left:4px solid #c62828;color:#8e1c1c;padding:6px 12px}"
        ".mark{display:inline-block;width:14px;height:14px;border:2px solid #90a4ae;border-radius:3px;margin-right:6px;"
        "vertical-align:-2px}.done>.mark{background:#2e7d32;border-color:#2e7d32;box-shadow:inset 0 0 0 2px #fff}")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
           f"<title>{html.escape(title)} · 督办助手</title><style>{_CSS}</style></head>"
           f"<body><main>{body}</main></body></html>")
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the token is in the URL
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                   "frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(text=doc, content_type="text/html", charset="utf-8", status=status, headers=headers)
