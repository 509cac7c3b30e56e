"""Proactive sends survive crashes and failures: stored first, claimed once, retried, never dropped silently."""

from __future__ import annotations

import asyncio
import datetime as dt

from fakes.recorder import Recorder

from bot.app import App
from bot.channels.pipeline import Pipeline
from bot.core.clock import Clock
from bot.core.messages import ChatRef, Envelope, Push, Reply
from bot.outbox import Outbox, Refused, TemporaryFailure, Unreachable


def push(user: str, key: str) -> Push:
    return Push(ChatRef("console", user), Reply(f"提醒 {key}"), dedupe_key=key)


async def test_same_key_is_stored_and_sent_once(app: App) -> None:
    channel = Recorder()
    app.pipeline.add(channel)
    await app.outbox.push(push("li", "k1"))
    await app.outbox.push(push("li", "k1"))
    assert await app.outbox.drain() == 1
    assert await app.outbox.drain() == 0
    assert channel.delivered == [(ChatRef("console", "li"), "提醒 k1")]


async def test_a_claim_left_by_a_crashed_process_is_sent_after_the_lease(app: App, clock: Clock) -> None:
    await app.outbox.push(push("li", "k2"))
    [claimed] = await app.store.outbox.claim(clock.utcnow(), "crashed-worker", {"console"})
    assert claimed.dedupe_key == "k2"  # ... and that process died before sending
    survivor = Outbox(app.store, clock)
    channel = Recorder()
    Pipeline(app.intake, app.conversation, survivor, app.scratch_file).add(channel)
    assert await survivor.drain() == 0  # still leased to the dead worker
    clock.advance(dt.timedelta(minutes=6))
    assert await survivor.drain() == 1
    assert [text for _, text in channel.delivered] == ["提醒 k2"]


async def test_temporary_failures_are_retried_later(app: App, clock: Clock) -> None:
    channel = Recorder(failures=[TemporaryFailure("429", retry_after=30), ConnectionError("reset")])
    app.pipeline.add(channel)
    await app.outbox.push(push("li", "k3"))
    assert await app.outbox.drain() == 0
    [row] = await app.store.outbox.rows()
    assert row["status"] == "pending" and "429" in row["error"]
    clock.advance(dt.timedelta(seconds=31))
    assert await app.outbox.drain() == 0  # second failure: backs off again
    clock.advance(dt.timedelta(minutes=1))
    assert await app.outbox.drain() == 1
    [row] = await app.store.outbox.rows()
    assert row["status"] == "sent" and row["attempts"] == 3


async def test_unreachable_recipient_is_recorded_for_coordinators(app: App, clock: Clock) -> None:
    await app.store.people.identify("console", "gone", name="王", chat_id="gone", now=clock.utcnow())
    app.pipeline.add(Recorder(failures=[Unreachable("对方已屏蔽机器人")]))
    await app.outbox.push(push("gone", "k4"))
    await app.outbox.drain()
    [row] = await app.store.outbox.rows()
    assert row["status"] == "unreachable"
    [person] = await app.store.people.unreachable()
    assert person.user_id == "gone" and "屏蔽" in person.unreachable_reason


async def test_rows_of_channels_this_process_cannot_send_are_left_alone(app: App) -> None:
    app.pipeline.add(Recorder())
    await app.outbox.push(Push(ChatRef("telegram", "42"), Reply("x"), dedupe_key="tg"))
    assert await app.outbox.drain() == 0
    [row] = await app.store.outbox.rows()
    assert (row["status"], row["attempts"]) == ("pending", 0)


async def test_a_send_settled_while_a_waiter_checks_is_not_missed(app: App) -> None:
    """`until` checked, then waited: a send that settled during the check was never seen, and it timed out."""
    app.pipeline.add(Recorder())
    checks = 0

    async def delivered_on_second_look() -> bool:
        nonlocal checks
        checks += 1
        if checks == 1:  # while the waiter is still checking, a push goes out
            await app.outbox.push(push("li", "during-check"))
            await app.outbox.drain()
            return False
        return True

    await app.outbox.until(delivered_on_second_look, within=5)
    assert checks == 2


async def test_a_push_refused_for_good_is_failed_at_once(app: App) -> None:
    app.pipeline.add(Recorder(failures=[Refused("企业微信拒绝了这条消息，重发也不会成功（errcode 86001）")]))
    await app.outbox.push(push("li", "k5"))
    assert await app.outbox.drain() == 0
    [row] = await app.store.outbox.rows()
    assert (row["status"], row["attempts"]) == ("failed", 1) and "86001" in row["error"]


async def test_a_reply_refused_for_good_is_not_kept_for_a_retry(app: App) -> None:
    channel = Recorder(failures=[Refused("企业微信拒绝了这条消息，重发也不会成功（errcode 86001）")])
    app.pipeline.add(channel)
    assert await channel.handle(app.pipeline, Envelope("console:m1", ChatRef("console", "li"), "li", text="/help")) == []
    assert await app.store.outbox.rows() == []


class Gated(Recorder):
    """A channel where the first push to `slow` waits until a push to another chat went out."""

    def __init__(self, slow: str) -> None:
        super().__init__()
        self.slow = slow
        self.slow_began = asyncio.Event()
        self.other_went = asyncio.Event()

    async def deliver(self, chat: ChatRef, reply: Reply, answering: Envelope | None) -> None:
        if chat.chat_id == self.slow and not self.other_went.is_set():
            self.slow_began.set()
            await self.other_went.wait()
        await super().deliver(chat, reply, answering)
        if chat.chat_id != self.slow:
            self.other_went.set()


async def test_pushes_to_different_chats_go_out_at_once_each_chat_in_order(app: App) -> None:
    channel = Gated(slow="li")
    app.pipeline.add(channel)
    for user, key in (("li", "li-1"), ("li", "li-2"), ("wang", "wang-1")):
        await app.outbox.push(push(user, key))
    async with asyncio.timeout(10):  # one chat at a time would wait for ever on li's first push
        assert await app.outbox.drain() == 3
    assert [text for _, text in channel.delivered] == ["提醒 wang-1", "提醒 li-1", "提醒 li-2"]


async def test_a_chat_told_to_wait_keeps_its_later_pushes_behind(app: App, clock: Clock) -> None:
    channel = Recorder(failures=[TemporaryFailure("429", retry_after=30)])
    app.pipeline.add(channel)
    for key in ("li-1", "li-2"):
        await app.outbox.push(push("li", key))
    assert await app.outbox.drain() == 0  # li-1 told to wait 30 s: li-2 waits behind it, not sent before it
    assert channel.delivered == []
    clock.advance(dt.timedelta(seconds=31))
    assert await app.outbox.drain() == 2
    assert [text for _, text in channel.delivered] == ["提醒 li-1", "提醒 li-2"]


async def test_a_push_made_while_a_chat_waits_goes_out_without_waiting_for_it(app: App) -> None:
    channel = Gated(slow="li")
    app.pipeline.add(channel)
    await app.outbox.push(push("li", "li-1"))
    draining = asyncio.create_task(app.outbox.drain())
    await channel.slow_began.wait()
    await app.outbox.push(push("wang", "wang-1"))  # li's push waits until another chat's went: this one
    async with asyncio.timeout(10):
        assert await draining == 2
    assert [text for _, text in channel.delivered] == ["提醒 wang-1", "提醒 li-1"]
