"""The console channel: talk to duban in a terminal as any identity, no credentials needed.

Interactive on a terminal; with piped stdin it reads one message per line and prints each reply,
so conversations can be scripted. Console-only words (/as, /upload, #N) are translation, not business.
"""

from __future__ import annotations

import asyncio
import mimetypes
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.core.chinese import whole_number
from bot.core.messages import Attachment, ChatKind, ChatRef, Choice, Incoming, Reply
from bot.handlers.router import Conversation

GUIDE = """督办助手 · 控制台（输入消息后回车；Ctrl-D 退出）
当前身份：{user}{role}
试试：
  /invite 教育局          节水办生成邀请码
  /as 李老师              切换身份（模拟另一位用户）
  /bind 邀请码            用邀请码绑定单位
  我单位有哪些任务 · 十月份要完成什么 · 任务40还差哪些材料
  /upload 文件路径 40-2   以附件方式提交材料（说明写「任务号-材料序号」）
  #1                      选择上一条回复中的第1个按钮
  /digest 图 · /help"""


def upload_args(rest: str) -> tuple[Path | None, str]:
    """Split `/upload`'s arguments into the file and the caption, as terminals write a dropped file.

    The path may be quoted ('…' or "…"), have its spaces escaped (my\\ file.pdf), or be typed with bare
    spaces: then the longest run of words naming an existing file is the path.
    """
    rest = rest.strip()
    if not rest:
        return None, ""
    if rest[0] in "'\"" and (end := rest.find(rest[0], 1)) > 0:
        return Path(rest[1:end]).expanduser(), rest[end + 1:].strip()
    chars: list[str] = []
    i = 0
    while i < len(rest) and not rest[i].isspace():
        if rest[i] == "\\" and i + 1 < len(rest):
            i += 1
        chars.append(rest[i])
        i += 1
    path, caption = Path("".join(chars)).expanduser(), rest[i:].strip()
    if path.is_file() or "\\" in rest[:i]:
        return path, caption
    words = rest.split(" ")
    for n in range(len(words), 1, -1):
        candidate = Path(" ".join(words[:n])).expanduser()
        if candidate.is_file():
            return candidate, " ".join(words[n:]).strip()
    return path, caption


class ConsoleChannel:
    """Read lines, hand them to the conversation, print replies; also the console's push sender."""

    def __init__(self, conversation: Conversation, user: str, out: TextIO | None = None,
                 role_of: Callable[[str], str] | None = None) -> None:
        self.conversation = conversation
        self.user = user
        self.out = out or sys.stdout
        self.role_of = role_of or (lambda _u: "")
        self._choices: list[Choice] = []
        self._pushed: dict[str, list[Choice]] = {}  # buttons pushed to another identity, offered when /as switches

    def guide(self) -> str:
        """Return the short Chinese guide shown at start."""
        return GUIDE.format(user=self.user, role=self.role_of(self.user))

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Print a push addressed to a console user (reminders, notices); its buttons answer as #N once that user speaks."""
        own = chat.chat_id == self.user
        if reply.choices and not own:
            self._pushed[chat.chat_id] = list(reply.choices)
        self._print(f"📣 推送给 {chat.chat_id}：", reply, own=own)

    async def handle_line(self, line: str) -> None:
        """Translate one typed line into an Incoming (or a console action) and print the replies."""
        line = line.strip()
        if line.startswith("/as "):
            self.user = line[4:].strip() or self.user
            self._choices = self._pushed.pop(self.user, [])
            self.out.write(f"（已切换身份：{self.user}{self.role_of(self.user)}）\n")
            return
        chat = ChatRef("console", self.user, ChatKind.PRIVATE)
        msg = Incoming(channel="console", user_id=self.user, chat=chat, text=line, user_name=self.user)
        if line.startswith("#") and (n := whole_number(line[1:])) is not None:
            if not 1 <= n <= len(self._choices):
                self.out.write("没有这个选项。\n")
                return
            msg = Incoming(channel="console", user_id=self.user, chat=chat, user_name=self.user,
                           callback=self._choices[n - 1].data)
        elif line.startswith("/upload"):
            path, caption = upload_args(line.removeprefix("/upload"))
            if path is None or not path.is_file():
                self.out.write("用法：/upload 文件路径 [说明，如 12-3]（文件不存在；路径有空格时加引号）\n")
                return
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            att = Attachment(path.name, path, mime, path.stat().st_size)
            msg = Incoming(channel="console", user_id=self.user, chat=chat, user_name=self.user,
                           text=caption, attachments=(att,))
        for reply in await self.conversation.handle(msg):
            self._print("", reply)

    def _print(self, prefix: str, reply: Reply, *, own: bool = True) -> None:
        lines = [prefix + reply.text] if prefix else [reply.text]
        if reply.link:
            lines.append(f"🔗 {reply.link[0]}：{reply.link[1]}")
        if reply.file:
            lines.append(f"📎 文件：{reply.file.path}")
        if reply.choices:
            if own:
                self._choices = list(reply.choices)
            lines += [f"  [#{n}] {c.label}" for n, c in enumerate(reply.choices, 1)]
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()

    async def run(self, stdin: TextIO | None = None) -> None:
        """Chat until end of input: a prompt on a terminal, one message per line otherwise."""
        stdin = stdin or sys.stdin
        interactive = stdin.isatty()
        if interactive:
            self.out.write(self.guide() + "\n\n")
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                self.out.write(f"{self.user}> ")
                self.out.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                break
            if line.strip():
                if not interactive:
                    self.out.write(f"{self.user}> {line.strip()}\n")
                await self.handle_line(line)
