"""Evidence files given for items: filing, listing, withdrawing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotFound, UserError
from bot.core.views import FileView
from bot.store.db import transaction
from bot.store.rows import touch_task
from bot.store.tables import Audit, EvidenceFile, EvidenceItem, EvidenceList, Task


class EvidenceRepo:
    """Rows pointing at stored files; the bytes themselves are in `FileStore`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, plan_id: int, task_no: int, item_no: int, *, sha256: str, size: int, file_name: str,
                  mime_type: str, unit: str, by: str, channel: str, now: dt.datetime) -> tuple[FileView, bool]:
        """File a stored blob against an item; return (file, True) when the same bytes were already there.

        Two uploads of the same bytes at once both find nothing in force and both insert; the unique index on
        (item, hash) of files in force lets one commit, and the other is answered as the duplicate it is.
        """
        try:
            async with transaction(self._sessions) as s:
                item = await _item(s, plan_id, task_no, item_no)
                assert item.id is not None
                if (same := await _in_force(s, item, sha256)) is not None:
                    return _view(same, task_no, item), True
                row = EvidenceFile(item_id=item.id, sha256=sha256, size=size, file_name=file_name,
                                   mime_type=mime_type, unit=unit, uploaded_by=by, uploaded_at=now)
                s.add(row)
                item.returned_reason, item.returned_at = "", None  # a new file answers a return
                s.add(item)
                await touch_task(s, plan_id, task_no, now)
                await s.flush()
                s.add(Audit(at=now, actor=by, channel=channel, action="evidence.add", plan_id=plan_id,
                            task_no=task_no, detail={"item": item_no, "file": file_name, "sha256": sha256,
                                                     "size": size, "id": row.id}))
                return _view(row, task_no, item), False
        except IntegrityError:
            async with self._sessions() as s:
                item = await _item(s, plan_id, task_no, item_no)
                if (same := await _in_force(s, item, sha256)) is None:
                    raise  # not the race this handles
                return _view(same, task_no, item), True

    async def files(self, plan_id: int, task_no: int | None = None) -> list[FileView]:
        """Return the files in force for a task (or the whole plan), by item then time."""
        async with self._sessions() as s:
            q = (select(EvidenceFile, EvidenceItem, Task.no)
                 .join(EvidenceItem, col(EvidenceItem.id) == EvidenceFile.item_id)
                 .join(EvidenceList, col(EvidenceList.id) == EvidenceItem.list_id)
                 .join(Task, col(Task.evidence_list_id) == EvidenceList.id)
                 .where(EvidenceList.plan_id == plan_id, col(EvidenceFile.withdrawn_at).is_(None))
                 .order_by(col(Task.no), col(EvidenceItem.no), col(EvidenceFile.id)))
            if task_no is not None:
                q = q.where(Task.no == task_no)
            return [_view(f, no, i) for f, i, no in (await s.exec(q)).all()]

    async def hashes(self) -> set[str]:
        """Return the hash of every file any row refers to, withdrawn ones included (their bytes are kept)."""
        async with self._sessions() as s:
            return set((await s.exec(select(EvidenceFile.sha256).distinct())).all())

    async def file(self, file_id: int) -> tuple[int, FileView]:
        """Return (plan id, file) for a file id, whichever task of a shared list it is seen from."""
        async with self._sessions() as s:
            row = (await s.exec(select(EvidenceFile, EvidenceItem, Task.no, Task.plan_id)
                                .join(EvidenceItem, col(EvidenceItem.id) == EvidenceFile.item_id)
                                .join(Task, col(Task.evidence_list_id) == EvidenceItem.list_id)
                                .where(EvidenceFile.id == file_id, col(EvidenceFile.withdrawn_at).is_(None))
                                .order_by(col(Task.no)))).first()
            if row is None:
                raise NotFound(f"没有编号为 {file_id} 的文件（或已撤回）。发送 /files 任务号 查看。")
            f, i, no, plan_id = row
            return plan_id, _view(f, no, i)

    async def withdraw(self, file_id: int, *, by: str, channel: str, now: dt.datetime) -> FileView:
        """Take a file out of the evidence; the row and bytes stay for the audit log."""
        plan_id, view = await self.file(file_id)
        async with transaction(self._sessions) as s:
            row = await s.get(EvidenceFile, file_id)
            if row is None or row.withdrawn_at is not None:
                raise UserError("这个文件已经撤回了。")
            row.withdrawn_at, row.withdrawn_by = now, by
            s.add(Audit(at=now, actor=by, channel=channel, action="evidence.withdraw", plan_id=plan_id,
                        task_no=view.task_no, detail={"id": file_id, "file": view.file_name, "item": view.item_no}))
        return view


    async def give_back(self, plan_id: int, task_no: int, item_no: int, reason: str, *, file_id: int | None,
                        by: str, channel: str, now: dt.datetime) -> tuple[str, list[FileView]]:
        """Return an item's files in force (or the one file `file_id`) with a reason; return (item title, files).

        The files leave the evidence the way a withdrawal does, their rows and bytes kept; the item carries the
        reason until a new file arrives for it, and the audit log names every file given back.
        """
        async with transaction(self._sessions) as s:
            item = await _item(s, plan_id, task_no, item_no)
            q = select(EvidenceFile).where(EvidenceFile.item_id == item.id, col(EvidenceFile.withdrawn_at).is_(None))
            if file_id is not None:
                q = q.where(EvidenceFile.id == file_id)
            rows = (await s.exec(q.order_by(col(EvidenceFile.id)).with_for_update())).all()
            if not rows:
                raise UserError(f"任务{task_no} 材料{item_no}还没有收到文件（或已经退回、撤回），无需退回。")
            for row in rows:
                row.withdrawn_at, row.withdrawn_by, row.returned_reason = now, by, reason
                s.add(row)
            item.returned_reason, item.returned_at = reason, now  # the task's own state is the coordinator's to set
            s.add(item)
            s.add(Audit(at=now, actor=by, channel=channel, action="evidence.return", plan_id=plan_id, task_no=task_no,
                        detail={"item": item_no, "reason": reason,
                                "files": [{"id": r.id, "file": r.file_name, "sha256": r.sha256} for r in rows]}))
            return item.title, [_view(r, task_no, item) for r in rows]


async def _in_force(s: AsyncSession, item: EvidenceItem, sha256: str) -> EvidenceFile | None:
    """Return the file in force with these bytes for the item, if any."""
    return (await s.exec(select(EvidenceFile).where(
        EvidenceFile.item_id == item.id, EvidenceFile.sha256 == sha256,
        col(EvidenceFile.withdrawn_at).is_(None)))).first()


async def _item(s: AsyncSession, plan_id: int, task_no: int, item_no: int) -> EvidenceItem:
    task = (await s.exec(select(Task).where(Task.plan_id == plan_id, Task.no == task_no))).first()
    if task is None:
        raise NotFound(f"没有第{task_no}项任务。")
    if task.evidence_list_id is None:
        raise NotFound(f"第{task_no}项任务没有要求佐证材料。")
    item = (await s.exec(select(EvidenceItem).where(EvidenceItem.list_id == task.evidence_list_id,
                                                    EvidenceItem.no == item_no))).first()
    if item is None:
        n = len((await s.exec(select(EvidenceItem.id).where(EvidenceItem.list_id == task.evidence_list_id))).all())
        raise NotFound(f"第{task_no}项任务没有第{item_no}项材料（共{n}项）。")
    return item


def _view(f: EvidenceFile, task_no: int, item: EvidenceItem) -> FileView:
    assert f.id is not None
    return FileView(f.id, task_no, item.no, item.title, f.file_name, f.sha256, f.size, f.unit, f.uploaded_by,
                    f.uploaded_at, f.mime_type)
