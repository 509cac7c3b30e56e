"""The inspection bundle: every task's evidence files in a zip, one folder per task and per item, with an index.

Files are streamed from the file store into the zip in 1 MiB chunks, so a bundle of any size is
built in constant memory; the zip is written beside its destination and renamed into place.
Evidence files are stored, not deflated: most are PDFs, photos and .docx (compressed already), and
deflating the rest (.doc, .xls) runs at 15–60 MB/s, several times slower than copying
(bench/bench_bundle.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter

from bot.core.atomic import atomic_path
from bot.core.clock import SHANGHAI
from bot.core.errors import UserError
from bot.core.views import FileView, ItemView, NoticeView, PlanView, TaskView
from bot.exports.ledger import BORDER, OVERDUE_FILL, OVERDUE_FONT, TOP, WRAP, header_row
from bot.exports.names import FOLDER_NAME_CHARS, safe_name, unique_name
from bot.exports.notice import notice_docx
from bot.exports.people import person_labels
from bot.planfiles.workbook import write_cell
from bot.store.files import FileStore
from bot.store.store import Store

Progress = Callable[[int, int], None]  # (bytes written so far, bytes in all)

CHUNK = 1 << 20
INDEX_NAME = "index.xlsx"
README_NAME = "README.txt"
SHARED_NOTE_NAME = "共用材料说明.txt"
NO_EVIDENCE_NAME = "无需佐证材料.txt"
MISSING_FILL = OVERDUE_FILL
LOST_FILL = PatternFill("solid", fgColor="FFEB9C")
INDEX_HEADERS = ("任务序号", "牵头单位", "工作任务", "材料序号", "材料名称", "状态", "包内位置", "原文件名", "大小(字节)",
                 "SHA-256", "上传单位", "上传人", "上传时间")
_INDEX_WIDTHS = (8, 16, 28, 8, 36, 10, 48, 28, 12, 66, 16, 20, 17)
RECEIVED, MISSING, SHARED, NONE_REQUIRED, LOST = "已收", "缺", "共用", "无需", "文件缺失"


@dataclass(frozen=True)
class BundleResult:
    """What went into a bundle."""

    path: Path
    tasks: int
    items: int
    items_missing: int
    files: int
    content_bytes: int  # the evidence files' total size
    zip_bytes: int
    lost: tuple[str, ...] = ()  # files whose stored bytes were not found (marked in index.xlsx)


@dataclass(frozen=True)
class _Member:
    """An evidence file to copy into the zip."""

    arcname: str
    source: Path
    size: int


@dataclass(frozen=True)
class _IndexRow:
    """One row of index.xlsx: an item without files, a file, or a pointer to a shared list."""

    task: TaskView
    state: str
    where: str
    item: ItemView | None = None
    file: FileView | None = None
    owner: int | None = None  # for a shared list: the task whose folder holds it


@dataclass
class BundleLayout:
    """Everything a bundle holds, decided before a byte is copied."""

    folders: list[str] = field(default_factory=list)
    members: list[_Member] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    notices: dict[str, NoticeView] = field(default_factory=dict)  # 督办通知单, written as .docx in their task's folder
    rows: list[_IndexRow] = field(default_factory=list)
    tasks: int = 0
    items: int = 0
    items_missing: int = 0
    lost: list[str] = field(default_factory=list)


def item_label(title: str) -> str:
    """Drop the book-title marks around a title that is nothing else: 《2023年会议照片》 -> 2023年会议照片."""
    if title.startswith("《") and title.endswith("》") and title.count("《") == 1:
        return title[1:-1]
    return title


def task_folder(task: TaskView) -> str:
    """Return a task's folder name: 12-<short title>."""
    return f"{task.no:02d}-{safe_name(task.short_title(20), FOLDER_NAME_CHARS, '任务')}"


def item_folder(item: ItemView) -> str:
    """Return an item's folder name: 03-<item title>."""
    return f"{item.no:02d}-{safe_name(item_label(item.title), FOLDER_NAME_CHARS, '材料')}"


def plan_layout(tasks: Sequence[TaskView], files: Sequence[FileView], blob_path: Callable[[str], Path],
                notices: Sequence[NoticeView] = ()) -> BundleLayout:
    """Decide the folders, files, notes and index rows; a shared list goes under its first task only."""
    layout = BundleLayout(tasks=len(tasks))
    included = {t.no for t in tasks}
    by_item: dict[tuple[int, int], list[FileView]] = {}
    for f in files:
        by_item.setdefault((f.task_no, f.item_no), []).append(f)
    folders = {t.no: task_folder(t) for t in tasks}
    for n in notices:
        if n.task_no in folders:
            layout.notices[f"{folders[n.task_no]}/{safe_name(n.file_name)}"] = n
    for t in tasks:
        folder = folders[t.no]
        layout.folders.append(f"{folder}/")
        if not t.items:
            layout.texts[f"{folder}/{NO_EVIDENCE_NAME}"] = f"第{t.no}项任务的佐证材料为“/”，无需提交材料。\n"
            layout.rows.append(_IndexRow(t, NONE_REQUIRED, f"{folder}/"))
            continue
        owner = min(n for n in (t.no, *t.shared_with) if n in included)
        if owner != t.no:
            layout.texts[f"{folder}/{SHARED_NOTE_NAME}"] = (
                f"第{t.no}项任务与第{owner}项任务共用一份佐证材料清单（共{len(t.items)}项）。\n"
                f"材料只放一次，见文件夹“{folders[owner]}/”。\n")
            layout.rows.append(_IndexRow(t, SHARED, f"{folders[owner]}/", owner=owner))
            continue
        for item in t.items:
            layout.items += 1
            where = f"{folder}/{item_folder(item)}"
            layout.folders.append(f"{where}/")
            received = by_item.get((t.no, item.no), [])
            if not received:
                layout.items_missing += 1
                layout.rows.append(_IndexRow(t, MISSING, f"{where}/", item))
                continue
            taken: set[str] = set()
            for f in received:
                arcname = f"{where}/{unique_name(safe_name(f.file_name), taken)}"
                source = blob_path(f.sha256)
                if source.is_file():
                    layout.members.append(_Member(arcname, source, f.size))
                    layout.rows.append(_IndexRow(t, RECEIVED, arcname, item, f))
                else:
                    layout.lost.append(f"任务{t.no} 材料{item.no} {f.file_name}（{f.sha256[:12]}）")
                    layout.rows.append(_IndexRow(t, LOST, arcname, item, f))
    return layout


@dataclass(frozen=True)
class BundleData:
    """What a bundle holds: the plan, its tasks (or one lead unit's) and the plan's evidence files."""

    plan: PlanView
    tasks: tuple[TaskView, ...]
    files: tuple[FileView, ...]
    notices: tuple[NoticeView, ...] = ()
    uploaders: tuple[tuple[str, str], ...] = ()  # (person key, 李老师（区教育局）) of who gave the files

    @property
    def names(self) -> dict[str, str]:
        """Return each uploader's label by person key."""
        return dict(self.uploaders)


async def bundle_data(store: Store, plan_key: str | None, unit: str | None = None,
                      coordinator_keys: Collection[str] = ()) -> BundleData:
    """Read what the plan's bundle (or one lead unit's) holds; refuse a unit that leads no task of the plan."""
    plan = await store.plans.plan(plan_key)
    tasks = await store.plans.tasks(plan.id)
    if unit is not None:
        tasks = [t for t in tasks if t.lead == unit]
        if not tasks:
            raise UserError(f"{unit}在计划「{plan.title}」中没有牵头的任务。")
    files = tuple(await store.evidence.files(plan.id))
    labels = await person_labels(store, coordinator_keys, {f.uploaded_by for f in files})
    return BundleData(plan, tuple(tasks), files, tuple(await store.notices.notices(plan.id)),
                      tuple(sorted(labels.items())))


async def export_bundle(store: Store, plan_key: str | None, out: Path, unit: str | None = None,
                        progress: Progress | None = None, *, generated_at: dt.datetime | None = None,
                        tz: dt.tzinfo = SHANGHAI, data: BundleData | None = None,
                        coordinator_keys: Collection[str] = ()) -> BundleResult:
    """Write the plan's evidence (or one lead unit's) as a zip at `out`, streaming each file; return what went in.

    `data`, when given, is what `bundle_data` read for this bundle: it is not read again.
    """
    data = data or await bundle_data(store, plan_key, unit, coordinator_keys)
    return await asyncio.to_thread(_build, data.plan, data.tasks, data.files, store.files.path_for, out, unit,
                                   progress, generated_at, tz, data.names, data.notices)


def _build(plan: PlanView, tasks: Sequence[TaskView], files: Sequence[FileView], blob_path: Callable[[str], Path],
           out: Path, unit: str | None, progress: Progress | None, generated_at: dt.datetime | None,
           tz: dt.tzinfo, names: Mapping[str, str], notices: Sequence[NoticeView] = ()) -> BundleResult:
    """Lay out, index and zip (blocking: runs in a worker thread)."""
    layout = plan_layout(tasks, files, blob_path, notices)
    local = generated_at.astimezone(tz) if generated_at else None
    index = index_workbook(layout.rows, tz, names)
    readme = readme_text(plan, layout, unit, local)
    total = sum(m.size for m in layout.members)
    stamp = local.timetuple()[:6] if local else (1980, 1, 1, 0, 0, 0)
    done = 0
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True, strict_timestamps=False) as zf:
            zf.writestr(_info(README_NAME, stamp, zipfile.ZIP_DEFLATED), readme.replace("\n", "\r\n").encode("utf-8-sig"))
            zf.writestr(_info(INDEX_NAME, stamp, zipfile.ZIP_STORED), index)
            for folder in layout.folders:
                zf.mkdir(folder, mode=0o755)
            for name, text in layout.texts.items():
                zf.writestr(_info(name, stamp, zipfile.ZIP_DEFLATED), text.replace("\n", "\r\n").encode("utf-8-sig"))
            for name, notice in layout.notices.items():
                zf.writestr(_info(name, stamp, zipfile.ZIP_DEFLATED), notice_docx(notice))
            for m in layout.members:
                info = zipfile.ZipInfo.from_file(m.source, m.arcname, strict_timestamps=False)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                with FileStore.open_verified(m.source, m.size) as src, zf.open(info, "w") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
    if progress is not None:
        progress(total, total)
    return BundleResult(path=out, tasks=len(tasks), items=layout.items, items_missing=layout.items_missing,
                        files=len(layout.members), content_bytes=total, zip_bytes=out.stat().st_size,
                        lost=tuple(layout.lost))


def _info(name: str, stamp: tuple[int, ...], compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(stamp[0], stamp[1], stamp[2], stamp[3], stamp[4], stamp[5]))
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def index_workbook(rows: Sequence[_IndexRow], tz: dt.tzinfo = SHANGHAI, names: Mapping[str, str] | None = None) -> bytes:
    """Return index.xlsx: every item and file with its SHA-256, size and uploader (named as the desk names them,
    李老师（区教育局）); missing items in red."""
    names = names or {}
    wb = Workbook()
    ws = wb.active
    ws.title = "材料清单"
    header_row(ws, INDEX_HEADERS, _INDEX_WIDTHS)
    for r, row in enumerate(rows, start=2):
        f, item, t = row.file, row.item, row.task
        uploaded = f.uploaded_at.astimezone(tz).replace(tzinfo=None, microsecond=0) if f else None
        note = {SHARED: f"与第{row.owner}项任务共用一份清单，见该文件夹", NONE_REQUIRED: "无需材料"}
        values: tuple[object, ...] = (
            t.no, t.lead, t.short_title(40), item.no if item else None,
            item.title if item else note.get(row.state), row.state, row.where,
            f.file_name if f else None, f.size if f else None, f.sha256 if f else None,
            f.unit if f else None, names.get(f.uploaded_by, f.uploaded_by) if f else None, uploaded,
        )
        for c, value in enumerate(values, start=1):
            cell = write_cell(ws, r, c, value)
            cell.border = BORDER
            cell.alignment = WRAP if c in (3, 5, 7, 8) else TOP
            if row.state in (MISSING, LOST):
                cell.fill = MISSING_FILL if row.state == MISSING else LOST_FILL
                cell.font = OVERDUE_FONT
        ws.cell(row=r, column=13).number_format = "yyyy-mm-dd hh:mm"
        ws.cell(row=r, column=9).number_format = "#,##0"
    if rows:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(INDEX_HEADERS))}{len(rows) + 1}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def readme_text(plan: PlanView, layout: BundleLayout, unit: str | None, generated_at: dt.datetime | None) -> str:
    """Return the Chinese README placed at the top of the zip."""
    total = sum(m.size for m in layout.members)
    received = layout.items - layout.items_missing
    lines = [
        f"{plan.title}{(' ' + plan.attachment) if plan.attachment else ''}",
        f"佐证材料包{f'（牵头单位：{unit}）' if unit else ''}",
    ]
    if generated_at is not None:
        lines.append(f"生成时间：{generated_at:%Y-%m-%d %H:%M}")
    lines += [
        "",
        "一、目录结构",
        "1. 每项工作任务一个文件夹，名为“序号-任务简称”，如“12-……”。",
        "2. 任务文件夹中，每项佐证材料一个文件夹，名为“材料序号-材料名称”，如“03-……”，其中是各单位上传的文件。",
        "   文件保留原文件名；为安全起见，文件名中的路径、控制字符和系统保留名（如 CON、NUL）已作处理，"
        "同一文件夹中重名的文件依次加“(2)”“(3)”。",
        f"3. 几项任务共用一份材料清单时，材料只放在第一项任务的文件夹中，其余任务的文件夹中有“{SHARED_NOTE_NAME}”指明位置。",
        f"4. 空的材料文件夹表示该项材料尚未收到；佐证材料为“/”的任务，文件夹中有“{NO_EVIDENCE_NAME}”。",
        "",
        "二、材料清单（index.xlsx）",
        "列出每项材料及其每个文件：包内位置、原文件名、大小、SHA-256 校验值、上传单位、上传人和上传时间。",
        "尚未收到的材料整行标为红色；存储中找不到的文件标为黄色。",
        "",
        "三、统计",
        f"任务{layout.tasks}项；材料{layout.items}项，"
        f"已收{received}项，缺{layout.items_missing}项；文件{len(layout.members)}个，共{total / 1048576:.1f} MB。",
    ]
    if layout.lost:
        lines.append(f"注意：有{len(layout.lost)}个文件在存储中找不到，未能放入本包，见 index.xlsx 中黄色的行。")
    lines += [
        "",
        "四、核对文件",
        "可将文件的 SHA-256 与 index.xlsx 核对：Windows 用 certutil -hashfile 文件名 SHA256；"
        "Linux、macOS 用 sha256sum 文件名（或 shasum -a 256 文件名）。",
        "",
        "本材料包由督办助手生成。",
    ]
    return "\n".join(lines) + "\n"
