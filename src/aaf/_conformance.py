"""Checks what an ASGI app sends on an HTTP connection, as strictly as real HTTP/1.1 servers.

Pure and I/O-free: give ``HTTPResponseChecker`` every message the app sends (``check_send``)
and tell it when the app returned (``check_app_returned``). A message that uvicorn (h11 or
httptools) would refuse, or that breaks HTTP/1.1 framing, raises :class:`ASGIProtocolError`
naming the rule, the message, where it came in the conversation and the fix.

The checker is a state machine (awaiting start -> sending body -> finished); every rule is a
:class:`Rule` constant below and is checked in exactly one place.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ._types import Message, RawHeaders

__all__ = [
    "RECEIVE_AFTER_DISCONNECT",
    "RULES",
    "ASGIProtocolError",
    "HTTPResponseChecker",
    "Rule",
    "checked_headers",
    "ordinal",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """One requirement on what an app sends: a short name, what it requires and how to fix."""

    name: str
    requirement: str
    fix: str


MESSAGE_TYPE = Rule(
    "message-type",
    "an HTTP app may only send http.response.start, http.response.body, http.response.pathsend "
    "and (where advertised) http.response.early_hint",
    "send one of those message types (WebSocket and lifespan messages belong to their "
    "own connections)",
)
START_FIRST = Rule(
    "start-first",
    "the first message must be http.response.start",
    "send http.response.start (status and headers) before any body",
)
START_ONCE = Rule(
    "start-once",
    "http.response.start is sent exactly once",
    "check whether the response already started before sending another start (an error "
    "handler cannot replace a response that already began)",
)
STATUS = Rule(
    "status",
    "'status' is an int from 100 to 599",
    "send a numeric HTTP status such as 200 (an int, not a str or an HTTPStatus name)",
)
HEADERS_SHAPE = Rule(
    "headers-shape",
    "'headers' is an iterable of (name, value) pairs",
    "send headers as a list of 2-tuples, e.g. [(b'content-type', b'text/plain')]",
)
HEADER_BYTES = Rule(
    "header-bytes",
    "header names and values are bytes",
    "encode names and values, e.g. value.encode('latin-1')",
)
HEADER_NAME_TOKEN = Rule(
    "header-name-token",
    "a header name is a non-empty RFC 9110 token (no spaces, colons, controls)",
    "use letters, digits and '-' in header names",
)
HEADER_NAME_LOWERCASE = Rule(
    "header-name-lowercase",
    "header names are lower-case (the ASGI spec)",
    "lower-case the name, e.g. b'content-type' rather than b'Content-Type'",
)
HEADER_VALUE_CHARS = Rule(
    "header-value-chars",
    "a header value has no control characters except tab and no leading or trailing "
    "whitespace (h11 and httptools refuse them)",
    "strip the value and remove or percent-encode CR, LF, NUL and other controls",
)
CONTENT_LENGTH_SINGLE = Rule(
    "content-length-single",
    "Content-Length is sent at most once",
    "send one content-length header",
)
CONTENT_TYPE_SINGLE = Rule(
    "content-type-single",
    "Content-Type is sent at most once",
    "send one content-type header (replace a default rather than adding a second one)",
)
CONTENT_LENGTH_VALUE = Rule(
    "content-length-value",
    "Content-Length is a non-negative decimal number",
    "send str(len(body)).encode() as the content-length value",
)
NO_CONTENT_LENGTH = Rule(
    "no-content-length",
    "1xx and 204 responses carry no Content-Length (RFC 9110 8.6)",
    "drop the content-length header from this response",
)
NO_BODY = Rule(
    "no-body",
    "1xx, 204 and 304 responses and responses to HEAD carry no body bytes",
    "send an empty final body ({'type': 'http.response.body'}); Content-Length may still "
    "describe the GET body on HEAD and 304",
)
BODY_BYTES = Rule(
    "body-bytes",
    "'body' is bytes",
    "encode text before sending it, e.g. text.encode('utf-8')",
)
BODY_TOO_LONG = Rule(
    "body-too-long",
    "the body never exceeds the Content-Length header",
    "send exactly Content-Length bytes, or drop the header and let the server chunk the body",
)
BODY_TOO_SHORT = Rule(
    "body-too-short",
    "the final body message completes exactly Content-Length bytes",
    "send the rest of the body before the final message (more_body=False), or fix the "
    "Content-Length header",
)
PATHSEND_PATH = Rule(
    "pathsend-path",
    "http.response.pathsend carries 'path', an absolute path as a str",
    "send the file's absolute path, e.g. str(Path(name).resolve())",
)
PATHSEND_WHOLE_BODY = Rule(
    "pathsend-whole-body",
    "http.response.pathsend is the whole body: it directly follows http.response.start",
    "send the file with pathsend alone, or stream all of it as http.response.body messages",
)
AFTER_FINISH = Rule(
    "after-finish",
    "nothing is sent after the final body (more_body=False, the default) or a pathsend",
    "send every chunk but the last with more_body=True and stop after the last one",
)
UNFINISHED = Rule(
    "unfinished",
    "an app that started a response finishes it before returning",
    "end the response with a final body message (more_body=False) before returning",
)
NO_RESPONSE = Rule(
    "no-response",
    "an app answers every request it did not see the client leave (http.disconnect)",
    "send a response (http.response.start, then the body) before returning; raise instead "
    "if the app failed, so the server answers 500",
)
EARLY_HINT_ADVERTISED = Rule(
    "early-hint-advertised",
    "http.response.early_hint is sent only when the server lists the "
    "'http.response.early_hint' extension in scope['extensions']",
    "check scope['extensions'] before sending early hints (conn.early_hints() does), or skip "
    "them: a server without the extension refuses the message",
)
EARLY_HINT_BEFORE_START = Rule(
    "early-hint-before-start",
    "http.response.early_hint comes before http.response.start (a 103 precedes the response)",
    "send the early hints first, or put the Link headers on the response itself",
)
EARLY_HINT_LINKS = Rule(
    "early-hint-links",
    "http.response.early_hint carries 'links', a list of Link header values as bytes",
    "send {'type': 'http.response.early_hint', 'links': [b'</style.css>; rel=preload; as=style']}",
)
# Not an HTTP response rule: it applies to every connection type that has a disconnect event
# (HTTP and WebSocket). The connection-level checker (aaf.inspect) applies it.
RECEIVE_AFTER_DISCONNECT = Rule(
    "receive-after-disconnect",
    "an app does not call receive() again after it received the disconnect event "
    "(http.disconnect, websocket.disconnect)",
    "stop reading once the disconnect arrived: the connection is over and nothing else comes",
)

RULES: tuple[Rule, ...] = (
    MESSAGE_TYPE,
    START_FIRST,
    START_ONCE,
    STATUS,
    HEADERS_SHAPE,
    HEADER_BYTES,
    HEADER_NAME_TOKEN,
    HEADER_NAME_LOWERCASE,
    HEADER_VALUE_CHARS,
    CONTENT_LENGTH_SINGLE,
    CONTENT_TYPE_SINGLE,
    CONTENT_LENGTH_VALUE,
    NO_CONTENT_LENGTH,
    NO_BODY,
    BODY_BYTES,
    BODY_TOO_LONG,
    BODY_TOO_SHORT,
    PATHSEND_PATH,
    PATHSEND_WHOLE_BODY,
    AFTER_FINISH,
    UNFINISHED,
    NO_RESPONSE,
    EARLY_HINT_ADVERTISED,
    EARLY_HINT_BEFORE_START,
    EARLY_HINT_LINKS,
)

_START = "http.response.start"
_BODY = "http.response.body"
_PATHSEND = "http.response.pathsend"
_EARLY_HINT = "http.response.early_hint"
_HTTP_TYPES = frozenset({_START, _BODY, _PATHSEND, _EARLY_HINT})

# The header grammar h11 enforces (RFC 9110 token names); the value class also refuses what
# httptools refuses (every control except tab). Linear: one class per position, no nesting.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_DECIMAL = re.compile(rb"[0-9]+")
_SINGLE_HEADERS = (
    (b"content-length", CONTENT_LENGTH_SINGLE),
    (b"content-type", CONTENT_TYPE_SINGLE),
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


class ASGIProtocolError(RuntimeError):
    """An app broke the ASGI protocol (as a strict server would refuse it). ``rule`` says which
    rule; ``detail`` what happened and ``where`` when in the conversation."""

    def __init__(self, rule: Rule, detail: str, where: str, message: object = None) -> None:
        self.rule = rule
        self.detail = detail
        self.where = where
        shown = "" if message is None else f": {preview(message)}"
        super().__init__(
            f"ASGI protocol violation [{rule.name}]: {detail}\n"
            f"  where: {where}{shown}\n"
            f"  rule: {rule.requirement}\n"
            f"  fix: {rule.fix}"
        )


def preview(message: object, limit: int = 160) -> str:
    """A short repr of a message: long bytes are cut to their first bytes and their size."""
    if not isinstance(message, Mapping):
        text = repr(message)
    else:
        parts = []
        for key, value in message.items():
            shown = repr(value)
            if isinstance(value, bytes) and len(value) > 24:
                shown = f"{value[:16]!r}...({len(value)} bytes)"
            parts.append(f"{key!r}: {shown}")
        text = "{" + ", ".join(parts) + "}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def ordinal(position: int) -> str:
    """'first', 'second'... then '#9': the place of a message in a conversation."""
    return _ORDINALS[position - 1] if position <= len(_ORDINALS) else f"#{position}"


class _State(enum.Enum):
    AWAITING_START = "awaiting http.response.start"
    SENDING_BODY = "sending the body"
    FINISHED = "finished"


class HTTPResponseChecker:
    """Follows one HTTP response as the app sends it and refuses what a server would refuse.

    A refused message leaves the state as it was (it counts as not sent). After ``start`` was
    accepted, ``status`` and ``headers`` hold what it carried (the headers as a list, so an
    iterator the app sent is read once, here).
    """

    def __init__(self, method: str, *, early_hints: bool = False) -> None:
        self.method = method.upper()
        # Whether the server advertised the early-hint extension (a 103 before the response).
        self.early_hints = early_hints
        self.state = _State.AWAITING_START
        self.messages = 0  # how many messages the app sent, refused ones included
        self.status = 0
        self.headers: RawHeaders = []
        self._body_allowed = True
        self._content_length: int | None = None
        self._body_size = 0
        self._body_messages = 0  # accepted http.response.body messages

    @property
    def started(self) -> bool:
        return self.state is not _State.AWAITING_START

    @property
    def finished(self) -> bool:
        return self.state is _State.FINISHED

    # ------------------------------------------------------------------ the conversation
    def check_send(self, message: Message) -> None:
        """Check one message the app sends; raises :class:`ASGIProtocolError` if refused."""
        self.messages += 1
        kind = message.get("type") if isinstance(message, Mapping) else None
        if kind not in _HTTP_TYPES:
            raise self._error(MESSAGE_TYPE, f"unknown message type {kind!r}", message)
        if kind == _EARLY_HINT:
            self._on_early_hint(message)
        elif kind == _START:
            if self.started:
                raise self._error(START_ONCE, "http.response.start sent again", message)
            self._on_start(message)
        elif not self.started:
            raise self._error(START_FIRST, f"{kind} sent before http.response.start", message)
        elif self.finished:
            raise self._error(AFTER_FINISH, f"{kind} sent after the response ended", message)
        elif kind == _BODY:
            self._on_body(message)
        else:
            self._on_pathsend(message)

    def check_app_returned(self) -> None:
        """The app returned (it did not raise, and the client did not leave): it must have
        answered, and a response it started must be finished."""
        if self.state is _State.AWAITING_START:
            raise ASGIProtocolError(
                NO_RESPONSE,
                "the app returned without starting a response",
                f"after the {ordinal(self.messages)} message, when the app returned"
                if self.messages
                else "when the app returned, having sent nothing",
            )
        if self.state is _State.SENDING_BODY:
            raise ASGIProtocolError(
                UNFINISHED,
                f"the app returned without finishing the response ({self._sent_so_far()})",
                f"after the {ordinal(self.messages)} message, when the app returned",
            )

    # ------------------------------------------------------------------ one method a message
    def _on_start(self, message: Message) -> None:
        status = message.get("status")
        # bool is an int subclass; True is not a status.
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise self._error(STATUS, f"status {status!r} is not an int from 100 to 599", message)
        headers = checked_headers(
            message.get("headers", []), lambda rule, detail: self._error(rule, detail, message)
        )
        content_length = self._checked_content_length(headers, message)
        body_allowed = not (status < 200 or status in (204, 304) or self.method == "HEAD")
        if content_length is not None and (status < 200 or status == 204):
            raise self._error(
                NO_CONTENT_LENGTH, f"a {status} response has a content-length header", message
            )
        self.status, self.headers = status, headers
        self._body_allowed = body_allowed
        # On HEAD and 304 the length describes the GET body, not bytes that follow.
        self._content_length = content_length if body_allowed else None
        self.state = _State.SENDING_BODY

    def _on_early_hint(self, message: Message) -> None:
        if not self.early_hints:
            raise self._error(
                EARLY_HINT_ADVERTISED, "the server did not advertise early hints", message
            )
        if self.started:
            raise self._error(
                EARLY_HINT_BEFORE_START, "early hints sent after the response started", message
            )
        links = message.get("links")
        # A list, not any iterable: the server reads it after this check.
        if not isinstance(links, (list, tuple)):
            raise self._error(EARLY_HINT_LINKS, f"links is a {type(links).__name__}", message)
        for link in links:
            if not isinstance(link, bytes) or not link or _VALUE.fullmatch(link) is None:
                raise self._error(EARLY_HINT_LINKS, f"link {link!r}", message)

    def _on_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, bytes):
            raise self._error(BODY_BYTES, f"body is a {type(body).__name__}", message)
        if body and not self._body_allowed:
            raise self._error(NO_BODY, f"{len(body)} body bytes {self._no_body_reason()}", message)
        size = self._body_size + len(body)
        if self._content_length is not None and size > self._content_length:
            raise self._error(
                BODY_TOO_LONG,
                f"the body reaches {size} bytes; content-length is {self._content_length}",
                message,
            )
        final = not message.get("more_body", False)
        if final and self._content_length is not None and size < self._content_length:
            raise self._error(
                BODY_TOO_SHORT,
                f"the body ends at {size} bytes; content-length is {self._content_length}",
                message,
            )
        self._body_size = size
        self._body_messages += 1
        if final:
            self.state = _State.FINISHED

    def _on_pathsend(self, message: Message) -> None:
        path = message.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise self._error(PATHSEND_PATH, f"path {path!r} is not an absolute str", message)
        if self._body_messages:
            raise self._error(PATHSEND_WHOLE_BODY, f"pathsend after {self._sent_so_far()}", message)
        if not self._body_allowed:
            raise self._error(NO_BODY, f"a file {self._no_body_reason()}", message)
        self.state = _State.FINISHED

    # ------------------------------------------------------------------ headers
    def _checked_content_length(self, headers: RawHeaders, message: Message) -> int | None:
        for name, rule in _SINGLE_HEADERS:
            values = [value for key, value in headers if key == name]
            if len(values) > 1:
                raise self._error(
                    rule, f"{len(values)} {name.decode()} headers {values!r}", message
                )
        lengths = [value for key, value in headers if key == b"content-length"]
        if not lengths:
            return None
        if _DECIMAL.fullmatch(lengths[0]) is None:
            raise self._error(CONTENT_LENGTH_VALUE, f"content-length {lengths[0]!r}", message)
        return int(lengths[0])

    # ------------------------------------------------------------------ messages
    def _no_body_reason(self) -> str:
        if self.method == "HEAD":
            return "in the response to a HEAD request"
        return f"in a {self.status} response"

    def _sent_so_far(self) -> str:
        return f"{self._body_size} body bytes sent so far"

    def _error(self, rule: Rule, detail: str, message: object) -> ASGIProtocolError:
        where = f"the {ordinal(self.messages)} message the app sent ({self.state.value})"
        return ASGIProtocolError(rule, detail, where, message)


def checked_headers(raw: object, refuse: Callable[[Rule, str], ASGIProtocolError]) -> RawHeaders:
    """``raw`` as a list of (name, value) pairs, read once; ``refuse(rule, detail)`` makes the
    error raised for the first header a server would refuse (also used for WebSocket accept
    and denial headers: one place per rule)."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
        raise refuse(HEADERS_SHAPE, f"headers is a {type(raw).__name__}")
    headers: RawHeaders = []
    for pair in raw:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise refuse(HEADERS_SHAPE, f"header {pair!r} is not a pair")
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise refuse(
                HEADER_BYTES,
                f"header ({name!r}, {value!r}) is ({type(name).__name__}, {type(value).__name__})",
            )
        if _TOKEN.fullmatch(name) is None:
            raise refuse(HEADER_NAME_TOKEN, f"header name {name!r}")
        if name != name.lower():
            raise refuse(HEADER_NAME_LOWERCASE, f"header name {name!r}")
        if _VALUE.fullmatch(value) is None:
            raise refuse(HEADER_VALUE_CHARS, f"header {name!r}: {value!r}")
        headers.append((name, value))
    return headers
