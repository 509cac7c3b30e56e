"""The console channel: talk to duban in a terminal as any identity, no credentials needed.

Interactive on a terminal; with piped stdin it reads one message per line and prints each reply,
so conversations can be scripted. Console-only words (/as, /upload, #N) are translation, not business:
each line becomes an envelope that takes the pipeline every channel takes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.channels.base import ChannelBase
from bot.channels.pipeline import FetchFailed, Pipeline
from bot.core.chinese import whole_number
from bot.core.messages import Attachment, ChatKind, ChatRef, Choice, Envelope, Media, Reply

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


class ConsoleChannel(ChannelBase):
    """Read lines, hand them to the pipeline as envelopes, print replies; pushes to console users print here too."""

    name = "console"
    page = limit = 3500
    measure = staticmethod(len)

    def __init__(self, pipeline: Pipeline, user: str, out: TextIO | None = None,
                 role_of: Callable[[str], str] | None = None) -> None:
        self.pipeline = pipeline
        self.user = user
        self.out = out or sys.stdout
        self.role_of = role_of or (lambda _u: "")
        self._choices: list[Choice] = []
        self._pushed: dict[str, list[Choice]] = {}  # buttons pushed to another identity, offered when /as switches
        pipeline.add(self)

    def guide(self) -> str:
        """Return the short Chinese guide shown at start."""
        return GUIDE.format(user=self.user, role=self.role_of(self.user))

    async def handle_line(self, line: str) -> None:
        """Translate one typed line into an envelope (or a console action), and wait until it is answered."""
        line = line.strip()
        if line.startswith("/as "):
            self.user = line[4:].strip() or self.user
            self._choices = self._pushed.pop(self.user, [])
            self.out.write(f"（已切换身份：{self.user}{self.role_of(self.user)}）\n")
            return
        chat = ChatRef(self.name, self.user, ChatKind.PRIVATE)
        base = Envelope(f"console:{uuid.uuid4().hex}", chat, self.user, self.user)
        envelope = dataclasses.replace(base, text=line)
        if line.startswith("#") and (n := whole_number(line[1:])) is not None:
            if not 1 <= n <= len(self._choices):
                self.out.write("没有这个选项。\n")
                return
            envelope = dataclasses.replace(base, callback=self._choices[n - 1].data)
        elif line.startswith("/upload"):
            path, caption = upload_args(line.removeprefix("/upload"))
            if path is None or not path.is_file():
                self.out.write("用法：/upload 文件路径 [说明，如 12-3]（文件不存在；路径有空格时加引号）\n")
                return
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            envelope = dataclasses.replace(base, text=caption, media=(
                Media("file", str(path.resolve()), path.name, path.stat().st_size, mime),))
        await self.pipeline.keep([envelope])
        await self.pipeline.intake.idle()

    # ---- decode, fetch, deliver ----------------------------------------------------------------
    async def fetch(self, media: Media, dest: Path) -> Attachment:
        """Copy the file named in /upload (the pipeline removes its copy after filing it)."""
        try:
            await asyncio.to_thread(shutil.copyfile, media.ref, dest)
        except OSError as e:
            raise FetchFailed(f"读不到文件「{media.name}」：{e.strerror}。") from e
        return Attachment(media.name, dest, media.mime_type, dest.stat().st_size)

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Print a reply, or a push addressed to a console user (its buttons answer as #N once that user speaks)."""
        own = chat.chat_id == self.user
        if answering is None and reply.choices and not own:
            self._pushed[chat.chat_id] = list(reply.choices)
        self._print(reply, prefix="" if answering is not None else f"📣 推送给 {chat.chat_id}：", own=own)

    def _print(self, reply: Reply, *, prefix: str, own: bool) -> None:
        lines = [prefix + reply.text]
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
