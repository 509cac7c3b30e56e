"""One task: its detail, its files, withdrawing a wrong file, last year's files for the same items."""

from __future__ import annotations

from bot.actions import evidence, instructions, lastyear
from bot.actions.access import is_leader, may_see_task, require_involved
from bot.core.chinese import day_text, whole_number
from bot.core.clock import SHANGHAI
from bot.core.errors import UserError
from bot.core.intents import task_number
from bot.core.messages import Choice, Reply
from bot.core.views import Question, TaskView
from bot.handlers.context import Context
from bot.handlers.router import Replies
from bot.reports.render import files_list, task_detail

LAST_YEAR = "last-year"  # the 去年同项材料 button under a task's detail
SHOWN_INSTRUCTIONS = 3  # the latest 批示 under a task's detail; all of them are in its history on the desk


def require_task_no(args: str, usage: str) -> int:
    """Read the task number at the start of a command's arguments, or explain the usage."""
    word = args.split(" ", 1)[0]
    no = task_number(word) if word else None
    if no is None:
        wrong = f"“{word[:20]}”不是任务编号。" if word else ""
        raise UserError(f"{wrong}请写上任务编号，例如 {usage}")
    return no


async def show_task(ctx: Context, args: str) -> Replies:
    """/task 12：查看任务详情和材料清单"""
    return await task_reply(ctx, require_task_no(args, "/task 12"))


async def task_reply(ctx: Context, no: int) -> Replies:
    """Render a task's detail with the actions open to the sender as buttons."""
    t = await ctx.task(no)
    choices: list[Choice] = []
    role = t.role_of(ctx.person.unit) if ctx.person.unit else None
    text = task_detail(t, ctx.today, await ctx.store.notes.latest(ctx.plan.id, no) if t.latest_note else (),
                       ctx.services.settings.warning_rule)
    said = await ctx.store.chats.audit(plan_id=ctx.plan.id, task_no=no, action=instructions.ACTION, limit=SHOWN_INSTRUCTIONS)
    if said:
        text += "\n\n分管领导批示：" + "".join(
            f"\n· {a['at'].astimezone(SHANGHAI):%m月%d日} {a['detail'].get('unit', '')}{a['detail'].get('name', '')}："
            f"{a['detail'].get('text', '')}" for a in said)
    for asked in await ctx.store.extensions.pending(ctx.plan.id, no):
        text += f"\n\n延期申请：{asked.unit}申请延至{day_text(asked.deadline_to)}，待节水办批复。"
    works = None if is_leader(ctx.person) else role  # a leader reads; the unit's liaisons file and report
    if works is not None and t.items:
        text += f"\n\n提交材料：直接发送文件，说明里写「{t.no}-材料序号」，例如「{t.no}-{(t.missing or t.items)[0].no}」。"
    if works == "lead" and t.status.is_open:
        text += f"\n全部材料齐全后发送「/done {t.no}」提交审核。"
    if t.continues is not None and (role is not None or ctx.person.coordinator):
        token = await ctx.store.chats.ask(ctx.person.key, LAST_YEAR, {"plan": ctx.plan.id, "task": t.no}, now=ctx.now)
        choices.append(Choice("去年同项材料", f"{token}:show"))
    if ctx.services.upload_link is not None and may_see_task(ctx.person, t) and not is_leader(ctx.person) and t.items:
        return [Reply(text, link=("上传佐证材料", ctx.services.upload_link(ctx.person, ctx.plan.id, t.no)), choices=tuple(choices))]
    return [Reply(text, choices=tuple(choices))]


async def show_files(ctx: Context, args: str) -> Replies:
    """/files 12：查看任务已收到的文件"""
    no = require_task_no(args, "/files 12")
    t = await ctx.task(no)
    require_involved(ctx.person, t)
    return [Reply(files_list(t, await ctx.store.evidence.files(ctx.plan.id, no)))]


async def withdraw(ctx: Context, args: str) -> Replies:
    """/withdraw 文件编号：撤回提交错的文件"""
    file_id = whole_number(args.strip().lstrip("#＃"))
    if file_id is None:
        raise UserError("请写上文件编号（阿拉伯数字），例如 /withdraw 37。发送「/files 任务号」可以看到编号。")
    f = await evidence.withdraw(ctx.actor, file_id)
    return [Reply(f"已撤回文件 #{f.id}「{f.file_name}」（任务{f.task_no} 材料{f.item_no}）。"
                  "文件记录保留在操作日志中。")]


async def last_year(ctx: Context, args: str) -> Replies:
    """/lastyear 12：查看上一份计划中同一任务各项材料的文件（只供参考，不计入本年材料）"""
    return await _last_year(ctx, await ctx.task(require_task_no(args, "/lastyear 12")))


async def on_last_year(ctx: Context, question: Question, answer: str) -> Replies:
    """Show last year's files of a task from the button under its detail."""
    if not ctx.pinned:  # the router settles the plan the button was asked about, while it is served
        raise UserError("这份计划已不在办理中。")
    return await _last_year(ctx, await ctx.task(int(str(question.payload["task"]))))


async def _last_year(ctx: Context, t: TaskView) -> Replies:
    """List, item by item, the files the earlier plan's same task received: one step away, never this year's."""
    found = await lastyear.last_year(ctx.actor, t)
    if found is None:
        return [Reply(f"任务{t.no}在上一份计划中没有对应的任务（导入时没有匹配上），没有去年的材料可看。")]
    lines = [f"任务{t.no}去年对应的是{found.plan_label}的任务{found.task.no}{found.state}。以下文件只供参考，不计入今年的材料："]
    for e in found.items:
        if e.match is None:
            lines.append(f"· {e.item.no}. {e.item.title}：去年没有这一项")
        elif not e.files:
            lines.append(f"· {e.item.no}. {e.item.title}：去年这一项（材料{e.match.no}）没有收到文件")
        else:
            names = "；".join(f"#{f.id}「{f.file_name}」" for f in e.files[:5]) + ("……" if len(e.files) > 5 else "")
            lines.append(f"· {e.item.no}. {e.item.title}：去年材料{e.match.no}有{len(e.files)}个文件：{names}")
    return [Reply("\n".join(lines))]
