"""What the tasks API receives, stores and sends, and the change events it reports.

The msgspec types here are the API's contract: the typed handlers decode request bodies into
:class:`TaskIn` / :class:`TaskPatch`, answer with :class:`Task` / :class:`TaskPage`, and the
OpenAPI document describes the same types (the class docstrings are the schemas' descriptions
there, read as Markdown: single backticks).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias
from uuid import UUID

import msgspec

from .titles import MAX_TITLE_LENGTH

__all__ = [
    "ChangeHook",
    "ChangeKind",
    "Cursor",
    "ErrorMessage",
    "Task",
    "TaskChange",
    "TaskIn",
    "TaskPage",
    "TaskPatch",
    "Title",
]

# The cap applies to what was sent, before trimming (see titles.clean_title); the schema says
# so to clients, and the decoder refuses longer titles before the handler runs.
Title: TypeAlias = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TITLE_LENGTH,
        description="Stored without leading or trailing invisible characters",
    ),
]

# A cursor is the creation sequence number of a page's last task, sent as an opaque string
# (clients pass it back unchanged); 18 digits always fit a signed 64-bit integer.
Cursor: TypeAlias = Annotated[
    str,
    msgspec.Meta(pattern="^[0-9]{1,18}$", description="The `next` value of an earlier page"),
]


class Task(msgspec.Struct, frozen=True):
    """A task as stored: `id` is a UUID (version 4), sent in its canonical string form."""

    id: UUID
    title: str
    done: bool

    def to_json(self) -> dict[str, object]:
        return {"id": str(self.id), "title": self.title, "done": self.done}


class TaskIn(msgspec.Struct):
    """A new task (fields other than these are ignored)."""

    title: Title
    done: bool = False


class TaskPatch(msgspec.Struct):
    """The fields to change; a field left out keeps its value (`null` is not a value)."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    done: bool | msgspec.UnsetType = msgspec.UNSET


class TaskPage(msgspec.Struct):
    """One page of a listing: `next` is the cursor of the page after it, null on the last.

    Later pages hold tasks created after the cursor, so tasks inserted while a client pages
    through never shift a page.
    """

    items: list[Task]
    next: Cursor | None


class ErrorMessage(msgspec.Struct):
    """The body of the errors that are not about the request's shape (404, 503)."""

    error: str


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
