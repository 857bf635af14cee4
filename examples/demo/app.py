"""The demo the README's first command (``./scripts/demo``) serves: one app with

- ``/``                 the web page (``examples/web/static``: plain HTML + JS, no build step)
- ``/tasks``            the tasks JSON API (``examples.tasks``)
- ``/chat/<room>``      the WebSocket chat (``examples.chat``)
- ``/feed``             the live feed of task changes, server-sent events (``examples.feed``)
- ``/livez``, ``/readyz`` liveness and readiness for load balancers (``aaf.health``); readiness
  checks the database with one ``SELECT 1``. Redis has no check of its own: the broadcast offers
  no ping, and a lost pub/sub connection already ends the subscriptions that use it.
- ``/openapi.json``     the HTTP API described (OpenAPI 3.1, ``aaf.openapi``)
- ``/docs``             the docs UI for it (Swagger UI, offline with ``aaf[docs-ui]``)
- ``/asyncapi.json``, ``/asyncapi``  the chat's WebSocket messages (AsyncAPI 3.0) and a page

    aaf run examples.demo.app:app                     # SQLite file ./tasks.db, in-memory events
    DATABASE_URL=postgresql://... REDIS_URL=redis://... aaf run examples.demo.app:app

Environment: ``DATABASE_URL``, ``REDIS_URL``, ``HOST``/``PORT`` (see ``examples.tasks.Settings``),
``CHAT_JWT_SECRET`` (when set, chat members need a ``?token=`` signed with it) and
``DEMO_DEBUG=1`` (development: debug pages and the inspector at ``/_aaf/``, linked from the page).
With ``REDIS_URL`` every process shares chat rooms, presence counts and the feed, so any
number of processes behind a load balancer serve one demo.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from aaf import App, Connection, FileResponse, Middleware, Router, StaticFiles, aaf
from aaf.asyncapi import asyncapi_router
from aaf.broadcast import Broadcast
from aaf.docs_ui import docs_router
from aaf.health import health_router
from aaf.middleware.inspector import InspectorMiddleware
from aaf.openapi import openapi_router

from ..chat import ChatTokens, MemoryPresence, Presence, RedisPresence, chat_router
from ..feed import FEED_CHANNEL, EventLog, MemoryEventLog, RedisEventLog, TaskFeed
from ..tasks import Settings, repository_for, tasks_router

__all__ = [
    "API_TITLE",
    "API_VERSION",
    "STATIC",
    "app",
    "build_app",
    "chat_secret_from_env",
    "debug_from_env",
]

API_TITLE = "aaf demo"
API_VERSION = "1.0.0"
API_DESCRIPTION = """\
The demo of aaf: a tasks API on a database, a live feed of its changes and a WebSocket chat.

- **tasks**: create, list (filtered, paged with an opaque cursor), read, change and delete
  tasks. Invalid input is answered with RFC 9457 problem details naming each field at fault.
  Any route may answer 503 `{"error": "database unavailable"}` with `Retry-After`.
- **feed** (`GET /feed`): server-sent events `created`, `updated` and `deleted` for every task
  change; reconnecting with `Last-Event-ID` replays what was missed.
- **chat** (`/chat/{room}`, a WebSocket): its messages are described in the AsyncAPI
  document, [/asyncapi.json](/asyncapi.json), shown by the page [/asyncapi](/asyncapi).
"""

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

# APPSEC: the page loads only its own script and style and talks only to its own origin
# ('self' covers same-origin ws:// and wss:// in CSP level 3); nothing may frame it.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def chat_secret_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("CHAT_JWT_SECRET", "").strip() or None


def debug_from_env(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("DEMO_DEBUG", "").strip().lower() in ("1", "true", "yes")


def page_router() -> Router:
    router = Router()

    @router.get("/", name="page", include_in_schema=False)
    async def page(conn: Connection) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    router.mount("/static", StaticFiles(STATIC), name="static")
    return router


def documents_router() -> Router:
    """The API documents of the app it is part of and the pages that show them."""
    router = Router()
    router.include(
        openapi_router(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION)
    )
    router.include(docs_router(title=f"{API_TITLE} API"))
    chat_description = "The chat's WebSocket: one connection per member of a room."
    router.include(
        asyncapi_router(
            title=f"{API_TITLE} chat", version=API_VERSION, description=chat_description
        )
    )
    return router


def build_app(
    settings: Settings | None = None,
    *,
    chat_secret: str | None = None,
    ping_interval: float = 15.0,
    debug: bool = False,
) -> App:
    """The demo for ``settings`` (default: from the environment). ``chat_secret`` turns on JWT
    sign-in for the chat; ``ping_interval`` is the feed's heartbeat, in seconds; ``debug`` is
    for development: tracebacks in error pages and the inspector at ``/_aaf/``."""
    settings = settings if settings is not None else Settings.from_env()
    tokens = ChatTokens(chat_secret) if chat_secret is not None else None
    repo = repository_for(settings.database_url, timeout=settings.database_timeout)
    presence: Presence
    log: EventLog
    if settings.redis_url is None:
        broadcast = Broadcast("memory://")
        presence = MemoryPresence()
        log = MemoryEventLog(broadcast, channel=FEED_CHANNEL)
    else:
        broadcast = Broadcast(settings.redis_url)
        presence = RedisPresence(settings.redis_url)
        log = RedisEventLog(settings.redis_url, channel=FEED_CHANNEL)
    feed = TaskFeed(
        log, broadcast, ping_interval=ping_interval, publish_timeout=settings.publish_timeout
    )

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        # Opened in order, closed in reverse, also when a later one fails to open.
        async with AsyncExitStack() as stack:
            for resource in (repo, broadcast, presence, log):
                await stack.enter_async_context(resource)
            yield {"tasks": repo}

    router = Router()  # one route table: each request is one lookup
    router.include(page_router())
    router.include(tasks_router(repo, on_change=feed.on_change))
    router.include(chat_router(broadcast, presence, tokens=tokens))
    router.include(feed.router())
    router.include(health_router({"database": repo.ping}))
    router.include(documents_router())
    # APPSEC: the inspector shows every request; it exists only in debug (and answers only
    # loopback clients): the page links it when GET /_aaf/api/app answers.
    middleware = [Middleware(InspectorMiddleware)] if debug else []
    return aaf([router], lifespan=lifespan, debug=debug, middleware=middleware)


app = build_app(Settings.from_env(), chat_secret=chat_secret_from_env(), debug=debug_from_env())
