"""Notices pushed through the outbox: to every coordinator (optionally with buttons each can press) or to a unit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.actions.base import Actor
from bot.core.messages import ChatRef, Choice, Push, Reply

QUESTION_TTL = dt.timedelta(days=7)  # a notice's buttons wait longer than an answer in chat: people read them later


async def notify_coordinators(actor: Actor, text: str, key: str, *, kind: str = "", payload: dict[str, Any] | None = None,
                              options: Sequence[tuple[str, str]] = ()) -> None:
    """Tell every coordinator but the sender: those known to the store and those configured who never wrote yet.

    With `options` (label, answer), each coordinator gets buttons of their own, answered by the `kind` handler.
    """
    chats = {p.key: p.chat for p in await actor.store.people.coordinators()}
    for who in actor.services.settings.coordinator_keys:
        channel, _, user_id = who.partition(":")
        chats.setdefault(who, ChatRef(channel, user_id))
    for who, chat in chats.items():
        if who == actor.key:
            continue
        choices: tuple[Choice, ...] = ()
        if options:
            token = await actor.store.chats.ask(who, kind, payload or {}, now=actor.now, ttl=QUESTION_TTL)
            choices = tuple(Choice(label, f"{token}:{answer}") for label, answer in options)
        await actor.services.push(Push(chat, Reply(text, choices=choices), dedupe_key=f"{key}:{who}"))


async def notify_unit(actor: Actor, unit: str, text: str, key: str, *,
                      option: tuple[str, str, dict[str, Any]] | None = None,
                      link_task: tuple[int, int] | None = None, link_item: int | None = None) -> None:
    """Tell every liaison of a unit.

    With `option` (label, kind, payload), each gets a button of their own, answered by the `kind` handler; with
    `link_task` (plan id, task no), the task's upload page link, for channels where a file cannot be sent in chat
    (with `link_item`, the page opens on that item).
    """
    for person in await actor.store.people.liaisons(unit):
        choices: tuple[Choice, ...] = ()
        if option is not None:
            label, kind, payload = option
            token = await actor.store.chats.ask(person.key, kind, payload, now=actor.now, ttl=QUESTION_TTL)
            choices = (Choice(label, f"{token}:go"),)
        link = None
        if link_task is not None and actor.services.upload_link is not None:
            url = actor.services.upload_link(person, *link_task)
            link = ("上传佐证材料", f"{url}?item={link_item}" if link_item is not None else url)
        await actor.services.push(Push(person.chat, Reply(text, choices=choices, link=link),
                                       dedupe_key=f"{key}:{person.key}"))
