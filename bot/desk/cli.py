"""`duban desk link USER_KEY`: print a one-time desk sign-in link (administrators, tests)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.console import Console

from bot.actions.access import current_role, may_use_desk
from bot.core.errors import NotAllowed, UserError
from bot.desk.auth import DeskAuth
from bot.handlers.desk import link_terms

if TYPE_CHECKING:  # the CLI layer is handed the App
    from bot.app import App

Command = Callable[["App", argparse.Namespace], Awaitable[None]]
Add = Callable[[str, Command, str], argparse.ArgumentParser]

err = Console(stderr=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add: Add) -> None:
    """Add `desk link` to the `duban` command."""
    desk = sub.add_parser("desk", help="督办台（网页）", description="督办台（网页）")
    actions = desk.add_subparsers(dest="desk_command", metavar="操作")
    link = actions.add_parser("link", help="打印某人的一次性登录链接（最后一行是链接）",
                              description="打印某人的一次性登录链接（最后一行是链接）")
    link.add_argument("who", help="渠道:用户ID，如 telegram:12345 或 wecom:zhangsan")
    link.set_defaults(func=cmd_desk_link)


async def cmd_desk_link(app: App, a: argparse.Namespace) -> None:
    """Print a sign-in link for a coordinator or liaison."""
    channel, _, user_id = a.who.partition(":")
    if not channel or not user_id:
        raise UserError("请写成 渠道:用户ID，例如 telegram:12345 或 wecom:zhangsan。")
    person = await app.store.people.get(a.who)
    if person is None and a.who in app.settings.coordinator_keys:  # configured, never wrote to duban yet
        person = await app.store.people.identify(channel, user_id, name="", chat_id=None, now=app.clock.utcnow(),
                                                 coordinator=True)
    if person is None:
        raise UserError(f"没有找到用户 {a.who}。请先让他在督办助手中发一条消息，或用 duban coordinator add 设为节水办。")
    person = current_role(person, app.settings.coordinator_keys)
    if not may_use_desk(person):
        raise NotAllowed(f"{a.who} 不是节水办人员，也没有绑定单位，不能使用督办台。")
    err.print(f"{person.display} 的督办台登录链接（{link_terms()}）：", highlight=False)
    print(DeskAuth(app.settings, app.clock).link(person))
