"""What ``aaf run`` tells uvicorn beyond the command-line basics: the WebSocket frame limit taken
from the app's own limits, the WebSocket implementation, and a logging setup that prints aaf's
loggers (``aaf.error``, ``aaf.background``, ``aaf.access`` ...) next to uvicorn's own lines."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

from .app import App

__all__ = [
    "DEFAULT_WS",
    "ShutdownCancelFilter",
    "aaf_logging_config",
    "log_level_number",
    "pick_ws",
    "websocket_limit",
]

#: The WebSocket implementation ``aaf run`` asks uvicorn for (see docs/deployment.md for what
#: was measured): wsproto answers a refused handshake without an ERROR line, accepts large
#: handshake headers, and closes an oversized message with 1009 as it arrives.
DEFAULT_WS = "wsproto"

_TIMED_FORMAT = "%(asctime)s %(levelprefix)s %(message)s"
_AAF_FORMAT = "%(asctime)s %(levelprefix)s [%(name)s] %(message)s"
_ACCESS_FORMAT = '%(asctime)s %(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def websocket_limit(target: object) -> int | None:
    """The largest WebSocket message ``target`` accepts, or None when it is not an aaf app.

    APPSEC: the server reads a whole frame before the app sees it, so its frame limit must not
    exceed what aaf would accept anyway; a route may raise the app's limit, so the largest wins.
    """
    if not isinstance(target, App):
        return None
    largest = target.limits.websocket_message
    for router in target.routers:
        for route in router.routes:
            if route.websocket and route.limits is not None:
                largest = max(largest, target.limits.merged(route.limits).websocket_message)
    return largest


def pick_ws(requested: str | None) -> str:
    """``--ws`` if given, else wsproto when it is installed, else uvicorn's own choice."""
    if requested:
        return requested
    if importlib.util.find_spec("wsproto") is not None:
        return DEFAULT_WS
    return "auto"


def log_level_number(name: str) -> int:
    """``--log-level`` as a number (uvicorn's names, including its ``trace``)."""
    from uvicorn.config import LOG_LEVELS  # only under 'aaf run', where uvicorn is installed

    try:
        return LOG_LEVELS[name.lower()]
    except KeyError:
        choices = ", ".join(LOG_LEVELS)
        raise ValueError(f"unknown --log-level {name!r}; use one of: {choices}") from None


class ShutdownCancelFilter(logging.Filter):
    """Turns uvicorn's traceback for a response it cancelled at shutdown into one INFO line.

    An open event stream or WebSocket never ends by itself, so Ctrl-C cancels it once
    ``--timeout-graceful-shutdown`` has passed; uvicorn then logs the ``CancelledError`` as an
    "Exception in ASGI application" traceback although nothing failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError) and _cancelled_at_shutdown(exc):
            record.msg, record.args = "an open response was cancelled at shutdown", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _cancelled_at_shutdown(exc: BaseException) -> bool:
    """uvicorn's shutdown cancel, or a cancel of the clean-up that ran while handling it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncio.CancelledError) and "graceful shutdown" in str(seen):
            return True
        seen = seen.__context__
    return False


def aaf_logging_config(level: int) -> dict[str, Any]:
    """uvicorn's logging setup with a time on every line, plus a handler for the ``aaf`` loggers.

    A plain dict: uvicorn hands it to every worker and reloaded process, which apply it again.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"shutdown_cancel": {"()": "aaf._run_config.ShutdownCancelFilter"}},
        "formatters": {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": _TIMED_FORMAT},
            "aaf": {"()": "uvicorn.logging.DefaultFormatter", "fmt": _AAF_FORMAT},
            "access": {"()": "uvicorn.logging.AccessFormatter", "fmt": _ACCESS_FORMAT},
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "filters": ["shutdown_cancel"],
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "aaf": {
                "formatter": "aaf",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            # Not propagated: a root handler the user adds would print every line twice.
            "aaf": {"handlers": ["aaf"], "level": level, "propagate": False},
        },
    }
