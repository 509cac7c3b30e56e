"""Who may see and do what with a task: one set of rules for chat and the desk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.core.errors import NotAllowed
from bot.core.views import PersonView, TaskStatus, TaskView


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


def require_task_files(person: PersonView, task: TaskView) -> None:
    """Refuse to show a task's files to anyone outside its units."""
    if not may_see_task(person, task):
        raise NotAllowed(f"任务{task.no}不是贵单位牵头或配合的任务，不能查看它的文件。")


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
