"""/desk: a one-time sign-in link to the desk, the web pages where 节水办 reviews evidence and sees the whole plan."""

from __future__ import annotations

from bot.actions.access import UNBOUND, is_leader, may_use_desk
from bot.core.errors import NotAllowed, UserError
from bot.core.messages import Reply
from bot.handlers.context import Context
from bot.handlers.router import Replies

LINK_MINUTES = 10  # how long a sign-in link is valid (the desk signs the links; handlers cannot import it)
HOME = "/desk/"


def link_terms() -> str:
    """Say the rules of a sign-in link, the same words wherever one is sent."""
    return f"链接{LINK_MINUTES}分钟内有效，只能用一次，仅限您本人使用，请勿转发"


async def desk(ctx: Context, args: str) -> Replies:
    """/desk：获取督办台（网页）的登录链接"""
    if ctx.msg.is_group:
        raise UserError("登录链接只发给您本人，请在与督办助手的私聊中发送 /desk。")
    if not may_use_desk(ctx.person):
        raise NotAllowed(UNBOUND)
    if ctx.services.desk_link is None:
        raise UserError("督办台没有启动：它由 duban run（或 scripts/run）启动的网页服务提供。请联系管理员。")
    if ctx.person.coordinator:
        scope = "全部单位的任务、材料审核和导出"
    elif is_leader(ctx.person):
        scope = f"{ctx.person.unit}的任务和材料（只读），并可在任务页写批示"
    else:
        scope = f"{ctx.person.unit}的任务和材料"
    return [Reply(f"督办台登录链接（{link_terms()}）。在督办台可以查看{scope}。",
                  link=("打开督办台", ctx.services.desk_link(ctx.person, HOME)))]
