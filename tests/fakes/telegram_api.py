"""A fake Telegram Bot API server speaking real HTTP (aiohttp.web).

Point python-telegram-bot at it the way a self-hosted ``telegram-bot-api`` server is used::

    tg = FakeTelegram()
    root = await tg.start()
    app = (ApplicationBuilder().token(tg.token)
           .base_url(f"{root}/bot").base_file_url(f"{root}/file/bot").build())

then drive the bot like users would (``send_text``, ``send_document``, ``send_photo``, ``press_button``)
and look at what the bot did (``calls``, ``sent``, ``wait_for``).  Shapes, error descriptions and
HTTP status codes follow the cloud Bot API, so PTB raises the same exceptions it would in production
(400 BadRequest, 401/404 InvalidToken, 403 Forbidden, 409 Conflict, 429 RetryAfter).

Things the real server does that this fake also does (so bugs show up in tests, not in production):
HTML / MarkdownV2 parse errors ("can't parse entities"), "message is not modified", 4096-character
text limit, 1024-character caption limit, 64-byte callback_data limit, 20 MB getFile limit, answering a
callback query only once, editMessageText without reply_markup removing the inline keyboard,
getUpdates conflicts (webhook active / a second concurrent poller), webhook delivery with the secret
token header.

With ``flood_limits=True`` it also holds a bot to Telegram's flood limits, read strictly: at most 30 messages in
any second overall, 1 a second in one private chat, 20 in any minute in one group. A message over a limit is
answered 429 "Too Many Requests: retry after N" with ``parameters.retry_after`` (the seconds until it would fit),
as the real server does; off by default, since tests send a reply's parts back to back.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["FakeTelegram", "Upload"]

MAX_DOWNLOAD_SIZE = 20 << 20  # getFile refuses files above 20 MB (cloud Bot API)
MAX_UPLOAD_SIZE = 50_000_000  # multipart uploads above 50 MB: 413
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

# Parameters that are always strings in the Bot API; everything else arrives JSON-encoded from PTB
# (ints, bools, objects) and is decoded with json.loads when possible.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "secret_token",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "action",
        "data",
        "query",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "ip_address",
        "message_effect_id",
        "document",
        "photo",
        "audio",
        "video",
        "voice",
        "animation",
        "sticker",
        "thumbnail",
        "certificate",
    }
)

# Telegram's flood limits: (messages, seconds) overall, per private chat, per group
FLOOD_OVERALL = (30, 1.0)
FLOOD_PRIVATE = (1, 1.0)
FLOOD_GROUP = (20, 60.0)
_MESSAGE_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto"})

_METHOD_RE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[^/]*)/?$")
_FILE_RE = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


class Upload(dict):  # type: ignore[type-arg]
    """A multipart file part as recorded in ``calls``: keys ``file_name``, ``mime_type``, ``file_bytes``."""


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


_PENDING = object()


def _u16(text: str) -> int:
    """Length in UTF-16 code units (what Telegram entity offsets count)."""
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------------
# Formatting: enough of Telegram's parsers to reject what Telegram rejects and return plain text.
# ---------------------------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entities(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1)))
        if m.group(2):
            return chr(int(m.group(2), 16))
        return _NAMED_ENTITIES[m.group(3)]

    return _HTML_ENTITY_RE.sub(repl, text)


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode (after tdlib's parse_html). Raises _ApiError 400 like the server."""
    text = text.strip()
    n = len(text)

    def err(what: str) -> _ApiError:
        return _bad(f"can't parse entities: {what}")

    def boff(pos: int) -> int:
        return len(text[:pos].encode())

    out: list[str] = []
    u16 = 0
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        ch = text[i]
        if ch == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if m:
                dec = _decode_html_entities(m.group(0))
                out.append(dec)
                u16 += _u16(dec)
                i = m.end()
                continue
        if ch != "<":
            out.append(ch)
            u16 += _u16(ch)
            i += 1
            continue
        start = i
        i += 1
        if i < n and text[i] == "/":  # end tag
            if not stack:
                raise err(f"Unexpected end tag at byte offset {boff(start)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise err(f"Unclosed end tag at byte offset {boff(start)}")
            top = stack.pop()
            if end_name and end_name != top["tag"]:
                raise err(
                    f'Unmatched end tag at byte offset {boff(start)}, expected "</{top["tag"]}>", found "</{end_name}>"'
                )
            _close_html_entity(top, u16, stack, entities)
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise err(f"Unclosed start tag at byte offset {boff(start)}")
        tag = text[i:j].lower()
        if tag not in _HTML_TAGS:
            raise err(f'Unsupported start tag "{tag}" at byte offset {boff(start)}')
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise err(f'Unclosed start tag "{tag}" at byte offset {boff(start)}')
            if text[j] == ">":
                j += 1
                break
            a0 = j
            while j < n and not text[j].isspace() and text[j] not in "=>/\"'":
                j += 1
            attr = text[a0:j].lower()
            if not attr:
                raise err(f'Empty attribute name in the tag "{tag}" at byte offset {boff(start)}')
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise err(f'Unclosed start tag "{tag}" at byte offset {boff(start)}')
            if text[j] != "=":
                attrs[attr] = ""
                continue
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise err(f'Unclosed start tag "{tag}" at byte offset {boff(start)}')
            if text[j] in "\"'":
                k = text.find(text[j], j + 1)
                if k < 0:
                    raise err(f"Unclosed start tag at byte offset {boff(start)}")
                value = _decode_html_entities(text[j + 1 : k])
                j = k + 1
            else:
                v0 = j
                while j < n and (text[j].isascii() and (text[j].isalnum() or text[j] in ".-")):
                    j += 1
                value = text[v0:j].lower()
                if j < n and not text[j].isspace() and text[j] != ">":
                    raise err(f"Unexpected end of name token at byte offset {boff(j)}")
            attrs[attr] = value
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise err(f'Tag "span" must have class "tg-spoiler" at byte offset {boff(start)}')
        stack.append({"tag": tag, "attrs": attrs, "offset": u16})
        i = j
    if stack:
        raise err(f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"')
    plain = "".join(out).rstrip()
    limit = _u16(plain)
    clipped = []
    for e in entities:
        if e["offset"] >= limit:
            continue
        e["length"] = min(e["length"], limit - e["offset"])
        clipped.append(e)
    clipped.sort(key=lambda e: (e["offset"], -e["length"]))
    return plain, clipped


def _close_html_entity(
    top: dict[str, Any], u16: int, stack: list[dict[str, Any]], entities: list[dict[str, Any]]
) -> None:
    tag, attrs, offset = top["tag"], top["attrs"], top["offset"]
    if u16 <= offset:
        return
    ent: dict[str, Any] = {"type": _HTML_TAGS[tag], "offset": offset, "length": u16 - offset}
    if tag == "a":
        ent["url"] = attrs.get("href", "")
    elif tag == "tg-emoji":
        ent["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif tag == "blockquote" and "expandable" in attrs:
        ent["type"] = "expandable_blockquote"
    elif tag == "code" and stack and stack[-1]["tag"] == "pre" and stack[-1]["offset"] == offset:
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1]["language"] = language.removeprefix("language-")
        return  # <pre><code class="language-x"> is one pre entity
    elif tag == "pre" and top.get("language"):
        ent["language"] = top["language"]
    entities.append(ent)


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_KINDS = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler"}


def _parse_markdown_v2(text: str) -> str:
    """Checks MarkdownV2 the way Telegram rejects it; returns the (approximate) plain text."""
    n = len(text)

    def err(what: str) -> _ApiError:
        return _bad(f"can't parse entities: {what}")

    def boff(pos: int) -> int:
        return len(text[:pos].encode())

    out: list[str] = []
    open_marks: list[tuple[str, int]] = []
    link_open: list[int] = []
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            fence = "```" if text.startswith("```", i) else "`"
            j = i + len(fence)
            body: list[str] = []
            while j < n and not text.startswith(fence, j):
                if text[j] == "\\" and j + 1 < n:
                    body.append(text[j + 1])
                    j += 2
                    continue
                body.append(text[j])
                j += 1
            if j >= n:
                kind = "PreCode" if fence == "```" else "Code"
                raise err(f"Can't find end of {kind} entity at byte offset {boff(i)}")
            content = "".join(body)
            if fence == "```" and "\n" in content:
                first, rest = content.split("\n", 1)
                content = rest if first and " " not in first else content
            out.append(content)
            i = j + len(fence)
            continue
        mark = None
        if c == "_":
            mark = "__" if text.startswith("__", i) else "_"
        elif c in "*~":
            mark = c
        elif c == "|" and text.startswith("||", i):
            mark = "||"
        if mark is not None:
            if open_marks and open_marks[-1][0] == mark:
                open_marks.pop()
            else:
                open_marks.append((mark, i))
            i += len(mark)
            continue
        if c == "[":
            link_open.append(i)
            i += 1
            continue
        if c == "]" and link_open:
            link_open.pop()
            i += 1
            if i < n and text[i] == "(":
                j = i + 1
                while j < n and text[j] != ")":
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    raise err(f"Can't find end of a URL at byte offset {boff(i)}")
                i = j + 1
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if c in _MDV2_RESERVED:
            raise err(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        out.append(c)
        i += 1
    if open_marks:
        mark, pos = open_marks[-1]
        raise err(f"Can't find end of {_MDV2_KINDS[mark]} entity at byte offset {boff(pos)}")
    if link_open:
        raise err(f"Can't find end of TextUrl entity at byte offset {boff(link_open[-1])}")
    return "".join(out).strip()


def _parse_markdown_legacy(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "*_`":
            fence = "```" if text.startswith("```", i) else c
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise _bad(
                    "can't parse entities: Can't find end of the entity starting at byte offset "
                    f"{len(text[:i].encode())}"
                )
            out.append(text[i + len(fence) : end])
            i = end + len(fence)
            continue
        if c == "[":
            m = re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])
            if m:
                out.append(m.group(1))
                i += m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out).strip()


def _render(text: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) for a text/caption as Telegram would store it."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text), []
    if mode == "markdown":
        return _parse_markdown_legacy(text), []
    if mode:
        raise _bad(f"unsupported parse_mode {parse_mode!r}")
    return text.strip(), list(entities) if isinstance(entities, list) else []


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """Entities a real client/server attaches to a user's message: /command at the start, @mentions."""
    entities: list[dict[str, Any]] = []
    if text.startswith("/"):
        cmd = text.split(maxsplit=1)[0] if text.strip() else text
        entities.append({"type": "bot_command", "offset": 0, "length": _u16(cmd)})
    for m in re.finditer(r"(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{3,31}", text):
        if entities and m.start() < entities[0]["length"] and entities[0]["type"] == "bot_command":
            continue
        entities.append({"type": "mention", "offset": _u16(text[: m.start()]), "length": _u16(m.group(0))})
    return entities


def _check_reply_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
            if not actions:
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")


def _inline_only(markup: Any) -> dict[str, Any] | None:
    """Telegram echoes only inline keyboards in Message.reply_markup."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _callback_datas(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


# ---------------------------------------------------------------------------------------------------


class FakeTelegram:
    """A Telegram Bot API server for tests. See the module docstring."""

    MAX_DOWNLOAD_SIZE = MAX_DOWNLOAD_SIZE

    def __init__(self, token: str = "123:TEST", bot_username: str = "duban_bot", *, flood_limits: bool = False,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self.flood_limits = flood_limits
        self._monotonic = monotonic
        self.bot_username = bot_username
        bot_id = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 123,
            "is_bot": True,
            "first_name": "督办助手",
            "username": bot_username,
        }
        self.root = ""
        # --- what the bot did ---
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[dict[str, Any]] = []
        self.errors: list[tuple[str, int, str]] = []  # (method, status, description) of every error answered
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        # --- state ---
        self._outcomes: list[Any] = []
        self._call_mark = 0
        self._sent_mark = 0
        self._cond = asyncio.Condition()
        self._updates_event = asyncio.Event()
        self._pending: list[dict[str, Any]] = []  # unconfirmed updates, in order
        self._all_updates: dict[int, dict[str, Any]] = {}
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}  # current state of every message
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._paths: dict[str, str] = {}  # file_path -> file_id
        self._file_seq = itertools.count(1)
        self._query_seq = itertools.count(1)
        self._callbacks: dict[str, dict[str, Any]] = {}  # unanswered callback queries
        self._failures: list[dict[str, Any]] = []
        self._stalls: dict[str, tuple[float, asyncio.Event]] = {}
        self._message_times: list[float] = []  # arrivals of accepted messages (monotonic), for the flood limits
        self.arrivals: list[tuple[float, int]] = []  # with flood_limits: (monotonic time, chat_id) of each accepted
        self._chat_times: dict[int, list[float]] = {}
        self._poll_generation = 0
        self._webhook_errors: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, tuple[str, Callable[[dict[str, Any]], Awaitable[Any]]]] = {}
        for name, handler in [
            ("getMe", self._get_me),
            ("logOut", self._true),
            ("close", self._true),
            ("deleteWebhook", self._delete_webhook),
            ("setWebhook", self._set_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("getUpdates", self._get_updates),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageCaption", self._edit_message_caption),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("getFile", self._get_file),
            ("sendDocument", self._send_document),
            ("sendPhoto", self._send_photo),
            ("sendChatAction", self._send_chat_action),
            ("setMyCommands", self._set_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("getChat", self._get_chat),
        ]:
            self._handlers[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Serve on 127.0.0.1 (free port); returns the root url ``http://127.0.0.1:PORT``."""
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + (1 << 20))
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"
        return self.root

    async def close(self) -> None:
        self._closing = True
        self._wake_pollers()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``."""
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.root}/file/bot"

    # ------------------------------------------------------------------ driving the bot like users

    def user(self, user_id: int, first_name: str = "用户") -> dict[str, Any]:
        """Register (or rename) a user and their private chat; returns the User object."""
        u = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}
        self._users[user_id] = u
        self._chats[user_id] = {"id": user_id, "type": "private", "first_name": first_name}
        return u

    def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        chat_type: str = "private",
        chat_title: str = "",
        *,
        reply_to: dict[str, Any] | None = None,
    ) -> int:
        """Enqueue a text message from a user; returns the update_id.

        ``chat_id`` None (or == user_id) means the private chat.  A negative chat_id with the default
        chat_type becomes a "supergroup".  ``reply_to``: a message dict (e.g. from ``sent``) being replied to.
        """
        chat = self._user_chat(user_id, chat_id, chat_type, chat_title)
        fields: dict[str, Any] = {"text": text}
        entities = _auto_entities(text)
        if entities:
            fields["entities"] = entities
        return self._enqueue_message(user_id, chat, fields, reply_to)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str = "",
        chat_id: int | None = None,
        media_group_id: str | None = None,
        *,
        declared_size: int | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> int:
        """Enqueue a document message; the bytes are downloadable via getFile.

        ``declared_size`` overrides ``file_size`` (e.g. 25 MB so getFile answers "file is too big").
        """
        chat = self._user_chat(user_id, chat_id, "private", "")
        f = self._store_file(data, kind="documents", file_name=file_name, size=declared_size)
        doc = {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": f["file_id"],
            "file_unique_id": f["file_unique_id"],
            "file_size": f["file_size"],
        }
        fields: dict[str, Any] = {"document": doc}
        self._add_caption(fields, caption, media_group_id)
        return self._enqueue_message(user_id, chat, fields, reply_to)

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        caption: str = "",
        chat_id: int | None = None,
        media_group_id: str | None = None,
        *,
        reply_to: dict[str, Any] | None = None,
    ) -> int:
        """Enqueue a photo: 3 PhotoSizes, the last (largest) holds ``data``, smaller ones other bytes."""
        chat = self._user_chat(user_id, chat_id, "private", "")
        fields: dict[str, Any] = {"photo": self._photo_sizes(data)}
        self._add_caption(fields, caption, media_group_id)
        return self._enqueue_message(user_id, chat, fields, reply_to)

    def press_button(self, user_id: int, message: dict[str, Any], data: str, *, forged: bool = False) -> int:
        """Enqueue a callback_query for a button on a message the bot sent (a dict from ``sent``).

        ``forged=True`` sends data that no button carries, as a hand-crafted client can.
        """
        chat_id = message["chat"]["id"] if "chat" in message else message["chat_id"]
        current = self._messages.get((chat_id, message["message_id"]))
        if current is None:
            raise AssertionError(f"message {message['message_id']} in chat {chat_id} does not exist (deleted?)")
        buttons = _callback_datas(current)
        if data not in buttons and not forged:
            raise AssertionError(
                f"no button with callback_data {data!r} on message {current['message_id']} "
                f"in chat {chat_id}; its buttons: {buttons}"
            )
        user = self._users.get(user_id) or self.user(user_id)
        query_id = f"{user_id}{next(self._query_seq):06d}"
        query = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(current),
            "chat_instance": str(abs(hash(("ci", chat_id))) % 10**18),
            "data": data,
        }
        self._callbacks[query_id] = query
        return self._enqueue({"callback_query": query})

    def set_file_too_big(self, file_id: str, size: int = 25 << 20) -> None:
        """Make an existing file claim ``size`` bytes (getFile then answers 400 "file is too big")."""
        self._files[file_id]["file_size"] = size

    def update(self, update_id: int) -> dict[str, Any]:
        """The Update enqueued under ``update_id`` (e.g. to read a document's file_id)."""
        return self._all_updates[update_id]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset (or not yet delivered to the webhook)."""
        return list(self._pending)

    # ------------------------------------------------------------------ what the bot did

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of a message (after edits), as Telegram would show it; None when deleted."""
        return self._messages.get((chat_id, message_id))

    async def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool] | None = None,
        method: str = "sendMessage",
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of this helper's API
    ) -> list[dict[str, Any]]:
        """Wait for activity since the previous successful ``wait_for``.

        Without ``predicate``: until at least ``count`` requests of ``method`` were answered (failed ones
        included).  Returns one dict per such request: the Message it produced (the same dict as in
        ``sent``) or, for other methods / failed requests, its decoded params.
        With ``predicate``: until ``predicate(messages sent since the previous wait)`` is true; returns
        those messages.
        """
        call_mark, sent_mark = self._call_mark, self._sent_mark

        def matching() -> list[int]:
            return [
                i
                for i in range(call_mark, len(self.calls))
                if self.calls[i][0] == method and self._outcomes[i] is not _PENDING
            ]

        def done() -> bool:
            if predicate is not None:
                return bool(predicate(self.sent[sent_mark:]))
            return len(matching()) >= count

        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(done), timeout)
            except TimeoutError:
                seen = [
                    (name, params.get("chat_id"), params.get("text", params.get("caption")))
                    for name, params in self.calls[call_mark:]
                    if name != "getUpdates"
                ]
                want = "predicate" if predicate is not None else f"{count} x {method}"
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {want}; requests since last wait: {seen}; "
                    f"errors: {self.errors}"
                ) from None
            self._call_mark = len(self.calls)
            self._sent_mark = len(self.sent)
            if predicate is not None:
                return self.sent[sent_mark:]
            result = []
            for i in matching():
                outcome = self._outcomes[i]
                is_message = isinstance(outcome, dict) and "message_id" in outcome
                result.append(outcome if is_message else self.calls[i][1])
            return result

    # ------------------------------------------------------------------ error injection

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (optionally only for ``chat_id``) with an error.

        e.g. ``fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)``,
        ``fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=42)``.
        """
        self._failures.append(
            {
                "method": method.lower(),
                "status": status,
                "description": description,
                "retry_after": retry_after,
                "chat_id": chat_id,
                "times": times,
            }
        )

    def stall_next(self, method: str, seconds: float) -> asyncio.Event:
        """Hold the next call of ``method`` ``seconds`` before answering it (a slow or stuck server).

        Returns an event set when that call arrived (it is being held).
        """
        arrived = asyncio.Event()
        self._stalls[method.lower()] = (seconds, arrived)
        return arrived

    # ------------------------------------------------------------------ internals: users' side

    def _user_chat(self, user_id: int, chat_id: int | None, chat_type: str, title: str) -> dict[str, Any]:
        if user_id not in self._users:
            self.user(user_id)
        if chat_id is None or chat_id == user_id:
            return self._chats[user_id]
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_type == "private":
                chat_type = "supergroup" if chat_id < 0 else "private"
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = "用户"
            else:
                chat["title"] = title or f"群{abs(chat_id)}"
            self._chats[chat_id] = chat
        elif title and "title" in chat:
            chat["title"] = title
        return chat

    def _chat_for_bot(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, str):
            with contextlib.suppress(ValueError):
                chat_id = int(chat_id)
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        chat = self._chats.get(chat_id)
        if chat is None:  # lenient: a chat the test never mentioned
            if chat_id > 0:
                self.user(chat_id)
                chat = self._chats[chat_id]
            else:
                chat = {"id": chat_id, "type": "supergroup", "title": f"群{abs(chat_id)}"}
                self._chats[chat_id] = chat
        return chat

    def _add_caption(self, fields: dict[str, Any], caption: str, media_group_id: str | None) -> None:
        if caption:
            fields["caption"] = caption
            entities = _auto_entities(caption)
            if entities:
                fields["caption_entities"] = entities
        if media_group_id is not None:
            fields["media_group_id"] = media_group_id

    def _new_message(self, chat: dict[str, Any], sender: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        counter = self._message_ids.setdefault(chat["id"], itertools.count(1))
        msg = {"message_id": next(counter), "from": sender, "chat": chat, "date": int(time.time()), **fields}
        self._messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def _enqueue_message(
        self, user_id: int, chat: dict[str, Any], fields: dict[str, Any], reply_to: dict[str, Any] | None
    ) -> int:
        if reply_to is not None:
            original = self._messages.get((chat["id"], reply_to["message_id"]))
            if original is not None:
                fields["reply_to_message"] = copy.deepcopy(original)
        msg = self._new_message(chat, self._users[user_id], fields)
        return self._enqueue({"message": copy.deepcopy(msg)})

    def _enqueue(self, body: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **body}
        self._pending.append(update)
        self._all_updates[update_id] = update
        self._wake_pollers()
        return update_id

    def _wake_pollers(self) -> None:
        event, self._updates_event = self._updates_event, asyncio.Event()
        event.set()

    def _store_file(self, data: bytes, kind: str, file_name: str = "", size: int | None = None) -> dict[str, Any]:
        n = next(self._file_seq)
        prefix = {"documents": "BQACAgUAAxkB", "photos": "AgACAgUAAxkB"}.get(kind, "CAACAgUAAxkB")
        f = {
            "file_id": f"{prefix}{n:08d}",
            "file_unique_id": f"AQAD{n:06d}",
            "file_size": len(data) if size is None else size,
            "data": data,
            "kind": kind,
            "file_name": file_name,
            "file_path": None,
        }
        self._files[f["file_id"]] = f
        return f

    def _photo_sizes(self, data: bytes) -> list[dict[str, Any]]:
        digest = hashlib.sha1(data).hexdigest().encode()
        sizes = []
        for width, height, blob in [
            (90, 68, b"\xff\xd8\xff\xe0small-90:" + digest),
            (320, 240, b"\xff\xd8\xff\xe0medium-320:" + digest * 4),
            (1280, 960, data),
        ]:
            f = self._store_file(blob, kind="photos")
            sizes.append(
                {
                    "file_id": f["file_id"],
                    "file_unique_id": f["file_unique_id"],
                    "file_size": f["file_size"],
                    "width": width,
                    "height": height,
                }
            )
        return sizes

    # ------------------------------------------------------------------ internals: HTTP

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        m = _FILE_RE.match(request.path)
        if m and request.method in ("GET", "HEAD"):
            return self._serve_file(m.group("token"), m.group("path"))
        m = _METHOD_RE.match(request.path)
        if m is None:
            return web.json_response(_ApiError(404, "Not Found").body(), status=404)
        if m.group("token") != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            return web.json_response(_bad(f"can't parse request: {exc}").body(), status=400)
        raw_name = m.group("method")
        name, handler = self._handlers.get(raw_name.lower(), (raw_name, None))
        index = len(self.calls)
        self.calls.append((name, params))
        self._outcomes.append(_PENDING)
        if (stall := self._stalls.pop(name.lower(), None)) is not None:
            stall[1].set()
            await asyncio.sleep(stall[0])
        try:
            self._maybe_fail(name, params)
            if self.flood_limits and name in _MESSAGE_METHODS:
                self._check_flood(params.get("chat_id"))
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except _ApiError as exc:
            self._outcomes[index] = exc
            self.errors.append((name, exc.status, exc.description))
            response = web.json_response(exc.body(), status=exc.status)
        else:
            body: dict[str, Any] = {"ok": True}
            if isinstance(result, _Reply):
                body["result"] = result.result
                if result.description:
                    body["description"] = result.description
                self._outcomes[index] = result.recorded if result.recorded is not None else result.result
            else:
                body["result"] = result
                self._outcomes[index] = result
            response = web.json_response(body)
        async with self._cond:
            self._cond.notify_all()
        return response

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("JSON body must be an object")
                raw.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        raw[key] = Upload(
                            file_name=value.filename,
                            mime_type=value.content_type,
                            file_bytes=value.file.read(),
                        )
                    else:
                        raw[key] = value
        return {key: self._decode(key, value) for key, value in raw.items()}

    @staticmethod
    def _decode(key: str, value: Any) -> Any:
        if not isinstance(value, str) or isinstance(value, Upload) or key in _STRING_FIELDS:
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    def _maybe_fail(self, name: str, params: dict[str, Any]) -> None:
        for rule in self._failures:
            if rule["method"] != name.lower():
                continue
            if rule["chat_id"] is not None and params.get("chat_id") != rule["chat_id"]:
                continue
            rule["times"] -= 1
            if rule["times"] <= 0:
                self._failures.remove(rule)
            parameters = {"retry_after": rule["retry_after"]} if rule["retry_after"] is not None else None
            raise _ApiError(rule["status"], rule["description"], parameters)

    def _check_flood(self, chat_id: Any) -> None:
        """Refuse a message over Telegram's limits with 429 and the seconds until it would fit; else count it."""
        now = self._monotonic()
        chat = chat_id if isinstance(chat_id, int) else 0
        per_chat = FLOOD_GROUP if chat < 0 else FLOOD_PRIVATE
        chat_times = self._chat_times.setdefault(chat, [])
        wait = 0.0
        for times, (most, period) in ((self._message_times, FLOOD_OVERALL), (chat_times, per_chat)):
            while times and times[0] <= now - period:
                times.pop(0)
            if len(times) >= most:
                wait = max(wait, times[len(times) - most] + period - now)
        if wait > 0:
            retry_after = max(1, int(wait + 0.999))
            raise _ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        self._message_times.append(now)
        chat_times.append(now)
        self.arrivals.append((now, chat))

    def _serve_file(self, token: str, path: str) -> web.Response:
        if token != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        file_id = self._paths.get(path)
        if file_id is None:
            return web.json_response(_ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=self._files[file_id]["data"], content_type="application/octet-stream")

    # ------------------------------------------------------------------ Bot API methods

    async def _true(self, params: dict[str, Any]) -> Any:
        return True

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _delete_webhook(self, params: dict[str, Any]) -> Any:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        was_set = self.webhook is not None
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        return _Reply(True, description="Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _set_webhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not re.match(r"^https?://", url):
            raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        already = self.webhook is not None and self.webhook.get("url") == url
        self.webhook = {k: v for k, v in params.items() if not isinstance(v, Upload)}
        self.webhook.setdefault("secret_token", None)
        self._poll_generation += 1  # a waiting getUpdates now gets 409
        self._wake_pollers()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhook())
        return _Reply(True, description="Webhook is already set" if already else "Webhook was set")

    async def _get_webhook_info(self, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            info["ip_address"] = "127.0.0.1"
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self._webhook_errors:
                info["last_error_date"], info["last_error_message"] = self._webhook_errors
        return info

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older poller still waiting gets 409, like the real server
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._updates_event
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if self._pending or self._closing or remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return copy.deepcopy(self._pending[:limit])

    async def _deliver_webhook(self) -> None:
        async with aiohttp.ClientSession() as session:
            while self.webhook is not None and not self._closing:
                event = self._updates_event
                if not self._pending:
                    await event.wait()
                    continue
                update = self._pending[0]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
                try:
                    async with session.post(
                        self.webhook["url"], json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                    ) as resp:
                        ok = 200 <= resp.status < 300
                        error = None if ok else f"Wrong response from the webhook: {resp.status} {resp.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"Connection failed: {exc!r}"
                if error is None:
                    if self._pending and self._pending[0] is update:
                        self._pending.pop(0)
                    continue
                self._webhook_errors = (int(time.time()), error)
                with contextlib.suppress(TimeoutError):  # retry after a short back-off or on news
                    await asyncio.wait_for(self._updates_event.wait(), 0.5)

    def _bot_message(
        self,
        method: str,
        params: dict[str, Any],
        fields: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> _Reply:
        chat = self._chat_for_bot(params.get("chat_id"))
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        reply_to = params.get("reply_parameters") or {}
        reply_id = reply_to.get("message_id") if isinstance(reply_to, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        if reply_id:
            original = self._messages.get((chat["id"], int(reply_id)))
            if original is None:
                if not (reply_to.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")):
                    raise _bad("message to be replied not found")
            else:
                fields["reply_to_message"] = copy.deepcopy(original)
        inline = _inline_only(markup)
        if inline is not None:
            fields["reply_markup"] = inline
        msg = self._new_message(chat, self.bot_user, fields)
        return self._record(method, msg, params, extra)

    def _record(
        self, method: str, msg: dict[str, Any], params: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> _Reply:
        payload = copy.deepcopy(msg)
        entry = copy.deepcopy(msg)
        entry.update(
            method=method,
            chat_id=msg["chat"]["id"],
            text=msg.get("text", msg.get("caption", "")),
            raw_text=params.get("text", params.get("caption", "")),
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup", msg.get("reply_markup")),
        )
        entry.update(extra or {})
        self.sent.append(entry)
        return _Reply(payload, recorded=entry)

    def _text_fields(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        plain, entities = _render(text, params.get("parse_mode"), params.get("entities"))
        if not plain:
            raise _bad("text must be non-empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        fields: dict[str, Any] = {"text": plain}
        if entities:
            fields["entities"] = entities
        return fields

    def _caption_fields(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if not caption:
            return {}
        plain, entities = _render(str(caption), params.get("parse_mode"), params.get("caption_entities"))
        if len(plain) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        fields: dict[str, Any] = {"caption": plain} if plain else {}
        if entities:
            fields["caption_entities"] = entities
        return fields

    async def _send_message(self, params: dict[str, Any]) -> Any:
        return self._bot_message("sendMessage", params, self._text_fields(params))

    def _message_to_edit(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if params.get("inline_message_id"):
            return None
        if params.get("chat_id") is None or params.get("message_id") is None:
            raise _bad("message identifier is not specified")
        chat = self._chat_for_bot(params["chat_id"])
        msg = self._messages.get((chat["id"], int(params["message_id"])))
        if msg is None:
            raise _bad("message to edit not found")
        if msg["from"]["id"] != self.bot_user["id"]:
            raise _bad("message can't be edited")
        return msg

    def _apply_edit(self, method: str, msg: dict[str, Any], changes: dict[str, Any], params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        new = {k: v for k, v in msg.items() if k not in ("reply_markup", "edit_date") and k not in changes}
        new.update(changes)
        new = {k: v for k, v in new.items() if v is not None}
        inline = _inline_only(markup)
        if inline is not None:
            new["reply_markup"] = inline

        def content(m: dict[str, Any]) -> tuple[Any, ...]:
            keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
            return tuple(m.get(k) for k in keys)

        if content(new) == content(msg):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly the "
                "same as a content and reply markup of the current message"
            )
        new["edit_date"] = int(time.time())
        self._messages[(msg["chat"]["id"], msg["message_id"])] = new
        return self._record(method, new, params)

    async def _edit_message_text(self, params: dict[str, Any]) -> Any:
        fields = self._text_fields(params)
        msg = self._message_to_edit(params)
        if msg is None:
            return True
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        return self._apply_edit("editMessageText", msg, {"entities": None, **fields}, params)

    async def _edit_message_caption(self, params: dict[str, Any]) -> Any:
        fields = self._caption_fields(params)
        msg = self._message_to_edit(params)
        if msg is None:
            return True
        if "text" in msg:
            raise _bad("there is no caption in the message to edit")
        changes = {"caption": None, "caption_entities": None, **fields}
        return self._apply_edit("editMessageCaption", msg, changes, params)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        msg = self._message_to_edit(params)
        if msg is None:
            return True
        return self._apply_edit("editMessageReplyMarkup", msg, {}, params)

    async def _delete_message(self, params: dict[str, Any]) -> Any:
        chat = self._chat_for_bot(params.get("chat_id"))
        if self._messages.pop((chat["id"], int(params.get("message_id") or 0)), None) is None:
            raise _bad("message to delete not found")
        return True

    async def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if self._callbacks.pop(query_id, None) is None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self.answered_callbacks[query_id] = params
        return True

    async def _get_file(self, params: dict[str, Any]) -> Any:
        f = self._files.get(str(params.get("file_id") or ""))
        if f is None:
            raise _bad("invalid file_id")
        if f["file_size"] > MAX_DOWNLOAD_SIZE:
            raise _bad("file is too big")
        if f["file_path"] is None:
            n = f["file_id"][-8:].lstrip("0") or "0"
            if f["kind"] == "photos":
                ext = ".jpg"
            else:
                suffix = f["file_name"].rsplit(".", 1)[-1] if "." in f["file_name"] else ""
                ext = f".{suffix}" if suffix else ""
            f["file_path"] = f"{f['kind']}/file_{n}{ext}"
            self._paths[f["file_path"]] = f["file_id"]
        return {
            "file_id": f["file_id"],
            "file_unique_id": f["file_unique_id"],
            "file_size": f["file_size"],
            "file_path": f["file_path"],
        }

    def _input_file(self, params: dict[str, Any], field: str) -> tuple[bytes, str, str]:
        value = params.get(field)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, Upload):
            data: bytes = value["file_bytes"]
            if len(data) > MAX_UPLOAD_SIZE:
                raise _ApiError(413, "Request Entity Too Large")
            return data, value["file_name"] or field, value["mime_type"] or "application/octet-stream"
        if isinstance(value, str) and value in self._files:
            f = self._files[value]
            return f["data"], f["file_name"], "application/octet-stream"
        if not value:
            raise _bad(f"there is no {field} in the request")
        raise _bad("wrong file identifier/HTTP URL specified")

    async def _send_document(self, params: dict[str, Any]) -> Any:
        data, file_name, mime_type = self._input_file(params, "document")
        f = self._store_file(data, kind="documents", file_name=file_name)
        doc = {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": f["file_id"],
            "file_unique_id": f["file_unique_id"],
            "file_size": f["file_size"],
        }
        fields = {"document": doc, **self._caption_fields(params)}
        return self._bot_message("sendDocument", params, fields, {"file_bytes": data, "file_name": file_name})

    async def _send_photo(self, params: dict[str, Any]) -> Any:
        data, file_name, _ = self._input_file(params, "photo")
        fields = {"photo": self._photo_sizes(data), **self._caption_fields(params)}
        return self._bot_message("sendPhoto", params, fields, {"file_bytes": data, "file_name": file_name})

    async def _send_chat_action(self, params: dict[str, Any]) -> Any:
        self._chat_for_bot(params.get("chat_id"))
        if not params.get("action"):
            raise _bad("action is empty")
        return True

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        key = str(scope.get("type", "default"))
        if "chat_id" in scope:
            key += f":{scope['chat_id']}"
        if "user_id" in scope:
            key += f":{scope['user_id']}"
        if params.get("language_code"):
            key += f"|{params['language_code']}"
        return key

    async def _set_my_commands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('field "commands" must be an Array')
        if len(commands) > 100:
            raise _bad("too many commands specified")
        for c in commands:
            if not isinstance(c, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = commands
        return True

    async def _delete_my_commands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(self._scope_key(params), None)
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(self._scope_key(params), [])

    async def _get_chat(self, params: dict[str, Any]) -> Any:
        chat_id = params.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad("chat not found")
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }


class _Reply:
    """A method result plus what to record: the ``sent`` entry, and/or a description for the envelope."""

    def __init__(self, result: Any, recorded: dict[str, Any] | None = None, description: str = "") -> None:
        self.result = result
        self.recorded = recorded
        self.description = description
