"""What the tasks API stores and the change events it reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias
from uuid import UUID

__all__ = ["ChangeHook", "ChangeKind", "Task", "TaskChange", "TaskPage"]


@dataclass(frozen=True, slots=True)
class Task:
    id: UUID
    title: str
    done: bool

    def to_json(self) -> dict[str, object]:
        return {"id": str(self.id), "title": self.title, "done": self.done}


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a listing: ``next`` is the cursor of the page after it, None on the last.

    A cursor is the creation sequence number of the page's last task: later pages hold tasks
    created after it, so tasks inserted while a client pages through never shift a page.
    """

    tasks: list[Task]
    next: int | None


ChangeKind: TypeAlias = Literal["created", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class TaskChange:
    """One committed change: ``task`` is the state after it (before it, for "deleted")."""

    kind: ChangeKind
    task: Task

    def to_json(self) -> dict[str, object]:
        return {"type": self.kind, "task": self.task.to_json()}


# Called after each committed change (a live feed publishes it, for example).
ChangeHook: TypeAlias = Callable[[TaskChange], Awaitable[None]]
