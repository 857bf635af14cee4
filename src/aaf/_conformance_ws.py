"""Checks what an ASGI app sends on a WebSocket connection, per the ASGI spec (www 2.4).

Pure and I/O-free, like :mod:`aaf._conformance` (whose ``Rule`` and ``ASGIProtocolError`` it
shares): give ``WebSocketChecker`` every message the app sends (``check_send``) and tell it when
the app returned (``check_app_returned``). The conversation is a state machine
(connecting -> open | denying -> closed). A denial response is an HTTP response, so it is
checked by an :class:`~aaf._conformance.HTTPResponseChecker` (its status, headers and body
rules are the HTTP ones: one place per rule).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ._conformance import (
    ASGIProtocolError,
    HTTPResponseChecker,
    Rule,
    checked_headers,
    ordinal,
)
from ._types import Message, Scope

__all__ = ["WEBSOCKET_RULES", "WebSocketChecker"]

MESSAGE_TYPE = Rule(
    "websocket-message-type",
    "a WebSocket app may only send websocket.accept, websocket.send, websocket.close and "
    "websocket.http.response.start / .body",
    "send one of those message types (HTTP and lifespan messages belong to their own connections)",
)
ACCEPT_FIRST = Rule(
    "accept-first",
    "websocket.accept is sent once, before anything else",
    "accept the connection first; do not accept after a send, a close or a denial",
)
ACCEPT_SUBPROTOCOL = Rule(
    "accept-subprotocol",
    "the accepted 'subprotocol' is None or one the client offered (scope['subprotocols']), and "
    "is chosen with that key, never with a sec-websocket-protocol header",
    "pick one of scope['subprotocols'] (or None) and pass it as 'subprotocol'",
)
SEND_AFTER_ACCEPT = Rule(
    "send-after-accept",
    "websocket.send comes after websocket.accept",
    "accept the connection before sending data on it",
)
SEND_PAYLOAD = Rule(
    "send-payload",
    "websocket.send carries exactly one of 'bytes' (bytes) and 'text' (str)",
    "send {'type': 'websocket.send', 'text': '...'} or {..., 'bytes': b'...'}, not both",
)
CLOSE_CODE = Rule(
    "close-code",
    "the close 'code' is an int in 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 7.4; 1004-1006 "
    "and 1015 are reserved for the peers' own use)",
    "close with 1000 (normal), 1008 (policy violation), 1011 (server error) or an "
    "application code from 4000 to 4999",
)
CLOSE_REASON = Rule(
    "close-reason",
    "the close 'reason' is None or a str of at most 123 UTF-8 bytes (a control frame holds "
    "125 bytes, two of them the code)",
    "shorten the reason (it is a hint for developers, not a message for users)",
)
DENIAL_EXTENSION = Rule(
    "denial-extension",
    "websocket.http.response.* is sent only when the scope lists the "
    "'websocket.http.response' extension",
    "check scope.get('extensions', {}) for 'websocket.http.response'; without it, deny with "
    "websocket.close (the server answers 403)",
)
DENIAL_FIRST = Rule(
    "denial-first",
    "a denial response (websocket.http.response.start, then its body) replaces the handshake: "
    "it comes first, before any accept",
    "deny instead of accepting; once accepted, end the connection with websocket.close",
)
DENIAL_COMPLETE = Rule(
    "denial-complete",
    "a denial response that started is finished (more_body=False) before anything else is "
    "sent and before the app returns",
    "send the rest of the denial body, ending with more_body=False",
)
AFTER_CLOSE = Rule(
    "after-close",
    "nothing is sent after websocket.close or the end of a denial response",
    "stop sending once the connection was closed or denied",
)
HANDSHAKE_ANSWER = Rule(
    "handshake-answer",
    "an app accepts, denies or closes a WebSocket before returning (unless the client left "
    "first: websocket.disconnect)",
    "send websocket.accept, websocket.close or a denial response before returning",
)

WEBSOCKET_RULES: tuple[Rule, ...] = (
    MESSAGE_TYPE,
    ACCEPT_FIRST,
    ACCEPT_SUBPROTOCOL,
    SEND_AFTER_ACCEPT,
    SEND_PAYLOAD,
    CLOSE_CODE,
    CLOSE_REASON,
    DENIAL_EXTENSION,
    DENIAL_FIRST,
    DENIAL_COMPLETE,
    AFTER_CLOSE,
    HANDSHAKE_ANSWER,
)

_ACCEPT = "websocket.accept"
_SEND = "websocket.send"
_CLOSE = "websocket.close"
_DENIAL_START = "websocket.http.response.start"
_DENIAL_BODY = "websocket.http.response.body"
_DENIAL_EXTENSION = "websocket.http.response"
_TYPES = frozenset({_ACCEPT, _SEND, _CLOSE, _DENIAL_START, _DENIAL_BODY})
# The denial messages are HTTP response messages under another name.
_AS_HTTP = {_DENIAL_START: "http.response.start", _DENIAL_BODY: "http.response.body"}
_MAX_REASON_BYTES = 123


def valid_close_code(code: object) -> bool:
    """RFC 6455 7.4: codes an endpoint may send in a close frame."""
    if not isinstance(code, int) or isinstance(code, bool):
        return False
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class _State(enum.Enum):
    CONNECTING = "before the handshake answer"
    OPEN = "accepted"
    DENYING = "sending a denial response"
    CLOSED = "closed"


class WebSocketChecker:
    """Follows one WebSocket conversation as the app sends it; a refused message counts as
    not sent (the state stays as it was)."""

    def __init__(self, scope: Scope) -> None:
        self.state = _State.CONNECTING
        self.messages = 0  # how many messages the app sent, refused ones included
        self._offered = list(scope.get("subprotocols") or [])
        extensions = scope.get("extensions") or {}
        self._may_deny = isinstance(extensions, Mapping) and _DENIAL_EXTENSION in extensions
        self._denial: HTTPResponseChecker | None = None

    @property
    def answered(self) -> bool:
        """Whether the handshake got its answer (accept, close or a complete denial)."""
        return self.state in (_State.OPEN, _State.CLOSED)

    def check_send(self, message: Message) -> None:
        """Check one message the app sends; raises :class:`ASGIProtocolError` if refused."""
        self.messages += 1
        kind = message.get("type") if isinstance(message, Mapping) else None
        if kind not in _TYPES:
            raise self._error(MESSAGE_TYPE, f"unknown message type {kind!r}", message)
        if self.state is _State.CLOSED:
            raise self._error(AFTER_CLOSE, f"{kind} sent after the connection ended", message)
        if self.state is _State.DENYING and kind not in _AS_HTTP:
            raise self._error(DENIAL_COMPLETE, f"{kind} sent during the denial", message)
        if kind == _ACCEPT:
            self._on_accept(message)
        elif kind == _SEND:
            self._on_send(message)
        elif kind == _CLOSE:
            self._on_close(message)
        else:
            self._on_denial(kind, message)

    def check_app_returned(self) -> None:
        """The app returned (it did not raise and did not see the client leave)."""
        where = f"after the {ordinal(self.messages)} message, when the app returned"
        if self.state is _State.CONNECTING:
            raise ASGIProtocolError(
                HANDSHAKE_ANSWER,
                "the app returned without accepting or denying the WebSocket",
                where if self.messages else "when the app returned, having sent nothing",
            )
        if self.state is _State.DENYING:
            raise ASGIProtocolError(
                DENIAL_COMPLETE, "the app returned in the middle of its denial response", where
            )

    # ------------------------------------------------------------------ one method a message
    def _on_accept(self, message: Message) -> None:
        if self.state is not _State.CONNECTING:
            raise self._error(ACCEPT_FIRST, f"websocket.accept while {self.state.value}", message)
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self._offered:
            raise self._error(
                ACCEPT_SUBPROTOCOL,
                f"subprotocol {subprotocol!r}; the client offered {self._offered!r}",
                message,
            )
        headers = checked_headers(
            message.get("headers") or [], lambda rule, detail: self._error(rule, detail, message)
        )
        if any(name == b"sec-websocket-protocol" for name, _ in headers):
            raise self._error(ACCEPT_SUBPROTOCOL, "a sec-websocket-protocol header", message)
        self.state = _State.OPEN

    def _on_send(self, message: Message) -> None:
        if self.state is not _State.OPEN:
            raise self._error(SEND_AFTER_ACCEPT, f"websocket.send {self.state.value}", message)
        data, text = message.get("bytes"), message.get("text")
        if (data is None) == (text is None):
            both = "both" if data is not None else "neither"
            raise self._error(SEND_PAYLOAD, f"{both} 'bytes' and 'text' given", message)
        if data is not None and not isinstance(data, bytes):
            raise self._error(SEND_PAYLOAD, f"'bytes' is a {type(data).__name__}", message)
        if text is not None and not isinstance(text, str):
            raise self._error(SEND_PAYLOAD, f"'text' is a {type(text).__name__}", message)

    def _on_close(self, message: Message) -> None:
        code = message.get("code", 1000)
        if not valid_close_code(code):
            raise self._error(CLOSE_CODE, f"close code {code!r}", message)
        reason = message.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise self._error(CLOSE_REASON, f"reason is a {type(reason).__name__}", message)
        size = len(reason.encode("utf-8")) if reason else 0
        if size > _MAX_REASON_BYTES:
            raise self._error(CLOSE_REASON, f"the reason has {size} UTF-8 bytes", message)
        self.state = _State.CLOSED

    def _on_denial(self, kind: str, message: Message) -> None:
        if not self._may_deny:
            raise self._error(
                DENIAL_EXTENSION, "the scope does not list 'websocket.http.response'", message
            )
        if self.state is _State.OPEN:
            raise self._error(DENIAL_FIRST, f"{kind} after websocket.accept", message)
        if self._denial is None:
            if kind != _DENIAL_START:
                raise self._error(DENIAL_FIRST, f"{kind} before the denial started", message)
            # The denial can only be the first message, so the HTTP checker's message count
            # (and with it the 'where' of its errors) is the conversation's.
            self._denial = HTTPResponseChecker("GET")
        self._denial.check_send({**message, "type": _AS_HTTP[kind]})
        self.state = _State.CLOSED if self._denial.finished else _State.DENYING

    def _error(self, rule: Rule, detail: str, message: object) -> ASGIProtocolError:
        where = f"the {ordinal(self.messages)} message the app sent ({self.state.value})"
        return ASGIProtocolError(rule, detail, where, message)
