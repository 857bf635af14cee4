"""Liveness and readiness endpoints for load balancers and orchestrators.

    from aaf.health import health_router

    app = aaf([health_router({"database": repo.ping}), api])

``GET /livez`` answers 200 ``{"status": "ok"}`` whenever the process serves requests: a
liveness probe that fails means "restart me", so it checks nothing else.

``GET /readyz`` answers 200 ``{"status": "ok", "checks": {...}}`` only when

- the app's lifespan startup has completed (``reason: "starting"`` otherwise),
- the app is not shutting down (``reason: "draining"``: shutdown began, so the load balancer
  takes this process out before its resources close), and
- every check passes within its timeout (``reason: "checks failed"``).

Otherwise it answers 503 with ``Retry-After: 1`` and a body naming each check's state:
``{"status": "unavailable", "reason": "checks failed", "checks": {"database": "timeout"}}``.
States: ``"ok"``, ``"failed"`` (raised, or returned False), ``"timeout"``, and ``"skipped"``
(not run while starting or draining, when the resources they use may not be open).

A check is an async callable with no arguments; returning None or True means healthy. Checks run
concurrently on every readiness request, each bounded by ``timeout`` seconds (or its entry in
``timeouts``), so keep them cheap (``SELECT 1``, a Redis ``PING``).

Without a lifespan: a server that never runs the ASGI lifespan (``uvicorn --lifespan off``) never
marks the app started. By default readiness then relies on the checks alone (the app counts as
started when no lifespan ever began); ``require_startup=True`` answers 503 ``"starting"`` until a
lifespan startup completed, for deployments where serving before startup would be a bug.
Apps that are not ``aaf.App`` (a router served by hand) have no lifecycle and are treated alike.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from .app import App
from .connection import Connection
from .lifespan import Lifecycle
from .response import JsonResponse
from .routing import Router

__all__ = ["Check", "health_router", "readiness"]

logger = logging.getLogger("aaf.health")

#: A readiness check: ``async def ping() -> None`` (or returning True/False).
Check: TypeAlias = Callable[[], Awaitable[bool | None]]

# Probe answers must never be cached by a proxy between the balancer and the app.
_NO_STORE = {"cache-control": "no-store"}
_UNAVAILABLE = {**_NO_STORE, "retry-after": "1"}


async def _run_check(name: str, check: Check, seconds: float) -> str:
    """The state of one check: "ok", "failed" or "timeout"."""
    try:
        async with asyncio.timeout(seconds) as deadline:
            result: Any = check()
            if inspect.isawaitable(result):
                result = await result
    except TimeoutError:
        if deadline.expired():
            logger.warning("health check %r took longer than %ss", name, seconds)
            return "timeout"
        logger.warning("health check %r failed: TimeoutError", name, exc_info=True)
        return "failed"
    except Exception as exc:
        # APPSEC: the error stays in the log; the public probe answer only says "failed".
        logger.warning("health check %r failed: %s: %s", name, type(exc).__name__, exc)
        return "failed"
    if result is None or result is True:
        return "ok"
    logger.warning("health check %r returned %r", name, result)
    return "failed"


async def run_checks(
    checks: Mapping[str, Check], default_seconds: float, seconds: Mapping[str, float]
) -> dict[str, str]:
    """Every check at once; their states by name (in the order given)."""
    names = list(checks)
    states = await asyncio.gather(
        *(_run_check(name, checks[name], seconds.get(name, default_seconds)) for name in names)
    )
    return dict(zip(names, states, strict=True))


def _lifecycle_reason(lifecycle: Lifecycle | None, require_startup: bool) -> str | None:
    """Why the app is not ready judged by its lifecycle alone; None when it may be."""
    if lifecycle is None or not lifecycle.starting:
        # No lifespan ever ran (or no aaf app): only require_startup makes that "starting".
        return "starting" if require_startup else None
    if lifecycle.draining:
        return "draining"
    if not lifecycle.started:
        return "starting"
    return None


async def readiness(
    lifecycle: Lifecycle | None,
    checks: Mapping[str, Check],
    *,
    check_timeout: float = 2.0,
    check_timeouts: Mapping[str, float] | None = None,
    require_startup: bool = False,
) -> tuple[bool, dict[str, Any]]:
    """Whether the app is ready, and the JSON body that says why (usable without the router)."""
    reason = _lifecycle_reason(lifecycle, require_startup)
    if reason is not None:
        states = dict.fromkeys(checks, "skipped")
        return False, {"status": "unavailable", "reason": reason, "checks": states}
    states = await run_checks(checks, check_timeout, check_timeouts or {})
    # The lifecycle may have moved on while the checks ran (shutdown began): ask again.
    reason = _lifecycle_reason(lifecycle, require_startup)
    if reason is None and any(state != "ok" for state in states.values()):
        reason = "checks failed"
    if reason is not None:
        return False, {"status": "unavailable", "reason": reason, "checks": states}
    return True, {"status": "ok", "checks": states}


def health_router(
    checks: Mapping[str, Check] | None = None,
    *,
    prefix: str = "",
    live: str = "/livez",
    ready: str = "/readyz",
    timeout: float = 2.0,
    timeouts: Mapping[str, float] | None = None,
    require_startup: bool = False,
) -> Router:
    """A router with the liveness (``prefix + live``) and readiness (``prefix + ready``) routes.

    ``checks`` maps a name (shown in the answer) to a check; ``timeout`` bounds each check, in
    seconds, and ``timeouts`` overrides it by name. ``require_startup``: see the module
    docstring. The routes are named ``health.live`` and ``health.ready`` (for ``url_for``).
    """
    if timeout <= 0 or any(t <= 0 for t in (timeouts or {}).values()):
        raise ValueError("health check timeouts must be positive numbers of seconds")
    unknown = set(timeouts or {}) - set(checks or {})
    if unknown:
        raise ValueError(
            f"timeouts names checks that do not exist: {', '.join(sorted(unknown))}; "
            "use the names of the checks mapping"
        )
    # A copy: a check added to the caller's dict later must not appear half-way.
    check_map: dict[str, Check] = dict(checks or {})
    check_timeouts = dict(timeouts or {})
    router = Router()

    @router.get(prefix + live, name="health.live")
    async def livez(conn: Connection) -> JsonResponse:
        return JsonResponse({"status": "ok"}, headers=_NO_STORE)

    @router.get(prefix + ready, name="health.ready")
    async def readyz(conn: Connection) -> JsonResponse:
        app = conn.app
        lifecycle = app.lifecycle if isinstance(app, App) else None
        ok, body = await readiness(
            lifecycle,
            check_map,
            check_timeout=timeout,
            check_timeouts=check_timeouts,
            require_startup=require_startup,
        )
        if ok:
            return JsonResponse(body, headers=_NO_STORE)
        return JsonResponse(body, 503, headers=_UNAVAILABLE)

    return router
