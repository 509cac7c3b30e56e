"""The baseline for bench_wecom_bot.py: the official SDK's bare echo bot (wecom-aibot-python-sdk).

It answers every text with a finished stream reply of a given size on the frame's req_id — the framework
floor on the same fake server, no work. Usage: wecom_echo_bot.py WS_URL BOT_ID SECRET REPLY_BYTES
"""

from __future__ import annotations

import asyncio
import sys

import aibot.ws
from aibot import WSClient, WSClientOptions
from aibot.utils import generate_req_id


async def main(url: str, bot_id: str, secret: str, size: int) -> None:
    aibot.ws._SSL_CONTEXT = None  # type: ignore[assignment]  # the SDK passes a TLS context even for ws://
    client = WSClient(WSClientOptions(bot_id=bot_id, secret=secret, ws_url=url, max_reconnect_attempts=-1))
    reply = ("回" * size)[: size // 3]

    async def on_text(frame: dict[str, object]) -> None:
        await client.reply_stream(frame, generate_req_id("stream"), reply, finish=True)

    client.on("message.text", on_text)
    await client.connect()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
