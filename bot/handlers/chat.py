"""Help, and free text: route a Chinese sentence to the handler it asks for."""

from __future__ import annotations

from bot.core import intents
from bot.core.intents import Kind
from bot.core.messages import ENTERED, Reply
from bot.core.views import Question
from bot.handlers import delay, notes, questions
from bot.handlers.context import LIAISON, WORK, Context
from bot.handlers.digest import plan_digest
from bot.handlers.due import PAGE_KIND, list_tasks, next_page
from bot.handlers.evidence import expect_file
from bot.handlers.router import CommandHandler, MessageHandler, Replies, Router
from bot.handlers.task import show_files, task_reply

NOT_UNDERSTOOD = ("没太明白您的意思。可以这样问：\n· 我单位有哪些任务\n· 十月份要完成什么\n· 逾期的任务\n"
                  "· 任务12还差哪些材料\n或发送 /help 查看全部功能。")


def help_handler(router: Router) -> CommandHandler:
    """Build /help for this router: each role sees the commands it can use."""

    async def help_(ctx: Context, args: str) -> Replies:
        """/help：查看可以使用的功能"""
        p = ctx.person
        role = ("节水办统筹人员" if p.coordinator else f"{p.unit}分管领导" if p.leader
                else f"{p.unit}联络员" if p.unit else "尚未绑定单位")
        titles = "》《".join(plan.title for plan in ctx.plans or [ctx.plan])
        lines = [f"您好{('，' + p.name) if p.name else ''}！我是督办助手，帮助各单位落实《{titles}》。",
                 f"您的身份：{role}。", ""]
        if not p.coordinator and not p.unit:
            lines += ["请先向节水办索取邀请码，然后发送「/bind 邀请码」绑定您的单位。", ""]
        lines.append("可以直接用中文问我，例如：")
        lines += ["· 我单位有哪些任务 / 我们牵头的任务 / 配合的任务", "· 本月到期的 / 下个月 / 国庆前要交的 / 全年任务",
                  "· 逾期的任务", "· 任务12还差哪些材料 / 任务12谁负责", "· 任务41进展：已完成2所学校的申报",
                  "· 任务40申请延期到11月15日，因为……", "· 这个月要报什么 / 还有哪些没报进展 / 红灯任务"]
        if p.coordinator:
            lines += ["· 教育局的任务", "· 各单位进度怎么样", "· 哪些单位还没交材料", "· 哪些单位还没有绑定联络员",
                      "· 哪些单位没报进展 / 黄灯的有哪些"]
        lines += ["", "提交材料：直接发送文件，在说明里写「任务号-材料序号」，例如「12-3」。", "", "命令："]
        lines += [cmd.help for cmd in router.listed() if ctx.allows(cmd.who)]
        return [Reply("\n".join(lines))]

    return help_


def entered_handler(router: Router) -> MessageHandler:
    """Build the greeting for someone given duban or opening the chat: the help text (on opening, once a day:
    apps fire it on every open)."""
    help_ = help_handler(router)

    async def entered(ctx: Context) -> Replies:
        """Greet with what duban can do."""
        day = ctx.today.isoformat()
        if ctx.msg.event == ENTERED and not await ctx.store.chats.first_time(f"hello:{ctx.person.key}:{day}", ctx.now):
            return []
        return await help_(ctx, "")

    return entered


async def on_text(ctx: Context) -> Replies:
    """Answer a free-text message by the intent it expresses."""
    task_no, item_no = intents.evidence_ref(ctx.msg.text)
    if task_no is not None and item_no is not None and len(ctx.msg.text.strip()) <= 12:
        await ctx.act(WORK)
        return await expect_file(ctx, task_no, item_no)  # 「40-3」 alone: the next file goes there
    intent = intents.parse(ctx.msg.text, today=ctx.today, plan_year=ctx.plan.year, units=ctx.services.units)
    if intent.kind in (Kind.DELAY, Kind.NOTE):
        await ctx.act(WORK)  # these write: checked against the database, as a command's sender is
    elif intent.kind not in (Kind.HELP, Kind.UNKNOWN):
        ctx.permit(LIAISON)  # the check /task, /files, /due and /digest pass in the router
    if intent.kind is Kind.NEXT_PAGE:
        question = await ctx.store.chats.take_latest(ctx.person.key, PAGE_KIND, now=ctx.now)
        if question is None:
            return [Reply("没有更多内容了。")]
        return await next_page(ctx, question)
    if intent.kind is Kind.DELAY and intent.task_no is not None:
        return await delay.request(ctx, intent.task_no, intent.day, intent.text)
    if intent.kind is Kind.NOTE and intent.task_no is not None:
        return await notes.add_note(ctx, intent.task_no, intent.text)
    if intent.kind is Kind.WHO and intent.task_no is not None:
        return await questions.who(ctx, intent.task_no)
    if intent.kind is Kind.MISSING_UNITS:
        return await questions.missing_units(ctx)
    if intent.kind is Kind.UNBOUND_UNITS:
        return await questions.unbound_units(ctx)
    if intent.kind is Kind.UNREPORTED_UNITS:
        return await questions.unreported_units(ctx)
    if intent.kind is Kind.TASK and intent.task_no is not None:
        return await task_reply(ctx, intent.task_no)
    if intent.kind is Kind.FILES and intent.task_no is not None:
        return await show_files(ctx, str(intent.task_no))
    if intent.kind is Kind.TASKS:
        return await list_tasks(ctx, intent)
    if intent.kind is Kind.DIGEST:
        unit = intent.unit.name if intent.unit else None
        if unit is None and not ctx.person.coordinator:
            unit = ctx.require_unit()
        if unit is not None and unit != ctx.person.unit:
            ctx.require_coordinator()
        return [await plan_digest(ctx, plan, tasks, unit) for plan, tasks in await ctx.all_tasks()]
    if intent.kind is Kind.HELP:
        return [Reply("您好！我是督办助手。" + NOT_UNDERSTOOD.split("。", 1)[1])]
    return [Reply(NOT_UNDERSTOOD)]


async def on_page(ctx: Context, question: Question, answer: str) -> Replies:
    """Show the next page when the 下一页 button is pressed."""
    return await next_page(ctx, question)
