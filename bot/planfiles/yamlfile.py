"""Plan files: read and write a task-division table kept as YAML, and the unit registry beside it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

import bot
from bot.core.checkins import cadence_from
from bot.core.errors import PlanFileError
from bot.core.plan import (
    EvidenceItemSpec,
    NoteSpec,
    PlanSpec,
    Recurrence,
    Target,
    TaskSpec,
    deadline_from_raw,
)
from bot.core.units import UNIT_KINDS, Unit, UnitRegistry, normalize_unit_text

PLAN_KEYS = ("key", "title", "attachment", "year", "district", "checkin", "tasks", "notes")
TASK_KEYS = (
    "no",
    "lead",
    "text",
    "deadline",
    "cooperating",
    "evidence",
    "evidence_from",
    "recurrence",
    "targets",
)
NOTE_KEYS = ("no", "text", "tasks")
TARGET_KEYS = ("phrase", "value", "unit", "comparison")
COMPARISONS = ("at_least", "more_than", "exactly")

# The Chinese name of each field, as the table's header and staff call it; messages use these.
FIELD_NAMES = {
    "key": "计划标识",
    "title": "标题",
    "attachment": "附件号",
    "year": "年度",
    "district": "所属区",
    "checkin": "进展报送",
    "tasks": "工作任务列表",
    "notes": "备注",
    "no": "序号",
    "lead": "牵头单位",
    "text": "工作任务",
    "deadline": "完成时间",
    "cooperating": "配合单位",
    "evidence": "佐证材料",
    "evidence_from": "佐证材料（evidence_from）",
    "recurrence": "重复周期",
    "targets": "量化指标",
    "phrase": "原文",
    "value": "数值",
    "unit": "单位",
    "comparison": "比较方式",
    "name": "单位名称",
    "kinds": "类别",
    "aliases": "别名",
    "units": "单位列表",
    "note_text": "备注内容",
    "note_tasks": "关联任务",
}
# Fields whose Chinese name depends on where they sit: the key as written in the file.
_WRITTEN_KEY = {"note_text": "text", "note_tasks": "tasks"}


class _PlanLoader(yaml.SafeLoader):
    """SafeLoader that reads only true/false as booleans (as YAML 1.2 does).

    Under YAML 1.1 rules, which yaml.safe_load follows, the key `no:` would load as False.
    """


_BOOL_TAG = "tag:yaml.org,2002:bool"
_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlanLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def default_data_dir() -> Path:
    """Return the repository's data/ directory (the package is installed editable beside it)."""
    return Path(bot.__file__).resolve().parents[1] / "data"


def default_plan_path() -> Path:
    """Return the tracked plan file of the Pingshan 2023 table."""
    return default_data_dir() / "plans" / "pingshan-2023.yaml"


def default_units_path() -> Path:
    """Return the tracked unit registry file."""
    return default_data_dir() / "units.yaml"


class _Where:
    """Builds refusal messages that name the file, the place in it and the field."""

    def __init__(self, kind: str, path: Path) -> None:
        self.prefix = f"{kind} {path.name}"

    def fail(self, place: str, key: str, detail: str) -> PlanFileError:
        """Return an error saying what is wrong with `key` at `place` ("第12项任务", "备注2", "")."""
        owner = f"{place}的" if place else "的"
        return PlanFileError(f"{self.prefix} {owner}「{FIELD_NAMES.get(key, key)}」{detail}")

    def missing(self, place: str, key: str) -> PlanFileError:
        """Return an error saying `key` is absent at `place`."""
        written = _WRITTEN_KEY.get(key, key)
        return PlanFileError(f"{self.prefix} {place}缺少「{FIELD_NAMES.get(key, key)}」（{written}）")

    def whole(self, detail: str) -> PlanFileError:
        """Return an error about the file as a whole."""
        return PlanFileError(f"{self.prefix} {detail}")


def _read_mapping(path: Path, where: _Where, expected: str) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise where.whole("不存在") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise where.whole(f"无法读取（须为 UTF-8 文本）：{exc}") from exc
    try:
        data = yaml.load(text, Loader=_PlanLoader)  # a SafeLoader: builds no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"（第{mark.line + 1}行附近）" if mark is not None else ""
        raise where.whole(f"不是有效的 YAML{line}：{exc}") from exc
    if not isinstance(data, dict):
        got = "空文件" if data is None else type(data).__name__
        raise where.whole(f"的顶层应为键值映射（{expected}），实际是{got}")
    return data


def _check_keys(where: _Where, place: str, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse keys the format does not know, so a misspelt key is not silently ignored."""
    for key in data:
        if key not in allowed:
            shown = place or "顶层"
            raise where.whole(f"{shown}有未知字段“{key}”（可用：{'、'.join(allowed)}）")


def _text(where: _Where, place: str, data: dict[str, Any], key: str, *, required: bool = True) -> str:
    """Return a non-empty string field."""
    if key not in data or data[key] is None:
        if required:
            raise where.missing(place, key)
        return ""
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise where.fail(place, key, f"应为非空文字，实际是：{value!r}")
    return value.strip()


def _int(where: _Where, place: str, data: dict[str, Any], key: str) -> int:
    """Return a required positive integer field."""
    if key not in data or data[key] is None:
        raise where.missing(place, key)
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.fail(place, key, f"应为正整数，实际是：{value!r}")
    return value


def _str_list(where: _Where, place: str, data: dict[str, Any], key: str) -> list[str]:
    """Return an optional list of non-empty strings ([] when absent)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.fail(place, key, f"应为列表，实际是：{value!r}")
    items: list[str] = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, str) or not item.strip():
            raise where.fail(place, key, f"第{i}条应为非空文字，实际是：{item!r}")
        items.append(item.strip())
    return items


def _unit_name(where: _Where, place: str, key: str, name: str, units: UnitRegistry) -> str:
    """Map a unit as written (canonical, alias or variant spelling) to its canonical name."""
    unit = units.get(name)
    if unit is not None:
        return unit.name
    close = "、".join(u.name for u in units.closest(name, 3)) or "无相近的单位"
    raise where.fail(place, key, f"中的单位不在单位名录中：“{name}”（最接近的是：{close}）")


def _deadline(where: _Where, place: str, data: dict[str, Any], year: int) -> tuple[str, dt.date]:
    """Return the deadline as written and the last day it allows."""
    if "deadline" not in data or data["deadline"] is None:
        raise where.missing(place, "deadline")
    raw = data["deadline"]
    hint = "（应为 2023.9 这样的年月，或“全年”）"
    if not isinstance(raw, str):
        # Unquoted, YAML reads 2023.10 as the number 2023.1, which is September's twin: refuse it.
        raise where.fail(place, "deadline", f"须加引号写成文字：{raw!r}{hint}")
    try:
        return raw.strip(), deadline_from_raw(raw, year)
    except ValueError as exc:
        raise where.fail(place, "deadline", f"无法识别：“{raw}”{hint}") from exc


def _targets(where: _Where, place: str, data: dict[str, Any], text: str) -> tuple[Target, ...]:
    """Return the quantitative targets; each phrase must appear in the task's text."""
    value = data.get("targets")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise where.fail(place, "targets", f"应为列表，实际是：{value!r}")
    targets: list[Target] = []
    for i, item in enumerate(value, start=1):
        spot = f"{place}「量化指标」第{i}条"
        if not isinstance(item, dict):
            raise where.fail(place, "targets", f"第{i}条应为键值映射，实际是：{item!r}")
        _check_keys(where, spot, item, TARGET_KEYS)
        phrase = _text(where, spot, item, "phrase")
        if phrase not in text:
            raise where.fail(place, "targets", f"第{i}条的原文“{phrase}”不在任务文字中")
        number = item.get("value")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise where.fail(place, "targets", f"第{i}条的数值应为数字，实际是：{number!r}")
        unit = _text(where, spot, item, "unit")
        comparison = item.get("comparison", "at_least")
        if comparison not in COMPARISONS:
            raise where.fail(
                place, "targets", f"第{i}条的比较方式“{comparison}”无法识别（可用：{'、'.join(COMPARISONS)}）"
            )
        targets.append(Target(phrase=phrase, value=float(number), unit=unit, comparison=comparison))
    return tuple(targets)


def _recurrence(where: _Where, place: str, data: dict[str, Any]) -> Recurrence | None:
    """Return the task's repetition period, if the file gives one."""
    value = data.get("recurrence")
    if value is None:
        return None
    try:
        return Recurrence(value)
    except ValueError as exc:
        allowed = "、".join(r.value for r in Recurrence)
        raise where.fail(place, "recurrence", f"无法识别：“{value}”（可用：{allowed}）") from exc


def load_plan_file(path: Path, units: UnitRegistry) -> PlanSpec:
    """Read, validate and return a plan kept as YAML; refuse with a message naming file, task and field."""
    where = _Where("计划文件", path)
    data = _read_mapping(path, where, "key、title、year、tasks……")
    _check_keys(where, "", data, PLAN_KEYS)
    key = _text(where, "", data, "key")
    title = _text(where, "", data, "title")
    attachment = _text(where, "", data, "attachment")
    district = _text(where, "", data, "district", required=False)
    year = _int(where, "", data, "year")
    try:
        checkin = cadence_from(str(data.get("checkin", "monthly")))
    except ValueError as exc:
        raise where.fail("", "checkin", str(exc)) from None
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise where.fail("", "tasks", "应为非空列表")

    # First pass: everything a task says about itself; the evidence_from links are resolved after.
    rows: dict[int, dict[str, Any]] = {}
    for position, raw in enumerate(raw_tasks, start=1):
        if not isinstance(raw, dict):
            raise where.fail(f"第{position}条任务（文件中的顺序）", "tasks", f"应为键值映射，实际是：{raw!r}")
        if "no" not in raw:
            raise where.missing(f"第{position}条任务（文件中的顺序）", "no")
        no = _int(where, f"第{position}条任务（文件中的顺序）", raw, "no")
        place = f"第{no}项任务"
        if no in rows:
            raise where.fail(place, "no", f"重复：{no} 出现了不止一次")
        _check_keys(where, place, raw, TASK_KEYS)
        text = _text(where, place, raw, "text")
        deadline_raw, deadline = _deadline(where, place, raw, year)
        lead = _unit_name(where, place, "lead", _text(where, place, raw, "lead"), units)
        cooperating = tuple(
            _unit_name(where, place, "cooperating", name, units)
            for name in _str_list(where, place, raw, "cooperating")
        )
        if len(set(cooperating)) != len(cooperating):
            raise where.fail(place, "cooperating", f"有重复的单位：{'、'.join(cooperating)}")
        evidence_from = raw.get("evidence_from")
        if evidence_from is not None:
            if isinstance(evidence_from, bool) or not isinstance(evidence_from, int):
                raise where.fail(place, "evidence_from", f"应为任务序号，实际是：{evidence_from!r}")
            if raw.get("evidence"):
                raise where.fail(place, "evidence_from", "与「佐证材料」不能同时填写（共用的清单只写在第一项任务上）")
        rows[no] = {
            "no": no,
            "lead": lead,
            "text": text,
            "deadline_raw": deadline_raw,
            "deadline": deadline,
            "cooperating": cooperating,
            "evidence": tuple(_str_list(where, place, raw, "evidence")),
            "evidence_from": evidence_from,
            "recurrence": _recurrence(where, place, raw),
            "targets": _targets(where, place, raw, text),
        }

    # Merged evidence cells: one list serves a group of tasks, written once on its first task.
    groups: dict[int, list[int]] = {}
    for no, row in rows.items():
        source = row["evidence_from"]
        if source is None:
            continue
        place = f"第{no}项任务"
        if source == no:
            raise where.fail(place, "evidence_from", "不能引用本项任务自己")
        if source not in rows:
            raise where.fail(place, "evidence_from", f"引用的第{source}项任务不存在")
        if rows[source]["evidence_from"] is not None:
            raise where.fail(
                place,
                "evidence_from",
                f"引用的第{source}项任务本身又引用了第{rows[source]['evidence_from']}项；请直接引用写有清单的任务",
            )
        groups.setdefault(source, [source]).append(no)
    shared_with: dict[int, tuple[int, ...]] = {}
    for members in groups.values():
        for no in members:
            shared_with[no] = tuple(sorted(m for m in members if m != no))

    tasks: list[TaskSpec] = []
    for no in sorted(rows):
        row = rows[no]
        titles: tuple[str, ...] = rows[row["evidence_from"]]["evidence"] if row["evidence_from"] else row["evidence"]
        tasks.append(
            TaskSpec(
                no=no,
                lead=row["lead"],
                text=row["text"],
                deadline_raw=row["deadline_raw"],
                deadline=row["deadline"],
                cooperating=row["cooperating"],
                evidence=tuple(EvidenceItemSpec(no=i, title=t) for i, t in enumerate(titles, start=1)),
                evidence_shared_with=shared_with.get(no, ()),
                recurrence=row["recurrence"],
                targets=row["targets"],
            )
        )

    return PlanSpec(
        key=key,
        title=title,
        attachment=attachment,
        year=year,
        tasks=tuple(tasks),
        notes=_notes(where, data, set(rows)),
        district=district,
        source=str(path),
        checkin=checkin,
    )


def _notes(where: _Where, data: dict[str, Any], task_nos: set[int]) -> tuple[NoteSpec, ...]:
    """Return the notes, each linked only to tasks that exist."""
    raw_notes = data.get("notes")
    if raw_notes is None:
        return ()
    if not isinstance(raw_notes, list):
        raise where.fail("", "notes", f"应为列表，实际是：{raw_notes!r}")
    notes: dict[int, NoteSpec] = {}
    for position, raw in enumerate(raw_notes, start=1):
        spot = f"第{position}条备注（文件中的顺序）"
        if not isinstance(raw, dict):
            raise where.fail(spot, "notes", f"应为键值映射，实际是：{raw!r}")
        no = _int(where, spot, raw, "no")
        place = f"备注{no}"
        if no in notes:
            raise where.fail(place, "no", f"重复：{no} 出现了不止一次")
        _check_keys(where, place, raw, NOTE_KEYS)
        text = raw.get("text")
        if text is None:
            raise where.missing(place, "note_text")
        if not isinstance(text, str) or not text.strip():
            raise where.fail(place, "note_text", f"应为非空文字，实际是：{text!r}")
        linked = raw.get("tasks")
        if not isinstance(linked, list) or not linked:
            raise where.fail(place, "note_tasks", f"应为任务序号的非空列表，实际是：{linked!r}")
        for task_no in linked:
            if isinstance(task_no, bool) or not isinstance(task_no, int):
                raise where.fail(place, "note_tasks", f"应为任务序号，实际是：{task_no!r}")
            if task_no not in task_nos:
                raise where.fail(place, "note_tasks", f"引用的第{task_no}项任务不存在")
        notes[no] = NoteSpec(no=no, text=text.strip(), tasks=tuple(linked))
    return tuple(notes[no] for no in sorted(notes))


def load_units_file(path: Path) -> UnitRegistry:
    """Read the unit registry; refuse unknown kinds and any alias claimed by two units."""
    where = _Where("单位文件", path)
    data = _read_mapping(path, where, "units: [...]")
    _check_keys(where, "", data, ("units",))
    raw_units = data.get("units")
    if not isinstance(raw_units, list) or not raw_units:
        raise where.fail("", "units", "应为非空列表")
    units: list[Unit] = []
    owners: dict[str, str] = {}
    for position, raw in enumerate(raw_units, start=1):
        spot = f"第{position}个单位"
        if not isinstance(raw, dict):
            raise where.fail(spot, "units", f"应为键值映射，实际是：{raw!r}")
        _check_keys(where, spot, raw, ("name", "kinds", "aliases"))
        name = _text(where, spot, raw, "name")
        place = f"单位“{name}”"
        kinds = tuple(_str_list(where, place, raw, "kinds"))
        for kind in kinds:
            if kind not in UNIT_KINDS:
                raise where.fail(place, "kinds", f"无法识别：“{kind}”（可用：{'、'.join(UNIT_KINDS)}）")
        aliases = tuple(_str_list(where, place, raw, "aliases"))
        for written in (name, *aliases):
            key = normalize_unit_text(written)
            owner = owners.get(key)
            if owner is not None:
                same = "重复列出" if owner == name else f"已属于“{owner}”"
                raise where.fail(place, "aliases", f"中的“{written}”{same}；一个名称只能指一个单位")
            owners[key] = name
        units.append(Unit(name=name, kinds=kinds, aliases=aliases))
    return UnitRegistry(units)


def plan_to_yaml(plan: PlanSpec) -> str:
    """Write a plan in the plan-file shape; a shared evidence list is written once, then evidence_from."""
    out: list[str] = [
        f"key: {_scalar(plan.key)}",
        f"title: {_scalar(plan.title)}",
        f"attachment: {_scalar(plan.attachment)}",
        f"year: {plan.year}",
    ]
    if plan.district:
        out.append(f"district: {_scalar(plan.district)}")
    if plan.checkin is not Recurrence.MONTHLY:
        out.append(f"checkin: {plan.checkin.value if plan.checkin else 'none'}")
    out.append("tasks:")
    written_lists: set[int] = set()
    for task in plan.tasks:
        out.append(f"  - no: {task.no}")
        out.append(f"    lead: {_scalar(task.lead)}")
        out.append(f"    text: {_scalar(task.text)}")
        out.append(f"    deadline: {_scalar(task.deadline_raw)}")
        out.append(f"    cooperating: [{', '.join(_scalar(u, flow=True) for u in task.cooperating)}]")
        source = next((n for n in (task.no, *task.evidence_shared_with) if n in written_lists), None)
        if task.evidence_shared_with and source is not None and source != task.no:
            out.append(f"    evidence_from: {source}")
        elif task.evidence:
            out.append("    evidence:")
            out.extend(f"      - {_scalar(item.title)}" for item in task.evidence)
            written_lists.add(task.no)
        else:
            out.append("    evidence: []")
        if task.recurrence is not None:
            out.append(f"    recurrence: {task.recurrence.value}")
        if task.targets:
            out.append("    targets:")
            for t in task.targets:
                fields = (
                    f"phrase: {_scalar(t.phrase, flow=True)}",
                    f"value: {_number(t.value)}",
                    f"unit: {_scalar(t.unit, flow=True)}",
                    f"comparison: {t.comparison}",
                )
                out.append(f"      - {{{', '.join(fields)}}}")
        out.append("")
    if plan.notes:
        out.append("notes:")
        for note in plan.notes:
            out.append(f"  - no: {note.no}")
            out.append(f"    text: {_scalar(note.text)}")
            out.append(f"    tasks: [{', '.join(str(n) for n in note.tasks)}]")
    return "\n".join(out).rstrip("\n") + "\n"


def _number(value: float) -> str:
    """Write 4.0 as 4 and 9.5 as 9.5."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _scalar(text: str, *, flow: bool = False) -> str:
    """Write a string plain when YAML reads it back unchanged, else double-quoted."""
    # Probed with the YAML 1.1 rules of yaml.safe_load, so "no"/"on" get quoted for any other reader too.
    probe = f"[{text}]" if flow else f"k: {text}"
    expected: object = [text] if flow else {"k": text}
    try:
        if text and "\n" not in text and yaml.safe_load(probe) == expected:
            return text
    except yaml.YAMLError:
        pass
    return yaml.safe_dump(text, allow_unicode=True, default_style='"', width=1 << 30).strip()

