"""Checks the lifespan conversation of an ASGI app, per the ASGI lifespan spec (2.0).

Pure and I/O-free, like :mod:`aaf._conformance`: tell ``LifespanChecker`` each event the app
received (``received``), give it each message the app sends (``check_send``) and tell it when
the app returned (``check_app_returned``). An answer must follow the event it answers, once.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._conformance import ASGIProtocolError, Rule, ordinal
from ._types import Message

__all__ = ["LIFESPAN_RULES", "LifespanChecker"]

MESSAGE_TYPE = Rule(
    "lifespan-message-type",
    "a lifespan app may only send lifespan.startup.complete|failed and "
    "lifespan.shutdown.complete|failed",
    "answer lifespan events only (an app without lifespan raises on a 'lifespan' scope)",
)
ANSWER_ORDER = Rule(
    "lifespan-answer-order",
    "lifespan.startup.* answers a received lifespan.startup, lifespan.shutdown.* a received "
    "lifespan.shutdown, each exactly once",
    "call receive() and answer the event it returned; answer each event once",
)
FAILED_MESSAGE = Rule(
    "lifespan-failed-message",
    "the 'message' of a lifespan.*.failed answer is a str",
    "send the reason as text, e.g. {'type': 'lifespan.startup.failed', 'message': str(exc)}",
)
SHUTDOWN_ANSWER = Rule(
    "lifespan-shutdown-answer",
    "an app that received lifespan.shutdown answers it before returning",
    "send lifespan.shutdown.complete (or .failed) before returning",
)

LIFESPAN_RULES: tuple[Rule, ...] = (MESSAGE_TYPE, ANSWER_ORDER, FAILED_MESSAGE, SHUTDOWN_ANSWER)

# What each answer answers.
_ANSWERS = {
    "lifespan.startup.complete": "lifespan.startup",
    "lifespan.startup.failed": "lifespan.startup",
    "lifespan.shutdown.complete": "lifespan.shutdown",
    "lifespan.shutdown.failed": "lifespan.shutdown",
}


class LifespanChecker:
    """Follows one lifespan conversation; a refused message counts as not sent."""

    def __init__(self) -> None:
        self.messages = 0  # how many messages the app sent, refused ones included
        self._unanswered: set[str] = set()  # events received and not answered yet
        self._answered: set[str] = set()

    def received(self, message: Message) -> None:
        """The app received ``message`` from the server."""
        kind = message.get("type")
        if kind in ("lifespan.startup", "lifespan.shutdown"):
            self._unanswered.add(kind)

    def check_send(self, message: Message) -> None:
        """Check one message the app sends; raises :class:`ASGIProtocolError` if refused."""
        self.messages += 1
        kind = message.get("type") if isinstance(message, Mapping) else None
        event = _ANSWERS.get(kind) if isinstance(kind, str) else None
        if event is None:
            raise self._error(MESSAGE_TYPE, f"unknown message type {kind!r}", message)
        if event in self._answered:
            raise self._error(ANSWER_ORDER, f"{kind}: {event} was answered already", message)
        if event not in self._unanswered:
            raise self._error(ANSWER_ORDER, f"{kind} before {event} was received", message)
        if str(kind).endswith(".failed") and not isinstance(message.get("message", ""), str):
            shown = type(message.get("message")).__name__
            raise self._error(FAILED_MESSAGE, f"'message' is a {shown}", message)
        self._unanswered.discard(event)
        self._answered.add(event)

    def check_app_returned(self) -> None:
        """The app returned (it did not raise). Returning without answering lifespan.startup
        is the spec's way to say "no lifespan here"; an unanswered shutdown is not."""
        if "lifespan.shutdown" in self._unanswered:
            raise ASGIProtocolError(
                SHUTDOWN_ANSWER,
                "the app returned without answering lifespan.shutdown",
                f"after the {ordinal(self.messages)} message, when the app returned"
                if self.messages
                else "when the app returned, having sent nothing",
            )

    def _error(self, rule: Rule, detail: str, message: object) -> ASGIProtocolError:
        where = f"the {ordinal(self.messages)} message the app sent"
        return ASGIProtocolError(rule, detail, where, message)
