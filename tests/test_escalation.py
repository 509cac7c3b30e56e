"""The escalation ladder: every 催办 recorded and counted, the numbered 督办单, the unit's 分管领导."""

from __future__ import annotations

import datetime as dt

from conftest import Chat

from bot.app import App
from bot.core.clock import Clock


async def test_every_urge_is_recorded_and_the_reply_says_how_often_before(chat: Chat, app: App, clock: Clock) -> None:
    await chat.bind("li", "教育局")
    first = await chat.text("admin", "/urge 教育局 40")
    assert "任务40此前未催办过" in first
    clock.advance(dt.timedelta(days=1))
    listed = await chat.text("admin", "/urge 教育局")  # counts for each task it lists: 40 (overdue) and 41 (10月)
    assert "任务40此前已催办1次" in listed and "任务41此前未催办过" in listed
    plan = await app.store.plans.plan()
    counts = await app.store.urges.counts(plan.id)
    assert (counts[40].times, counts[41].times) == (2, 1) and 42 not in counts
    again = await chat.text("admin", "/urge 教育局 40")
    assert "任务40此前已催办2次" in again and "最近一次10月21日" in again
    history = await app.store.urges.history(plan.id, 40)
    assert [(u.by, u.channel, u.kind) for u in history] == [("console:admin", "console", "urge")] * 3
    assert history[0].at < history[1].at
