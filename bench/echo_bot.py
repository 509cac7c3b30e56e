"""A bare python-telegram-bot echo bot: the framework floor bench_telegram.py compares duban with.

Usage: echo_bot.py TOKEN API_ROOT [--rate-limit]
"""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the text back."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(update.effective_message.text or "")


def main() -> None:
    """Poll the given Bot API server until killed."""
    token, root = sys.argv[1], sys.argv[2]
    builder = ApplicationBuilder().token(token).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    if "--rate-limit" in sys.argv:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(poll_interval=0, timeout=1)


if __name__ == "__main__":
    main()
