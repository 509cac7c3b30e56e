"""The conversation's entry point: one Incoming in, replies out, whatever the channel.

Handlers are registered explicitly in `bot.handlers.build_router`; each returns its replies
(Errbot's habit) and raises `UserError` to refuse. Anything else is a bug: logged with its traceback,
answered with a short apology.

Access is decided here, once: every command, button answer and attachment is checked against the
sender's current role (`who`) before its handler runs, and every answer is split to the channel's
`reply_limit` before it leaves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.core.chinese import without_controls
from bot.core.errors import UserError
from bot.core.messages import Incoming, Reply
from bot.core.views import PendingView
from bot.handlers.context import ANYONE, LIAISON, Context, Services, identify

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
    who: str = ANYONE  # all | liaison | coordinator: enforced by the router, and filters /help
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """The handler of answers to one kind of question (button), and who may still answer it."""

    handler: ChoiceHandler
    who: str = LIAISON


@dataclass
class Router:
    """Maps commands, button answers, attachments and free text to handlers."""

    commands: dict[str, Command] = field(default_factory=dict)
    choices: dict[str, Answer] = field(default_factory=dict)
    on_text: MessageHandler | None = None
    on_attachments: MessageHandler | None = None

    def command(self, name: str, handler: CommandHandler, help: str, who: str = ANYONE,
                aliases: tuple[str, ...] = ()) -> None:
        """Register a command under its name and aliases."""
        cmd = Command(name, handler, help, who, aliases)
        for key in (name, *aliases):
            self.commands[key] = cmd

    def choice(self, kind: str, handler: ChoiceHandler, who: str = LIAISON) -> None:
        """Register the handler for answers to a question of this kind, re-checking `who` at every press."""
        self.choices[kind] = Answer(handler, who)

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
        text, name = without_controls(msg.text), without_controls(msg.user_name)
        if text != msg.text or name != msg.user_name:
            msg = dataclasses.replace(msg, text=text, user_name=name)
        try:
            ctx = await self._context(msg)
            replies = await self._route(ctx)
        except UserError as e:
            log.info("refused %s:%s: %s", msg.channel, msg.user_id, e.message)
            replies = [Reply(e.message)]
        except Exception:
            log.exception("unhandled error for %s:%s text=%r", msg.channel, msg.user_id, msg.text[:200])
            replies = [Reply(APOLOGY)]
        return [part for reply in replies for part in split_reply(reply, msg.reply_limit)]

    async def _context(self, msg: Incoming) -> Context:
        """Identify the sender: a command, a button or a file may act, so its sender is read from the database;
        free text is a question (the few free-text actions re-check with `Context.act`)."""
        s = self.services
        acts = msg.callback is not None or bool(msg.attachments) or msg.text.lstrip().startswith("/")
        person = await identify(s, msg, fresh=acts)
        plan = await s.reads.plan(s.settings.plan or None)
        return Context(s, msg, person, plan)

    async def _route(self, ctx: Context) -> Replies:
        msg = ctx.msg
        if msg.callback is not None:
            token, _, answer = msg.callback.partition(":")
            pending = await ctx.store.chats.answer(token, ctx.person.key, now=ctx.now, check=self._may_answer(ctx))
            return await self.router.choices[pending.kind].handler(ctx, pending, answer)
        if msg.attachments and self.router.on_attachments is not None:
            ctx.permit(LIAISON)
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
            ctx.permit(cmd.who)
            return await cmd.handler(ctx, rest.strip())
        if self.router.on_text is None:
            return []
        return await self.router.on_text(ctx)

    def _may_answer(self, ctx: Context) -> Callable[[str], None]:
        """Return the check a button press passes before its question is consumed: a known kind, the role it needs."""

        def check(kind: str) -> None:
            answer = self.router.choices.get(kind)
            if answer is None:
                raise UserError("这个按钮已失效，请重新发起操作。")
            ctx.permit(answer.who)

        return check


def split_reply(reply: Reply, limit: int) -> list[Reply]:
    """Split a reply longer than the channel's limit into several, at line ends where possible.

    The safety net under every handler: lists page themselves, anything else too long still arrives whole.
    Buttons, links and files go with the last part; only the first part may replace the pressed message.
    """
    if len(reply.text) <= limit:
        return [reply]
    lines = [whole[i:i + limit] for whole in reply.text.split("\n") for i in range(0, max(len(whole), 1), limit)]
    parts = [lines[0]]
    for line in lines[1:]:
        if len(parts[-1]) + 1 + len(line) <= limit:
            parts[-1] += "\n" + line
        else:
            parts.append(line)
    last = len(parts) - 1
    return [Reply(text, choices=reply.choices if n == last else (), file=reply.file if n == last else None,
                  link=reply.link if n == last else None, edit=reply.edit and n == 0)
            for n, text in enumerate(parts)]
