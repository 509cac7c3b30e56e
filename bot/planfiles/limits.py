"""Size limits for plan files, checked before a file is parsed, so a hostile or broken file is refused, not read.

A .docx (like a .xlsx) is a zip: the central directory says how big each part becomes when unpacked, and
Python's zipfile never unpacks more than that, so checking those figures first bounds what parsing can use.
The Word reader and the Excel reader (`bot.planfiles.sheetlimits`, which also counts what is inside the XML) both
check with `check_package`.
"""

from __future__ import annotations

import fnmatch
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import PlanFileError

_MB = 1024 * 1024


@dataclass(frozen=True)
class PlanFileLimits:
    """How big a plan file may be; a real district table is far below every one of these."""

    file_mb: int = 50  # the file as uploaded
    part_mb: int = 20  # one part unpacked (the table lives in word/document.xml)
    part_mb_by_name: tuple[tuple[str, int], ...] = ()  # (fnmatch pattern, MB): the first match overrides part_mb
    package_mb: int = 100  # all parts unpacked (python-docx keeps every part in memory)
    parts: int = 1000  # members of the zip
    ratio: int = 100  # unpacked / packed, for a part of more than 1 MB: beyond this it is a zip bomb
    rows: int = 5000  # table rows
    tasks: int = 2000
    cell_chars: int = 20000  # characters in one cell


LIMITS = PlanFileLimits()


def check_package(path: Path, limits: PlanFileLimits = LIMITS, kind: str = "Word .docx") -> None:
    """Refuse in Chinese a zip-based plan file (`kind`: Word .docx, Excel .xlsx) too big or unpacking to too much."""
    name = f"任务分工表 {path.name}"
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise PlanFileError(f"{name} 不存在。") from exc
    if size > limits.file_mb * _MB:
        raise PlanFileError(f"{name} 有 {size / _MB:.0f} MB，超过了 {limits.file_mb} MB 的上限，未导入。")
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise PlanFileError(f"{name} 无法读取（须为 {kind} 文件）：{exc}") from exc
    if len(members) > limits.parts:
        raise PlanFileError(f"{name} 内含 {len(members)} 个部件，超过了 {limits.parts} 个的上限，未导入。")
    total = 0
    for m in members:
        total += m.file_size
        part_mb = next((mb for pattern, mb in limits.part_mb_by_name if fnmatch.fnmatchcase(m.filename, pattern)),
                       limits.part_mb)
        if m.file_size > part_mb * _MB:
            raise PlanFileError(f"{name} 的 {m.filename} 解压后有 {m.file_size / _MB:.0f} MB（压缩时 "
                                f"{m.compress_size / _MB:.1f} MB），超过了每个部件 {part_mb} MB 的上限，未导入。")
        if m.file_size > _MB and m.file_size > limits.ratio * max(m.compress_size, 1):
            raise PlanFileError(f"{name} 的 {m.filename} 压缩了 {m.file_size // max(m.compress_size, 1)} 倍，"
                                f"超过了 {limits.ratio} 倍的上限（疑似压缩炸弹），未导入。")
    if total > limits.package_mb * _MB:
        raise PlanFileError(f"{name} 解压后共有 {total / _MB:.0f} MB，超过了 {limits.package_mb} MB 的上限，未导入。")
