"""WeCom group robots (群机器人): send-only webhooks that carry digests, reports and charts to a group.

A robot reads nothing, so nothing it is sent asks a question; it takes markdown up to 4096 bytes (the pipeline
splits longer text) and images up to 2 MB, at most 20 messages a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bot.channels.base import ChannelBase
from bot.channels.pipeline import Pipeline, utf8_len
from bot.channels.proxy import proxy_for
from bot.channels.wecom.api import WeComApiError, WeComRobot
from bot.channels.wecom.channel import PAGE
from bot.channels.wecom.delivery import Limiter, Progress
from bot.config import Settings
from bot.core.messages import ChatRef, Envelope, Reply
from bot.outbox import Unreachable

log = logging.getLogger(__name__)

ROBOT_LIMIT = 4096  # bytes of one robot markdown
ROBOT_IMAGE_LIMIT = 2 * 1024 * 1024


class WeComRobotChannel(ChannelBase):
    """Send digests and charts to WeCom groups through registered robot webhooks (send-only)."""

    name = "wecom-robot"
    page = PAGE
    limit = ROBOT_LIMIT
    measure = staticmethod(utf8_len)

    def __init__(self, pipeline: Pipeline, settings: Settings, session: aiohttp.ClientSession,
                 robot_key: Callable[[str], Awaitable[str | None]], *, per_minute: int = 20,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._session = session
        self._robot_key = robot_key
        self._limiters: dict[str, Limiter] = {}
        self._per_minute = per_minute
        self._monotonic = monotonic
        pipeline.add(self)

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        """Post one reply to the robot named chat.chat_id: its markdown, then any image."""
        key = await self._robot_key(chat.chat_id)
        if key is None:
            raise Unreachable(f"没有名为「{chat.chat_id}」的群机器人")
        s = self.settings
        robot = WeComRobot(self._session, key, base_url=s.wecom_api_url, proxy=proxy_for(s.wecom_api_url, s))
        limiter = self._limiters.setdefault(key, Limiter(self._per_minute, 60.0, self._monotonic))
        text = reply.text
        if reply.link is not None:
            text += f"\n[{reply.link[0]}]({reply.link[1]})"
        progress = Progress()
        try:
            if text.strip():
                await limiter.wait()
                await robot.send_markdown(text)
                progress.sent(Reply("", file=reply.file))
            if reply.file is not None:
                if not reply.file.is_image:
                    log.warning("robot %s: file %s not sent (robots take images only here)", chat.chat_id,
                                reply.file.file_name)
                    return
                data = await asyncio.to_thread(reply.file.path.read_bytes)
                if len(data) > ROBOT_IMAGE_LIMIT:
                    log.warning("robot %s: image %s over 2 MB not sent", chat.chat_id, reply.file.file_name)
                    return
                await limiter.wait()
                await robot.send_image(data)
        except WeComApiError as e:
            if e.errcode == 93000:  # the webhook key was removed from the group
                raise Unreachable(f"群机器人「{chat.chat_id}」的地址已失效") from e
            raise progress.refused(e.errcode, e.errmsg, unreachable=f"群机器人「{chat.chat_id}」无法送达") from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise progress.later(f"企业微信网络错误：{e!r}") from e
