"""Who may see and do what: one set of rules for chat, the desk and every action.

Four standings: a stranger (binds first), a liaison of a unit (sees and works its tasks), a unit's 分管领导 (sees its
tasks, writes 批示, receives escalations; does nothing a liaison or a coordinator does), a coordinator (everything).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.core.errors import NotAllowed
from bot.core.views import PersonView, TaskStatus, TaskView

UNBOUND = ("您还没有绑定单位。请向节水办索取邀请码，然后发送「/bind 邀请码」，例如 /bind ABCD2345。")


def current_role(person: PersonView, coordinator_keys: Iterable[str]) -> PersonView:
    """Return the person as chat sees them: a coordinator when stored so or named in DUBAN_COORDINATORS."""
    if not person.coordinator and person.key in coordinator_keys:
        return replace(person, coordinator=True)
    return person


def is_leader(person: PersonView) -> bool:
    """Tell whether the person speaks as a unit's 分管领导 (a coordinator is a coordinator first)."""
    return person.leader and person.unit is not None and not person.coordinator


def leader_refusal(person: PersonView) -> NotAllowed:
    """Return the refusal a leader hears for anything but seeing and 批示: it names their role and who does it."""
    return NotAllowed(f"您是{person.unit}的分管领导：可以查看本单位的任务、对任务写批示；提交材料、报告完成、登记进展和申请延期"
                      "由本单位联络员办理，审核、退回、催办和邀请由节水办办理。")


def may_use_desk(person: PersonView) -> bool:
    """Tell whether the person has any standing: a coordinator, or a liaison or leader of a unit."""
    return person.coordinator or person.unit is not None


def may_see_task(person: PersonView, task: TaskView) -> bool:
    """Tell whether the person may see a task's files: coordinators all, liaisons their unit's lead or cooperating tasks."""
    return person.coordinator or (person.unit is not None and task.role_of(person.unit) is not None)


def visible_tasks(person: PersonView, tasks: Iterable[TaskView]) -> list[TaskView]:
    """Return the tasks whose files the person may see."""
    return [t for t in tasks if may_see_task(person, t)]


def may_review(person: PersonView) -> bool:
    """Tell whether the person may approve or return submissions (节水办 only)."""
    return person.coordinator


def may_upload(person: PersonView, task: TaskView) -> bool:
    """Tell whether the person may give files for a task: a coordinator, or its units' liaisons while not approved."""
    if person.coordinator:
        return True
    return not is_leader(person) and may_see_task(person, task) and task.status is not TaskStatus.APPROVED


def may_instruct(person: PersonView, task: TaskView) -> bool:
    """Tell whether the person may write a 批示 on a task: the 分管领导 of a unit leading or cooperating on it."""
    return is_leader(person) and may_see_task(person, task)


def may_submit(person: PersonView, task: TaskView) -> bool:
    """Tell whether the person may report the task done now: its lead unit's liaison (not its leader), while open."""
    return not is_leader(person) and person.unit is not None and task.lead == person.unit and task.status.is_open


def require_coordinator(person: PersonView) -> None:
    """Refuse unless the person is a coordinator (a leader hears what their role may do)."""
    if is_leader(person):
        raise leader_refusal(person)
    if not person.coordinator:
        raise NotAllowed("这项操作只有节水办统筹人员可以使用。")


def require_liaison(person: PersonView) -> str:
    """Return the unit of a liaison, who may work on its tasks; refuse strangers (how to bind) and leaders."""
    unit = require_unit(person)
    if is_leader(person):
        raise leader_refusal(person)
    return unit


def require_leader(person: PersonView) -> str:
    """Return the unit of a 分管领导; refuse anyone else (批示 are the leaders' to write)."""
    if is_leader(person):
        return require_unit(person)
    if person.coordinator or person.unit is not None:
        raise NotAllowed("批示由各单位的分管领导填写，联络员和节水办可以在任务详情中看到。")
    return require_unit(person)  # a stranger hears how to bind


def require_instruct(person: PersonView, task: TaskView) -> None:
    """Refuse a 批示 from anyone but the 分管领导 of a unit taking part in the task."""
    require_leader(person)
    if not may_instruct(person, task):
        raise NotAllowed(f"任务{task.no}由{task.lead}牵头，{person.unit}的分管领导不能对它写批示。")


def require_unit(person: PersonView) -> str:
    """Return the person's unit, or refuse with how to bind one."""
    if person.unit is None:
        raise NotAllowed(UNBOUND)
    return person.unit


def require_involved(person: PersonView, task: TaskView) -> None:
    """Refuse what `may_see_task` refuses: a stranger hears how to bind, another unit's liaison whose task it is."""
    if not may_see_task(person, task):
        require_unit(person)
        raise NotAllowed(f"任务{task.no}由{task.lead}牵头，不是贵单位牵头或配合的任务。")


def require_lead(person: PersonView, task: TaskView, who_may: str) -> str:
    """Return the person's unit when it leads the task; otherwise refuse, saying who may (「只有牵头单位…」)."""
    unit = require_liaison(person)
    if task.lead != unit:
        raise NotAllowed(f"任务{task.no}由{task.lead}牵头，{who_may}。")
    return unit
