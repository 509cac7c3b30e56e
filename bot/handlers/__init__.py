"""Conversation features, one module each; `build_router` registers them all in one visible place."""

from __future__ import annotations

from bot.actions import returns
from bot.handlers import (
    completion,
    delay,
    desk,
    digest,
    due,
    evidence,
    export,
    notes,
    people,
    remind,
    review,
    robots,
    task,
)
from bot.handlers.chat import entered_handler, help_handler, on_page, on_text
from bot.handlers.context import LEADER, WORK
from bot.handlers.router import Router


def build_router() -> Router:
    """Register every command, button answer and message handler."""
    r = Router()
    r.command("help", help_handler(r), "/help：查看可以使用的功能", aliases=("start", "帮助"))
    r.command("bind", people.bind, "/bind 邀请码：绑定您的单位")
    r.command("due", due.due, "/due [本月|下个月|十月|逾期]：查看本单位的任务", who="liaison", aliases=("mytasks", "tasks"))
    r.command("task", task.show_task, "/task 12：查看任务详情和材料清单", who="liaison")
    r.command("files", task.show_files, "/files 12：查看任务已收到的文件", who="liaison")
    r.command("lastyear", task.last_year, "/lastyear 12：查看去年同一任务各项材料的文件（只供参考）", who="liaison",
              aliases=("去年",))
    r.command("withdraw", task.withdraw, "/withdraw 文件编号：撤回提交错的文件", who=WORK)
    r.command("done", completion.done, "/done 12：报告任务完成，提交审核", who=WORK)
    r.command("progress", completion.progress, "/progress 20 2 备注：登记数量进度", who=WORK)
    r.command("note", notes.note, "/note 41 进展内容：记录阶段性进展", who="liaison")
    r.command("delay", delay.delay, "/delay 40 2023-11-15 原因：申请延期", who=WORK)
    r.command("instruct", notes.instruct, "/批示 40 意见：对本单位的任务写批示（也可写 /instruct 40 意见）", who=LEADER,
              aliases=("批示",))
    r.command("digest", digest.digest, "/digest [单位] [图]：进度简报；/digest 月报：月度通报", who="liaison")
    r.command("desk", desk.desk, "/desk：获取督办台（网页）登录链接，在网页上查看任务和材料", who="liaison")
    r.command("units", people.units, "/units：查看单位名称和简称")
    r.command("approve", completion.approve, "/approve 12：审核通过", who="coordinator")
    r.command("return", completion.return_task, "/return 12 原因：退回任务；/return 12-3 原因：退回一项材料",
              who="coordinator")
    r.command("review", review.review, "/review [任务号]：待审核的任务，查看材料并审核", who="coordinator")
    r.command("invite", people.invite, "/invite 单位 [领导]：生成联络员（或分管领导）邀请码", who="coordinator")
    r.command("liaisons", people.liaisons, "/liaisons [单位]：查看联络员", who="coordinator")
    r.command("remove", people.remove, "/remove 渠道:用户ID：移除联络员", who="coordinator")
    r.command("urge", digest.urge, "/urge 单位 [任务号]：催办（写任务号时发出编号的督办通知单）", who="coordinator")
    r.command("subscribe", digest.subscribe, "/subscribe：本群订阅每周简报（群聊）", who="coordinator")
    r.command("unsubscribe", digest.unsubscribe, "/unsubscribe：本群取消订阅简报", who="coordinator")
    r.command("export", export.export, "/export [材料 [单位]]：导出台账或佐证材料包", who="coordinator")
    r.command("robot", robots.robot, "/robot 名称 KEY：登记企业微信群机器人（接收简报）", who="coordinator")
    r.choice(evidence.KIND, evidence.on_choice, who=WORK)
    r.choice(completion.KIND, completion.on_confirm, who=WORK)
    r.choice(delay.KIND, delay.on_choice, who="coordinator")
    r.choice(review.KIND, review.on_choice, who="coordinator")
    r.choice(review.RETURN_FILE, review.on_return_file, who="coordinator")
    r.choice(returns.REUPLOAD, evidence.on_reupload, who=WORK)
    r.choice(due.PAGE_KIND, on_page)
    r.choice(remind.KIND, remind.on_reminder_choice, who=WORK)
    r.choice(task.LAST_YEAR, task.on_last_year)
    r.on_text = on_text
    r.on_attachments = evidence.on_attachments
    r.on_entered = entered_handler(r)
    return r
