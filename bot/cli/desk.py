"""`duban desk link USER_KEY` prints a one-time desk sign-in link; `duban desk sessions` lists and ends sessions."""

from __future__ import annotations

import argparse
import json
import sys

from bot.actions.access import current_role, may_use_desk
from bot.app import App
from bot.cli.base import Add, err
from bot.core.errors import NotAllowed, UserError
from bot.core.messages import person_key
from bot.core.views import PersonView
from bot.desk.auth import SESSION_HOURS, DeskAuth
from bot.handlers.desk import link_terms


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add: Add) -> None:
    """Add `desk link` and `desk sessions` to the `duban` command."""
    desk = sub.add_parser("desk", help="督办台（网页）", description="督办台（网页）")
    actions = desk.add_subparsers(dest="desk_command", metavar="操作")
    link = actions.add_parser("link", help="打印某人的一次性登录链接（最后一行是链接）",
                              description="打印某人的一次性登录链接（最后一行是链接）")
    link.add_argument("who", help="渠道:用户ID，如 telegram:12345 或 wecom:zhangsan")
    link.set_defaults(func=cmd_desk_link)
    about = "列出未结束的督办台登录会话，或用 --end 结束某人的（或某一个）会话"
    sessions = actions.add_parser("sessions", help=about, description=about)
    sessions.add_argument("--end", metavar="渠道:用户ID|会话编号", help="结束此人的全部会话，或这一个会话")
    sessions.add_argument("--json", action="store_true", help="在标准输出打印 JSON")
    sessions.set_defaults(func=cmd_desk_sessions)


async def cmd_desk_link(app: App, a: argparse.Namespace) -> None:
    """Print a sign-in link for a coordinator or liaison."""
    channel, _, user_id = a.who.partition(":")
    if not channel or not user_id:
        raise UserError("请写成 渠道:用户ID，例如 telegram:12345 或 wecom:zhangsan。")
    person = await app.store.people.get(a.who)
    if person is None and person_key(a.who) in app.settings.coordinator_keys:  # configured, never wrote yet
        person = await app.store.people.identify(channel, user_id, name="", chat_id=None, now=app.clock.utcnow(),
                                                 coordinator=True)
    if person is None:
        raise UserError(f"没有找到用户 {a.who}。请先让他在督办助手中发一条消息，或用 duban coordinator add 设为节水办。")
    person = current_role(person, app.settings.coordinator_keys)
    if not may_use_desk(person):
        raise NotAllowed(f"{a.who} 不是节水办人员，也没有绑定单位，不能使用督办台。")
    err.print(f"{person.display} 的督办台登录链接（{link_terms()}）：", highlight=False)
    print(DeskAuth(app.settings, app.clock).link(person))


async def cmd_desk_sessions(app: App, a: argparse.Namespace) -> None:
    """List the open desk sessions, or end a person's sessions (or one session)."""
    repo, now = app.store.desk_sessions, app.clock.real_utcnow()
    if a.end:
        who = a.end.strip()
        ended = await repo.end_person(who, "ended", now) if ":" in who else int(await repo.end(who, "ended", now))
        if not ended:
            raise UserError(f"没有找到 {who} 未结束的督办台会话。运行 duban desk sessions 查看。")
        err.print(f"已结束 {who} 的{ended}个督办台会话：再打开督办台需要重新登录。", highlight=False, soft_wrap=True)
        if a.json:
            sys.stdout.write(json.dumps({"ended": ended, "who": who}, ensure_ascii=False) + "\n")
        return
    auth = DeskAuth(app.settings, app.clock)
    rows = await auth.open_sessions(repo)
    people = {r.person: await app.store.people.get(r.person) for r in rows}
    if a.json:
        sys.stdout.write(json.dumps([{
            "id": r.id, "person": r.person, "name": _name(people[r.person]), "created_at": r.created_at.isoformat(),
            "last_seen_at": r.last_seen_at.isoformat()} for r in rows], ensure_ascii=False, indent=2) + "\n")
        return
    tz = app.settings.tz
    for r in rows:  # one line each, whatever the terminal's width: ids are copied from here into --end
        print(f"{r.id}  {r.person}  {_name(people[r.person])}  登录 {r.created_at.astimezone(tz):%Y-%m-%d %H:%M}"
              f"  最近使用 {r.last_seen_at.astimezone(tz):%Y-%m-%d %H:%M}")
    err.print(f"共{len(rows)}个未结束的督办台会话（{auth.idle_text}未操作或登录满{SESSION_HOURS}小时自动结束）。"
              "结束某人的会话：duban desk sessions --end 渠道:用户ID", highlight=False, soft_wrap=True)


def _name(person: PersonView | None) -> str:
    return person.display if person is not None else ""
