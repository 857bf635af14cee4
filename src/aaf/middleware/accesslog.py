"""Access log: one line per HTTP request, safe to feed to line-based log tools.

``aaf([...], middleware=[Middleware(AccessLogMiddleware)])`` logs to the ``aaf.access`` logger
at INFO::

    127.0.0.1:40000 "GET /items/42?full=1 HTTP/1.1" 200 13 0.41ms

Every field that comes from the client (method, target, HTTP version, address) has its control
characters (CR, LF, ESC, C1 codes, Unicode line separators and bidi overrides), ``"`` and ``\\``
escaped, so a request can never forge a second line, hide text or fake a field boundary.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLogMiddleware", "escape_log_text"]


def _escape_table() -> dict[int, str]:
    table: dict[int, str] = {code: f"\\x{code:02x}" for code in range(0x20)}
    table.update({code: f"\\x{code:02x}" for code in range(0x7F, 0xA0)})
    # Line and paragraph separators (some log viewers break lines on them) and bidi controls
    # (they reorder how the rest of the line is displayed).
    for code in (0x2028, 0x2029, *range(0x200E, 0x2010), *range(0x202A, 0x202F)):
        table[code] = f"\\u{code:04x}"
    for code in range(0x2066, 0x206A):
        table[code] = f"\\u{code:04x}"
    table[ord("\\")] = "\\\\"
    table[ord('"')] = '\\"'
    return table


_ESCAPES = _escape_table()


def escape_log_text(text: str) -> str:
    """``text`` with control characters, quotes and backslashes escaped (linear time)."""
    return text.translate(_ESCAPES)


class AccessLogMiddleware:
    """Logs method, target, status, response body bytes and duration for each HTTP request.

    Args:
        app: the ASGI app to wrap.
        logger: where lines go (default: the ``aaf.access`` logger).
        level: the logging level of each line (default INFO).

    A request whose app raised before answering is logged with status 500 and the error is
    re-raised; one whose client went away before an answer is logged with status 0.
    WebSocket and lifespan scopes pass through untouched.
    """

    def __init__(
        self, app: ASGIApp, logger: logging.Logger | None = None, *, level: int = logging.INFO
    ) -> None:
        self.app = app
        self.logger = logger or logging.getLogger("aaf.access")
        self.level = level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(self.level):
            await self.app(scope, receive, send)
            return
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, counting_send)
        except BaseException:
            if status == 0:
                status = 500
            raise
        finally:
            self.logger.log(
                self.level,
                "%s",
                format_line(scope, status, sent, time.perf_counter() - start),
                extra={"access": {"status": status, "bytes": sent}},
            )


def format_line(scope: Scope, status: int, sent: int, seconds: float) -> str:
    """One access-log line for ``scope`` (every client-controlled part escaped)."""
    client = scope.get("client")
    who = f"{client[0]}:{client[1]}" if client else "-"
    raw_path: Any = scope.get("raw_path")
    target = raw_path.decode("latin-1") if raw_path else scope.get("path", "")
    query: bytes = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    request = f"{scope.get('method', '-')} {target} HTTP/{scope.get('http_version', '1.1')}"
    return (
        f'{escape_log_text(who)} "{escape_log_text(request)}" {status} {sent} '
        f"{seconds * 1000:.2f}ms"
    )
