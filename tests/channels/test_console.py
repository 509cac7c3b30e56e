"""The console channel: typed lines in, printed replies out, pushes printed with buttons answerable as #N."""

from __future__ import annotations

import io

from conftest import Chat

from bot.app import App
from bot.channels.console import ConsoleChannel


async def test_buttons_pushed_to_another_identity_answer_after_switching(chat: Chat, app: App) -> None:
    await chat.bind("li", "教育局")
    out = io.StringIO()
    console = ConsoleChannel(app.pipeline, "li", out)
    await console.handle_line("任务42申请延期到12月15日，因为合同尚未签订")
    assert await app.outbox.drain() == 1  # the coordinator's notice with its buttons, printed as a push
    assert "#1" not in out.getvalue().split("📣")[0]
    await console.handle_line("#1")  # still li: the push was not to li
    assert "没有这个选项" in out.getvalue()
    await console.handle_line("/as admin")
    await console.handle_line("#1")
    assert "已批准任务42延期" in out.getvalue()
    plan = await app.store.plans.plan()
    assert (await app.store.extensions.of_task(plan.id, 42))[0].status == "approved"
