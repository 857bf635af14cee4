"""How a WebSocket ends after its handler failed: a denial before accept, a close code after.

The app calls :func:`end_after_error` once ``exception_handlers`` had their chance; the close
code follows the error (1007 bad data, 1008 a client's mistake, 1013 a backend down for now,
1011 anything else). :func:`not_found_denial` is the refusal of a path no route matches. Both
render their bodies with :mod:`aaf.problems`, so ``App(problem_details=True)`` answers a
WebSocket handshake as it answers HTTP.
"""

from __future__ import annotations

import logging

from .connection import Connection
from .errors import HTTPError
from .problems import internal_error_body, render_error
from .response import BaseResponse, HttpResponse
from .websocket import (
    INTERNAL_ERROR,
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    WebSocketDataError,
    WebSocketState,
    clip_reason,
)

__all__ = ["close_code_for", "end_after_error", "is_open", "not_found_denial"]

logger = logging.getLogger("aaf.error")


def is_open(conn: Connection) -> bool:
    return conn.ws_state in (WebSocketState.CONNECTING, WebSocketState.CONNECTED)


async def end_after_error(conn: Connection, exc: Exception, problem_details: bool) -> None:
    """Refuse or close ``conn`` for ``exc``, which no exception handler ended."""
    if isinstance(exc, WebSocketDataError):
        # The client sent what the handler cannot use: its error, not the server's.
        logger.info("closing %s with %s: %s", conn._where(), exc.close_code, exc)
        await _refuse_or_close(conn, HttpResponse(b"", 400), exc.close_code, str(exc))
    elif isinstance(exc, HTTPError):
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in exc.raw_headers]
        kind, body = render_error(exc, problem_details)
        refusal = HttpResponse(body, exc.status_code, headers, kind.decode())
        code = close_code_for(exc.status_code)
        await _refuse_or_close(conn, refusal, code, str(exc.detail))
    else:
        # A WebSocketDisconnect here came from sending to another, dead socket: this one
        # is still open and is closed like after any other error.
        logger.error("unhandled error in WebSocket %s", conn._where(), exc_info=exc)
        kind, body = internal_error_body(problem_details)
        denial = HttpResponse(body, 500, None, kind.decode())
        await _refuse_or_close(conn, denial, INTERNAL_ERROR, "")


def not_found_denial(problem_details: bool) -> HttpResponse:
    """The refusal of a WebSocket handshake whose path no route or mount matches."""
    if problem_details:
        kind, body = render_error(HTTPError(404), problem_details)
        return HttpResponse(body, 404, None, kind.decode())
    # Plain text, not render_error's {"error": ...}: the body WebSocket 404s always had.
    return HttpResponse("Not Found", 404)


async def _refuse_or_close(conn: Connection, denial: BaseResponse, code: int, reason: str) -> None:
    state = conn.ws_state
    if state == WebSocketState.CONNECTING:
        await conn.deny(denial)
    elif state == WebSocketState.CONNECTED:
        await conn.close(code, clip_reason(reason))


def close_code_for(status_code: int) -> int:
    """The close code for an HTTPError raised after accept(): the client's fault (4xx) is a
    policy violation; 503 (a backend down for now) is 1013 "try again later", so clients
    reconnect; any other 5xx is an internal error."""
    if status_code < 500:
        return POLICY_VIOLATION
    return TRY_AGAIN_LATER if status_code == 503 else INTERNAL_ERROR
