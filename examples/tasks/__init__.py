"""A tasks JSON API on a real database: SQLite by default, PostgreSQL via ``DATABASE_URL``.

Pieces a bigger app can reuse: :func:`tasks_router` (the routes, with an ``on_change`` hook
called after every committed change), :func:`repository_for` (a repository from a database
URL), :func:`repository_lifespan` and :class:`Settings`.
"""

from .api import tasks_router
from .models import ChangeHook, Task, TaskChange, TaskIn, TaskPage, TaskPatch
from .repository import TaskRepository, repository_for
from .settings import Settings

__all__ = [
    "ChangeHook",
    "Settings",
    "Task",
    "TaskChange",
    "TaskIn",
    "TaskPage",
    "TaskPatch",
    "TaskRepository",
    "repository_for",
    "tasks_router",
]
