"""A conformance checker for any ASGI app: ``ConformanceChecker(app)`` is the same app, checked.

It sits between a server and an app (aaf's or any other framework's, or a hand-written one) and
checks what the app does on every connection against the ASGI spec and what strict servers
refuse:

- HTTP: every message the app sends (the rules of :mod:`aaf._conformance`), an app that
  returns without answering or mid-response, and ``receive()`` after ``http.disconnect``;
- WebSocket: message types and keys per state, close codes and reasons, denial responses
  (:mod:`aaf._conformance_ws`), and ``receive()`` after ``websocket.disconnect``;
- lifespan: answers in order (:mod:`aaf._conformance_lifespan`).

``mode="raise"`` (the default) raises :class:`ASGIProtocolError` from the ``send()`` or
``receive()`` call that broke a rule (the message is not passed on, like a server that drops
the connection) and again when the app returns, if it swallowed the error. ``mode="warn"``
logs each violation once per (rule, path) on the ``aaf.inspect`` logger and changes nothing.
The test clients of :mod:`aaf.testing` wrap every app in one.

A connection is checked up to its first violation: what follows a broken message is noise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, Protocol

from ._conformance import (
    RECEIVE_AFTER_DISCONNECT,
    RULES,
    ASGIProtocolError,
    HTTPResponseChecker,
    Rule,
    ordinal,
)
from ._conformance_lifespan import LIFESPAN_RULES, LifespanChecker
from ._conformance_ws import WEBSOCKET_RULES, WebSocketChecker
from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ALL_RULES", "ASGIProtocolError", "ConformanceChecker", "Rule"]

logger = logging.getLogger(__name__)

ALL_RULES: tuple[Rule, ...] = (
    *RULES,
    RECEIVE_AFTER_DISCONNECT,
    *WEBSOCKET_RULES,
    *LIFESPAN_RULES,
)

Mode = Literal["raise", "warn"]
ViolationHook = Callable[[ASGIProtocolError, Scope], None]

_DISCONNECTS = frozenset({"http.disconnect", "websocket.disconnect"})
# APPSEC: warn mode remembers what it logged; paths come from clients, so the memory is
# bounded. Past the bound, each rule is logged once more for all other paths together.
_MAX_LOGGED_KEYS = 1024


class _Checker(Protocol):
    def check_send(self, message: Message) -> None: ...
    def check_app_returned(self) -> None: ...


def _checker_for(scope: Scope) -> _Checker | None:
    kind = scope.get("type")
    if kind == "http":
        early_hints = "http.response.early_hint" in (scope.get("extensions") or {})
        return HTTPResponseChecker(str(scope.get("method", "GET")), early_hints=early_hints)
    if kind == "websocket":
        return WebSocketChecker(scope)
    if kind == "lifespan":
        return LifespanChecker()
    return None  # another protocol: passed through unchecked


class ConformanceChecker:
    """An ASGI app that runs ``app`` and checks both directions of every conversation.

    ``on_violation(error, scope)`` (optional) is called with every violation found, in both
    modes, before it is raised or logged: to collect them, or to end a test at once.
    """

    def __init__(
        self,
        app: ASGIApp,
        mode: Mode = "raise",
        *,
        on_violation: ViolationHook | None = None,
    ) -> None:
        if mode not in ("raise", "warn"):
            raise ValueError(f"mode must be 'raise' or 'warn', not {mode!r}")
        self.app = app
        self.mode: Mode = mode
        self.on_violation = on_violation
        self._logged: set[tuple[str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checker = _checker_for(scope)
        if checker is None:
            await self.app(scope, receive, send)
            return
        await _Conversation(self, scope, receive, send, checker).run()

    def _warn(self, error: ASGIProtocolError, scope: Scope) -> None:
        path = str(scope.get("path", "")) if scope.get("type") != "lifespan" else "(lifespan)"
        key = (error.rule.name, path)
        if key in self._logged:
            return
        if len(self._logged) >= _MAX_LOGGED_KEYS:
            key = (error.rule.name, "*")
            if key in self._logged:
                return
        self._logged.add(key)
        logger.warning("%s %r: %s", scope.get("type"), path, error)


class _Conversation:
    """One connection through the checker: wraps the app's receive and send."""

    def __init__(
        self,
        owner: ConformanceChecker,
        scope: Scope,
        receive: Receive,
        send: Send,
        checker: _Checker,
    ) -> None:
        self.owner = owner
        self.scope = scope
        self._receive = receive
        self._send = send
        self.checker = checker
        self.violation: ASGIProtocolError | None = None
        self.receives = 0
        self.disconnected = False  # the app received the disconnect event
        self.send_failed = False  # the server refused a send: the connection is gone

    async def run(self) -> None:
        raising = self.owner.mode == "raise"
        try:
            await self.owner.app(self.scope, self.receive, self.send)
        except Exception as exc:
            if raising and self.violation is not None and exc is not self.violation:
                # The app failed after a refused message (say, its error handler could not
                # send): the violation is the cause worth reporting.
                raise self.violation from exc
            raise
        if self.violation is not None:
            if raising:
                raise self.violation  # the app swallowed it; a test must still fail
            return
        if not self.disconnected and not self.send_failed:
            try:
                self.checker.check_app_returned()
            except ASGIProtocolError as error:
                self._report(error)

    async def receive(self) -> Message:
        self.receives += 1
        if self.disconnected and self.violation is None:
            self._report(
                ASGIProtocolError(
                    RECEIVE_AFTER_DISCONNECT,
                    "receive() called after the disconnect event",
                    f"the app's {ordinal(self.receives)} receive() call",
                )
            )
        message = await self._receive()
        kind = message.get("type")
        if kind in _DISCONNECTS:
            self.disconnected = True
        elif isinstance(self.checker, LifespanChecker):
            self.checker.received(message)
        return message

    async def send(self, message: Message) -> None:
        if self.violation is not None and self.owner.mode == "raise":
            raise RuntimeError(
                f"the connection was closed after an earlier protocol violation "
                f"[{self.violation.rule.name}]: {self.violation.detail}"
            )
        if self.violation is None:
            try:
                self.checker.check_send(message)
            except ASGIProtocolError as error:
                self._report(error)
            else:
                message = _with_listed_headers(message, self.checker)
        try:
            await self._send(message)
        except BaseException:
            self.send_failed = True
            raise

    def _report(self, error: ASGIProtocolError) -> None:
        """Raise mode: raise ``error``. Warn mode: log it (once per rule and path)."""
        self.violation = error
        if self.owner.on_violation is not None:
            self.owner.on_violation(error, self.scope)
        if self.owner.mode == "raise":
            raise error
        self.owner._warn(error, self.scope)


def _with_listed_headers(message: Message, checker: object) -> Message:
    """The HTTP checker read the headers once; an iterator the app sent is now empty, so the
    server gets the list the checker read."""
    if (
        isinstance(checker, HTTPResponseChecker)
        and message.get("type") == "http.response.start"
        and not isinstance(message.get("headers", ()), (list, tuple))
    ):
        return {**message, "headers": checker.headers}
    return message
