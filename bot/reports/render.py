"""Turn tasks and progress into the Chinese text every channel shows (plain text; channels add markup)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.core.chinese import day_text, days_phrase
from bot.core.views import DEFAULT_RULE, FileView, ProgressNoteView, TaskStatus, TaskView, WarningRule


def deadline_text(t: TaskView) -> str:
    """Say a deadline as the plan writes it: 2023.10 → 2023年10月底, 全年 → 全年（12月31日前）; an extension's day."""
    if t.deadline_original is not None:
        return f"{day_text(t.deadline)}，已批准延期，原定{t.deadline_raw}"
    if t.deadline_raw == "全年":
        return f"全年（{t.deadline.year}年12月31日前）"
    return f"{t.deadline.year}年{t.deadline.month}月底"


def deadline_line(t: TaskView) -> str:
    """Say a deadline with its reading: 2023.10（2023年10月底）, or an extension's day with the plan's deadline."""
    if t.deadline_original is not None:
        return f"{day_text(t.deadline)}（已批准延期，原定{t.deadline_raw}）"
    return f"{t.deadline_raw}（{deadline_text(t)}）"


def task_line(t: TaskView, today: dt.date, rule: WarningRule = DEFAULT_RULE) -> str:
    """Render one task as two short lines for a list, led by its traffic light (colour and word)."""
    urgency = "" if t.status in (TaskStatus.APPROVED, TaskStatus.SUBMITTED) else f"，{days_phrase(t.deadline, today)}"
    evidence = f" · 材料 {t.evidence_done}/{len(t.items)}" if t.items else " · 无需材料"
    level = t.warning(today, rule)
    mark = level.marker if level is not None else "•"
    return (f"{mark}【任务{t.no}】{t.short_title(30)}\n"
            f"   截止 {deadline_short(t)}{urgency} · {t.status.label}{evidence}")


def deadline_short(t: TaskView) -> str:
    """Say a deadline in a list: the plan's 2023.10, or an extension's 2023.11.15（延期）."""
    return f"{t.deadline:%Y.%m.%d}（延期）" if t.deadline_original is not None else t.deadline_raw


def task_detail(t: TaskView, today: dt.date, progress_notes: Sequence[ProgressNoteView] = (),
                rule: WarningRule = DEFAULT_RULE) -> str:
    """Render a task's full detail: text, deadline, units, state and warning, checklist, notes, targets, progress."""
    lines = [f"任务{t.no}（牵头单位：{t.lead}）", t.text, ""]
    urgency = "" if t.status is TaskStatus.APPROVED else f"，{days_phrase(t.deadline, today)}"
    if t.deadline_original is not None:
        lines.append(f"完成时间：{day_text(t.deadline)}（已批准延期，原定{t.deadline_raw}{urgency}）")
    else:
        lines.append(f"完成时间：{t.deadline_raw}（{deadline_text(t)}{urgency}）")
    lines.append(f"配合单位：{'、'.join(t.cooperating) if t.cooperating else '无'}")
    status = t.status.label + (f"（退回原因：{t.status_note}）" if t.status is TaskStatus.RETURNED and t.status_note else "")
    lines.append(f"状态：{status}")
    light = t.light(today, rule)
    if light is not None:
        lines.append(f"预警：{light[0].marker}" + (f"（{light[1]}）" if light[1] else ""))
    if t.recurrence:
        lines.append("周期：" + ("每月" if t.recurrence.value == "monthly" else "每季度") + "报送")
    for target in t.targets:
        progress = f"，当前进度 {_num(t.progress)}" if t.progress is not None else "，尚未登记进度"
        lines.append(f"目标：{target.phrase}{progress}")
    if t.items:
        lines.append("")
        lines.append(f"佐证材料（已收 {t.evidence_done}/{len(t.items)}）：")
        for i in t.items:
            got = f"（已收{i.files}个文件）" if i.files else "（未收）"
            if i.returned:
                got = f"（已退回：{i.returned}" + (f"；另有{i.files}个文件）" if i.files else "）")
            lines.append(f"{'↩️' if i.returned else '✅' if i.files else '⬜'} {i.no}. {i.title}{got}")
        if t.shared_with:
            others = "、".join(f"任务{n}" for n in t.shared_with)
            lines.append(f"注：本任务与{others}共用这份材料清单，提交一次即两项任务都计入。")
    else:
        lines.append("佐证材料：本任务不要求提交佐证材料。")
    for note in t.notes:
        lines += ["", f"备注：{note}"]
    if progress_notes:
        lines += ["", f"阶段性进展（最近{len(progress_notes)}条）："]
        lines += [f"· {n.line()}" for n in progress_notes]
    return "\n".join(lines)


def files_list(task: TaskView, files: Sequence[FileView]) -> str:
    """Render the files received for a task, grouped by item, with the ids used to withdraw one."""
    if not files:
        return f"任务{task.no}还没有收到任何文件。"
    lines = [f"任务{task.no}已收到的文件："]
    for f in files:
        lines.append(f"#{f.id} 材料{f.item_no} · {f.file_name}（{file_size(f.size)}，{f.unit}，"
                     f"{f.uploaded_at.astimezone(_tz()).strftime('%m-%d %H:%M')}）")
    lines.append("发错了可以发送「/withdraw 文件编号」撤回，例如 /withdraw " + str(files[0].id))
    return "\n".join(lines)


def paginate(header: str, blocks: Sequence[str], limit: int, footer: str = "") -> list[str]:
    """Split blocks into pages within `limit` characters, never cutting a block; number pages when several."""
    pages: list[list[str]] = [[]]
    size = len(header) + len(footer) + 20
    for block in blocks:
        if pages[-1] and size + len(block) + 1 > limit:
            pages.append([])
            size = len(header) + len(footer) + 20
        pages[-1].append(block)
        size += len(block) + 1
    out = []
    for n, page in enumerate(pages, 1):
        head = header + (f"（第{n}/{len(pages)}页）" if len(pages) > 1 else "")
        tail = footer if n == len(pages) else "发送「下一页」查看后面的任务。"
        out.append("\n".join([head, *page, *([tail] if tail else [])]))
    return out


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def file_size(n: int) -> str:
    """Say a file size the way people read it: 12KB, 3.4MB."""
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f}MB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.0f}KB"
    return f"{n}B"


def _tz() -> dt.tzinfo:
    from bot.core.clock import SHANGHAI

    return SHANGHAI
