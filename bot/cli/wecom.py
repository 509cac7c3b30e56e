"""`duban wecom robot add|list`: register WeCom group robots; `duban wecom check`: test the way to WeCom."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.app import App
from bot.channels.wecom.check import Checker, as_json
from bot.cli.base import Add
from bot.core.errors import UserError
from bot.handlers.robots import ROBOT_CHANNEL, parse_robot_key, parse_robot_name


def register(sub: argparse._SubParsersAction[Any], add: Add) -> None:
    """Add `duban wecom robot add NAME KEY`, `duban wecom robot list` and `duban wecom check` to the CLI."""
    wecom = sub.add_parser("wecom", help="企业微信设置", description="企业微信设置")
    actions = wecom.add_subparsers(dest="wecom_command", metavar="操作")
    robot = actions.add_parser("robot", help="群机器人：进度简报发到企业微信群",
                               description="群机器人：进度简报发到企业微信群").add_subparsers(
        dest="robot_command", metavar="操作")
    ra = robot.add_parser("add", help="登记（或更换 KEY）群机器人，并为它订阅进度简报")
    ra.add_argument("name", help="名称，如 节水工作群")
    ra.add_argument("key", help="Webhook 地址中 key= 后面的部分，或整个 Webhook 地址")
    ra.set_defaults(func=cmd_robot_add)
    robot.add_parser("list", help="列出已订阅简报的群机器人").set_defaults(func=cmd_robot_list)
    check = actions.add_parser("check", help="在本机检查到企业微信的网络、代理、时间和凭据（安装时先运行）",
                               description="在本机检查到企业微信的网络、代理、时间和凭据；全部通过时退出状态为 0")
    check.add_argument("--json", action="store_true", help="输出 JSON")
    check.set_defaults(func=cmd_check)


async def cmd_robot_add(app: App, a: argparse.Namespace) -> None:
    """Register a robot under a name and subscribe it to digests."""
    name, key = parse_robot_name(a.name), parse_robot_key(a.key)
    await app.store.chats.add_robot(name, key, by="cli:admin", now=app.clock.utcnow())
    print(f"已登记群机器人「{name}」，并为它订阅了进度简报。")


async def cmd_robot_list(app: App, a: argparse.Namespace) -> None:
    """Print each subscribed robot with its key partly masked."""
    names = [c.chat_id for c in await app.store.chats.subscriptions() if c.channel == ROBOT_CHANNEL]
    if not names:
        print("还没有登记群机器人。用 `duban wecom robot add 名称 KEY` 登记。")
        return
    for name in names:
        key = await app.store.chats.robot_key(name) or ""
        masked = key[:4] + "…" + key[-4:] if len(key) > 8 else "（无）"
        print(f"{name}\t{masked}")


async def cmd_check(app: App, a: argparse.Namespace) -> None:
    """Check every way to WeCom from this machine; refuse (non-zero exit) unless all of it works."""
    checker = Checker(app)
    await checker.run()
    if a.json:
        sys.stdout.write(json.dumps(as_json(checker), ensure_ascii=False, indent=2) + "\n")
    else:
        print("企业微信连接检查：")
        for f in checker.findings:
            print(f"  [{'通过' if f.ok else '失败'}] {f.message}")
    if not checker.ok:
        failed = sum(not f.ok for f in checker.findings)
        raise UserError(f"企业微信连接检查未通过：{failed} 项有问题，见上面的说明。")
