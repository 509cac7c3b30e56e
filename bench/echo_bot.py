"""A bare python-telegram-bot bot that answers like duban without doing its work: the floor bench_telegram.py compares with.

Usage: echo_bot.py TOKEN API_ROOT REPLIES.json [--rate-limit]

REPLIES.json maps a question's text to the replies duban gives it (HTML text and buttons), written by
bench_telegram.py from duban's own answers. The bot sends exactly those (same text, parse mode, buttons,
one sendMessage per reply) and handles updates as duban's intake does: up to MAX_CONCURRENT at once, one at a time
within a chat, in order (PTB's own `concurrent_updates` would let a chat's messages overtake each other). Only
duban's work between receiving and sending is missing. A text it was not given is echoed back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.intake import MAX_CONCURRENT

CONCURRENT_UPDATES = MAX_CONCURRENT  # as many at once as duban's intake handles


class PerChatInOrder(BaseUpdateProcessor):
    """Handle up to `max_concurrent_updates` updates at once (PTB counts them), a chat's one after another."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the chat's previous update, then handle this one."""
        chat = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else 0
        async with self._chats.setdefault(chat, asyncio.Lock()):  # kept: a bench's few chats
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def main() -> None:
    """Poll the given Bot API server until killed."""
    token, root, replies_file = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    replies: dict[str, list[dict[str, Any]]] = json.loads(replies_file.read_text(encoding="utf-8"))

    async def answer(update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        assert msg is not None
        for reply in replies.get(msg.text or "", [{"html": msg.text or "", "buttons": []}]):
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]
                                           for label, data in reply["buttons"]]) if reply["buttons"] else None
            await msg.get_bot().send_message(msg.chat_id, reply["html"], parse_mode=ParseMode.HTML,
                                             reply_markup=markup, disable_web_page_preview=True)

    builder = (ApplicationBuilder().token(token).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
               .concurrent_updates(PerChatInOrder(CONCURRENT_UPDATES)))
    if "--rate-limit" in sys.argv:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, answer))
    app.run_polling(poll_interval=0, timeout=10)


if __name__ == "__main__":
    main()
