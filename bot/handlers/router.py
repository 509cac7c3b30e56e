"""The conversation's entry point: one Incoming in, replies out, whatever the channel.

Handlers are registered explicitly in `bot.handlers.build_router`; each returns its replies
(Errbot's habit) and raises `UserError` to refuse. Anything else is a bug: logged with its traceback,
answered with a short apology.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.core.errors import UserError
from bot.core.messages import Incoming, Reply
from bot.core.views import PendingView
from bot.handlers.context import Context, Services

log = logging.getLogger(__name__)

Replies = list[Reply]
CommandHandler = Callable[[Context, str], Awaitable[Replies]]
ChoiceHandler = Callable[[Context, PendingView, str], Awaitable[Replies]]
MessageHandler = Callable[[Context], Awaitable[Replies]]

APOLOGY = "抱歉，处理您的消息时出了问题，已记录下来，请稍后再试。如一直不行，请联系节水办。"
MAX_TEXT = 2000


@dataclass(frozen=True)
class Command:
    """A slash command: its handler, its Chinese help line, and who sees it in /help."""

    name: str
    handler: CommandHandler
    help: str
    who: str = "all"  # all | liaison | coordinator
    aliases: tuple[str, ...] = ()


@dataclass
class Router:
    """Maps commands, button answers, attachments and free text to handlers."""

    commands: dict[str, Command] = field(default_factory=dict)
    choices: dict[str, ChoiceHandler] = field(default_factory=dict)
    on_text: MessageHandler | None = None
    on_attachments: MessageHandler | None = None

    def command(self, name: str, handler: CommandHandler, help: str, who: str = "all",
                aliases: tuple[str, ...] = ()) -> None:
        """Register a command under its name and aliases."""
        cmd = Command(name, handler, help, who, aliases)
        for key in (name, *aliases):
            self.commands[key] = cmd

    def choice(self, kind: str, handler: ChoiceHandler) -> None:
        """Register the handler for answers to a question of this kind."""
        self.choices[kind] = handler

    def listed(self) -> list[Command]:
        """Return each command once, in registration order (for /help and setMyCommands)."""
        seen: dict[str, Command] = {}
        for cmd in self.commands.values():
            seen.setdefault(cmd.name, cmd)
        return list(seen.values())


class Conversation:
    """Handle one message from any channel and return the replies."""

    def __init__(self, services: Services, router: Router) -> None:
        self.services = services
        self.router = router

    async def handle(self, msg: Incoming) -> Replies:
        """Identify the sender, route the message, and turn refusals into Chinese answers."""
        try:
            ctx = await self._context(msg)
            return await self._route(ctx)
        except UserError as e:
            return [Reply(e.message)]
        except Exception:
            log.exception("unhandled error for %s:%s text=%r", msg.channel, msg.user_id, msg.text[:200])
            return [Reply(APOLOGY)]

    async def _context(self, msg: Incoming) -> Context:
        s = self.services
        key = f"{msg.channel}:{msg.user_id}"
        person = await s.store.people.identify(
            msg.channel, msg.user_id, name=msg.user_name, now=s.clock.utcnow(),
            chat_id=None if msg.is_group else msg.chat.chat_id,
            coordinator=key in s.settings.coordinator_keys)
        plan = await s.store.plans.plan(s.settings.plan or None)
        return Context(s, msg, person, plan)

    async def _route(self, ctx: Context) -> Replies:
        msg = ctx.msg
        if msg.callback is not None:
            token, _, answer = msg.callback.partition(":")
            pending = await ctx.store.chats.answer(token, ctx.person.key, now=ctx.now)
            handler = self.router.choices.get(pending.kind)
            if handler is None:
                raise UserError("这个按钮已失效，请重新发起操作。")
            return await handler(ctx, pending, answer)
        if msg.attachments and self.router.on_attachments is not None:
            return await self.router.on_attachments(ctx)
        text = msg.text.strip()
        if len(text) > MAX_TEXT:
            raise UserError(f"消息太长了（{len(text)}字）。请只发送要查询或办理的事项，例如“任务12还差哪些材料”。")
        if text.startswith("/"):
            word, _, rest = text[1:].partition(" ")
            name = word.split("@", 1)[0].lower()
            cmd = self.router.commands.get(name)
            if cmd is None:
                raise UserError(f"没有 /{name} 这个命令。发送 /help 查看可以使用的命令。")
            return await cmd.handler(ctx, rest.strip())
        if self.router.on_text is None:
            return []
        return await self.router.on_text(ctx)
