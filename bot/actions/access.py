"""Who may see and do what: one set of rules for chat, the desk and every action."""

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


def may_use_desk(person: PersonView) -> bool:
    """Tell whether the person has any standing: a coordinator, or a liaison of a unit."""
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
    """Tell whether the person may give files for a task: a coordinator, or its units while not yet approved."""
    if person.coordinator:
        return True
    return may_see_task(person, task) and task.status is not TaskStatus.APPROVED


def may_submit(person: PersonView, task: TaskView) -> bool:
    """Tell whether the person may report the task done now: its lead unit's liaison, while it is open."""
    return person.unit is not None and task.lead == person.unit and task.status.is_open


def require_coordinator(person: PersonView) -> None:
    """Refuse unless the person is a coordinator."""
    if not person.coordinator:
        raise NotAllowed("这项操作只有节水办统筹人员可以使用。")


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
    unit = require_unit(person)
    if task.lead != unit:
        raise NotAllowed(f"任务{task.no}由{task.lead}牵头，{who_may}。")
    return unit
