"""The tasks service: the API router on a repository opened for the app's lifetime.

aaf run examples.tasks.app:app                      # SQLite file ./tasks.db
DATABASE_URL=postgresql://... aaf run examples.tasks.app:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aaf import App, aaf

from .api import tasks_router
from .models import ChangeHook
from .repository import TaskRepository, repository_for
from .settings import Settings

__all__ = ["app", "build_app", "repository_lifespan"]


def repository_lifespan(
    repo: TaskRepository,
) -> Callable[[App], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan that opens ``repo`` at startup (schema included) and closes it at shutdown;
    handlers also find it as ``conn.state["tasks"]``."""

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        async with repo:
            yield {"tasks": repo}

    return lifespan


def build_app(settings: Settings | None = None, *, on_change: ChangeHook | None = None) -> App:
    """The tasks app for ``settings`` (default: from the environment)."""
    settings = settings if settings is not None else Settings.from_env()
    repo = repository_for(settings.database_url, timeout=settings.database_timeout)
    return aaf([tasks_router(repo, on_change)], lifespan=repository_lifespan(repo))


app = build_app()
