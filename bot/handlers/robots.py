"""Registering a WeCom group robot (群机器人) from chat, so digests reach that group."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from bot.core.errors import UserError
from bot.core.messages import ChatKind, ChatRef, Push, Reply
from bot.handlers.context import Context
from bot.handlers.router import Replies

ROBOT_CHANNEL = "wecom-robot"
_KEY = re.compile(r"[A-Za-z0-9-]{8,64}")
USAGE = ("请写成「/robot 名称 KEY」，例如「/robot 节水工作群 693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa」；"
         "KEY 是群机器人 Webhook 地址中 key= 后面的部分，也可以直接粘贴整个地址。")


def parse_robot_key(text: str) -> str:
    """Return the webhook key from a bare key or a whole webhook URL, or refuse in Chinese."""
    raw = text.strip()
    if "://" in raw:
        raw = (parse_qs(urlsplit(raw).query).get("key") or [""])[0]
    if not _KEY.fullmatch(raw):
        raise UserError("群机器人的 KEY 不对。" + USAGE)
    return raw


def parse_robot_name(text: str) -> str:
    """Return a robot's name (what coordinators call the group), or refuse in Chinese."""
    name = text.strip()
    if not name or len(name) > 30 or ":" in name or any(not ch.isprintable() for ch in name):
        raise UserError("群机器人的名称应为 1–30 个字，不含冒号，例如「节水工作群」。")
    return name


async def robot(ctx: Context, args: str) -> Replies:
    """/robot 名称 KEY：登记企业微信群机器人，该群将收到进度简报（节水办）"""
    words = args.split()
    if len(words) != 2:
        raise UserError(USAGE)
    name, key = parse_robot_name(words[0]), parse_robot_key(words[1])
    await ctx.store.chats.add_robot(name, key, by=ctx.person.key, now=ctx.now)
    # A first message proves the key: a wrong one shows up as unreachable instead of a silent digest loss.
    await ctx.services.push(Push(ChatRef(ROBOT_CHANNEL, name, ChatKind.GROUP),
                                 Reply("督办助手已接入本群，将在这里发送进度简报。"),
                                 dedupe_key=f"robot-hello:{name}:{ctx.now.isoformat()}"))
    return [Reply(f"已登记群机器人「{name}」，并为它订阅了进度简报；稍后该群会收到一条接入消息。\n"
                  "用同一名称重新登记可以更换 KEY。")]
