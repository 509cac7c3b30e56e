"""Roles: invite codes, binding a liaison to a unit, listing and removing liaisons."""

from __future__ import annotations

from bot.core.errors import UserError
from bot.core.messages import Reply
from bot.handlers.context import Context
from bot.handlers.router import Replies

LEADER_WORDS = ("领导", "分管领导", "leader")


async def bind(ctx: Context, args: str) -> Replies:
    """/bind 邀请码：用节水办给的邀请码绑定单位"""
    if not args:
        raise UserError("请在 /bind 后面写上节水办给您的邀请码，例如 /bind ABCD2345。")
    unit = await ctx.store.people.bind(ctx.person, args, now=ctx.now)
    bound = await ctx.store.people.get(ctx.person.key)
    if bound is not None and bound.leader:
        return [Reply(f"绑定成功！您现在是{unit}的分管领导。\n可以查看本单位牵头和配合的任务（「我单位有哪些任务」、"
                      "「任务12」），用「/批示 12 意见」对任务写批示（联络员和节水办会看到）；任务逾期较久或多次催办"
                      "仍无进展时，督办助手会告诉您；每周第一个工作日收到本单位红灯、黄灯任务的汇总（没有就不发）。"
                      "提交材料、报告完成等由本单位联络员办理。")]
    return [Reply(f"绑定成功！您现在是{unit}的联络员。\n"
                  "可以试试：\n· 我单位有哪些任务\n· 本月到期的任务\n· 任务12还差哪些材料\n"
                  "· 直接发送文件，并在说明里写「任务号-材料序号」，例如「12-3」\n发送 /help 查看全部功能。")]


async def invite(ctx: Context, args: str) -> Replies:
    """/invite 单位 [领导]：生成联络员（或分管领导）邀请码（节水办）"""
    if not args:
        raise UserError("请写上单位，例如「/invite 教育局」；分管领导写「/invite 教育局 领导」。")
    words = args.split()
    leader = len(words) > 1 and words[-1] in LEADER_WORDS
    unit = ctx.resolve_unit(" ".join(words[:-1]) if leader else args)
    days = ctx.services.settings.invite_days
    code = await ctx.store.people.create_invite(unit.name, by=ctx.person.key, now=ctx.now, days=days, leader=leader)
    role = "分管领导" if leader else "联络员"
    return [Reply(f"{unit.name}的{role}邀请码：{code}\n有效期{days}天，只能使用一次。"
                  f"请转告该单位{role}：在督办助手中发送「/bind {code}」完成绑定。")]


async def liaisons(ctx: Context, args: str) -> Replies:
    """/liaisons [单位]：查看联络员（节水办）"""
    unit = ctx.resolve_unit(args).name if args else None
    people = await ctx.store.people.liaisons(unit)
    if not people:
        return [Reply(f"{unit or '目前'}还没有绑定联络员。发送「/invite 单位」生成邀请码。")]
    lines = [f"{unit or '全部'}联络员（{len(people)}人）："]
    for p in people:
        flag = f"（无法送达：{p.unreachable_reason}）" if p.unreachable_since else ""
        lines.append(f"· {p.unit}：{p.display}  [{p.key}]{flag}")
    lines.append("移除联络员：/remove 渠道:用户ID，例如 /remove " + people[0].key)
    return [Reply("\n".join(lines))]


async def remove(ctx: Context, args: str) -> Replies:
    """/remove 渠道:用户ID：移除联络员（节水办）"""
    if ":" not in args:
        raise UserError("请写上要移除的联络员，例如 /remove telegram:12345（发送 /liaisons 可以看到）。")
    p = await ctx.store.people.remove_liaison(args.strip(), actor=ctx.person.key, now=ctx.now)
    return [Reply(f"已移除{p.unit}的联络员 {p.display}。")]


async def units(ctx: Context, args: str) -> Replies:
    """/units：查看单位名称和简称"""
    lines = ["单位名称（括号内为可用的简称）："]
    for u in ctx.services.units.all():
        alias = f"（{'、'.join(u.aliases[:4])}）" if u.aliases else ""
        lines.append(f"· {u.name}{alias}")
    return [Reply("\n".join(lines))]
