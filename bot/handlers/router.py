"""The conversation's entry point: one Message in, replies out, whatever the channel.

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

from bot.actions.base import Services
from bot.actions.plans import served_plans
from bot.core.chinese import without_controls
from bot.core.errors import Transient, UserError
from bot.core.intents import named_plan
from bot.core.messages import ENTERED, FOLLOWED, UNSUPPORTED, Choice, Message, Reply
from bot.core.views import Question
from bot.handlers.context import ANYONE, LIAISON, WORK, Context, WhichPlan, identify
from bot.store.db import is_transient

log = logging.getLogger(__name__)

Replies = list[Reply]
CommandHandler = Callable[[Context, str], Awaitable[Replies]]
ChoiceHandler = Callable[[Context, Question, str], Awaitable[Replies]]
MessageHandler = Callable[[Context], Awaitable[Replies]]

APOLOGY = "抱歉，处理您的消息时出了问题，已记录下来，请稍后再试。如一直不行，请联系节水办。"
MAX_TEXT = 2000
WHICH_PLAN = "which-plan"  # a task number in several active plans: which one the sender means
UNREADABLE = ("暂时只能处理文字、图片和文件。提交材料：直接发送文件或图片；发不了的文件请用上传页面：发送「任务」加任务号"
              "（例如「任务12」），点开其中的「上传佐证材料」。")


@dataclass(frozen=True)
class Command:
    """A slash command: its handler, its Chinese help line, and who sees it in /help."""

    name: str
    handler: CommandHandler
    help: str
    who: str = ANYONE  # all | liaison | coordinator: enforced by the router, and filters /help
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChoiceRoute:
    """The handler of answers to one kind of question (button), and who may still answer it."""

    handler: ChoiceHandler
    who: str = LIAISON


@dataclass
class Router:
    """Maps commands, button answers, attachments and free text to handlers."""

    commands: dict[str, Command] = field(default_factory=dict)
    choices: dict[str, ChoiceRoute] = field(default_factory=dict)
    on_text: MessageHandler | None = None
    on_attachments: MessageHandler | None = None
    on_entered: MessageHandler | None = None

    def command(self, name: str, handler: CommandHandler, help: str, who: str = ANYONE,
                aliases: tuple[str, ...] = ()) -> None:
        """Register a command under its name and aliases."""
        cmd = Command(name, handler, help, who, aliases)
        for key in (name, *aliases):
            self.commands[key] = cmd

    def choice(self, kind: str, handler: ChoiceHandler, who: str = LIAISON) -> None:
        """Register the handler for answers to a question of this kind, re-checking `who` at every press."""
        self.choices[kind] = ChoiceRoute(handler, who)

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

    async def handle(self, msg: Message) -> Replies:
        """Identify the sender, route the message, and turn refusals into Chinese answers."""
        text, name = without_controls(msg.text), without_controls(msg.user_name)
        if text != msg.text or name != msg.user_name:
            msg = dataclasses.replace(msg, text=text, user_name=name)
        try:
            ctx = await self._context(msg)
            try:
                replies = await self._route(ctx)
            except WhichPlan as e:
                replies = await self._which_plan(ctx, e)
        except UserError as e:
            log.info("refused %s:%s: %s", msg.channel, msg.user_id, e.message)
            replies = [Reply(e.message)]
        except Exception as e:
            if is_transient(e):
                raise Transient(str(e)) from e  # the message is handled again: one real answer, late
            log.exception("unhandled error for %s:%s text=%r", msg.channel, msg.user_id, msg.text[:200])
            replies = [Reply(APOLOGY)]
        return replies

    async def _context(self, msg: Message) -> Context:
        """Identify the sender: a command, a button or a file may act, so its sender is read from the database;
        free text is a question (the few free-text actions re-check with `Context.act`)."""
        s = self.services
        acts = msg.callback is not None or bool(msg.attachments) or msg.text.lstrip().startswith("/")
        person = await identify(s, msg, fresh=acts)
        plans = await served_plans(s)
        named, text = named_plan(msg.text, plans) if msg.text else (None, msg.text)
        if named is not None:
            return Context(s, dataclasses.replace(msg, text=text), person, named, plans, pinned=True)
        return Context(s, msg, person, plans[0], plans)

    async def _which_plan(self, ctx: Context, asked: WhichPlan) -> Replies:
        """Ask which plan a task number means, with a button per plan that answers the message again in it."""
        if ctx.msg.attachments or ctx.msg.callback is not None:
            return [Reply(asked.message)]  # a file or a button is not sent again: the sender says the plan
        token = await ctx.store.chats.ask(ctx.person.key, WHICH_PLAN, {"text": ctx.msg.text,
                                                                       "plans": [p.id for p in asked.plans]},
                                          now=ctx.now)
        return [Reply(asked.message, choices=tuple(Choice(p.label, f"{token}:{p.id}") for p in asked.plans))]

    async def _in_plan(self, ctx: Context, question: Question, answer: str) -> Replies:
        """Answer the message a 「哪一份计划」 question held, in the plan chosen."""
        offered = question.payload.get("plans")
        plan = next((p for p in ctx.plans if str(p.id) == answer and isinstance(offered, list) and p.id in offered),
                    None)
        if plan is None:
            raise UserError("这份计划现在不在办理中，请重新发送。")
        ctx.settle(plan)
        ctx.msg = dataclasses.replace(ctx.msg, text=str(question.payload["text"]), callback=None)
        return await self._route(ctx)

    async def _route(self, ctx: Context) -> Replies:
        msg = ctx.msg
        if msg.callback is not None:
            token, _, answer = msg.callback.partition(":")
            question = await ctx.store.chats.take_question(token, ctx.person.key, now=ctx.now, check=self._may_answer(ctx))
            if question.kind == WHICH_PLAN:
                return await self._in_plan(ctx, question, answer)
            ctx.settle_asked(question.payload)
            return await self.router.choices[question.kind].handler(ctx, question, answer)
        if msg.event in (ENTERED, FOLLOWED) and self.router.on_entered is not None:
            return await self.router.on_entered(ctx)
        if msg.event == UNSUPPORTED:
            return [Reply(UNREADABLE)]
        if msg.attachments and self.router.on_attachments is not None:
            ctx.permit(WORK)
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
            if kind == WHICH_PLAN:
                return  # anyone may say which plan they meant: the message is checked when it is answered again
            answer = self.router.choices.get(kind)
            if answer is None:
                raise UserError("这个按钮已失效，请重新发起操作。")
            ctx.permit(answer.who)

        return check
