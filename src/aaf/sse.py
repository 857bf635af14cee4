"""Server-sent events: ``EventSourceResponse`` streams events to a browser's ``EventSource``.

::

    @router.get("/feed")
    async def feed(conn):
        async def events():
            last = conn.req_headers.get("last-event-id")   # resume after a reconnect
            async for item in updates(after=last):
                yield ServerSentEvent(item.payload, event="update", id=str(item.id))
        return EventSourceResponse(events())

The iterable may yield ``ServerSentEvent`` objects, plain strings (one ``data`` event each) or
JSON-encodable values such as dicts (sent as JSON ``data``). A comment ping goes out whenever the
stream has been idle for ``ping_interval`` seconds, so proxies keep it open. When the client
disconnects, the generator is cancelled where it waits and its ``finally`` blocks run; when the
server stops (``aaf._draining``) or nothing came for ``idle_timeout`` seconds, the same happens
and the stream ends cleanly, so the browser reconnects.

The wire format is the WHATWG HTML "server-sent events" section: UTF-8 lines, fields
``event``/``data``/``id``/``retry``, an empty line ending each event, ``:`` starting a comment.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any, Generic

from . import _json
from ._draining import STOPPING
from ._http import HeadersLike
from .response import Responder, with_default_type
from .streaming import StreamingResponse, iterate

if TYPE_CHECKING:
    from ._disconnect import DisconnectWatcher
    from ._types import RawHeaders, Scope, Send

__all__ = ["EventSourceResponse", "SSEParser", "ServerSentEvent"]

if TYPE_CHECKING:
    # A default (PEP 696) keeps a bare ``EventSourceResponse`` annotation valid under
    # mypy --strict; the runtime needs no default, so no runtime dependency is added for it.
    from typing_extensions import TypeVar

    EventT = TypeVar("EventT", default=Any)
else:
    from typing import TypeVar

    EventT = TypeVar("EventT")

# The spec's line terminators are CRLF, CR and LF (str.splitlines() would also split on
# form feeds, U+2028 and others, which the browser does not).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PING = b": ping\n\n"


def _lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def _single_line(field: str, value: str) -> str:
    # APPSEC: a line break in event/id would let the value start a new field or event.
    if "\r" in value or "\n" in value:
        raise ValueError(f"SSE {field} cannot contain a line break: {value!r}")
    return value


class ServerSentEvent:
    """One event: ``data`` (str, or any JSON-encodable value) and optional fields.

    ``id`` is what the browser sends back as ``Last-Event-ID`` when it reconnects; ``retry``
    (milliseconds) sets its reconnection delay; ``comment`` adds ``:`` lines the browser ignores.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        event: str | None = None,
        id: str | None = None,  # the field's name in the spec
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        self.data = data
        self.event = None if event is None else _single_line("event", event)
        if id is not None and "\0" in _single_line("id", id):
            raise ValueError("SSE id cannot contain NUL (browsers ignore such ids)")
        self.id = id
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise ValueError(f"SSE retry is a non-negative int of milliseconds, not {retry!r}")
        self.retry = retry
        self.comment = comment

    @property
    def text(self) -> str | None:
        """``data`` as the text sent on the wire (JSON for non-strings)."""
        if self.data is None or isinstance(self.data, str):
            return self.data
        if isinstance(self.data, bytes):
            return self.data.decode()
        return _json.encode(self.data).decode()

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines += [": " + line for line in _lines(self.comment)]
        if self.id is not None:
            lines.append("id: " + self.id)
        if self.event is not None:
            lines.append("event: " + self.event)
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        text = self.text
        if text is not None:
            lines += ["data: " + line for line in _lines(text)]
        return ("\n".join(lines) + "\n\n").encode()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.text, self.event, self.id, self.retry) == (
            other.text,
            other.event,
            other.id,
            other.retry,
        )

    def __repr__(self) -> str:
        fields = [f"{name}={getattr(self, name)!r}" for name in ("event", "id", "retry")]
        shown = ", ".join(f for f in fields if not f.endswith("=None"))
        return f"ServerSentEvent({self.text!r}{', ' + shown if shown else ''})"


def encode_event(item: Any) -> bytes:
    """The wire bytes for one item of an event stream."""
    if isinstance(item, ServerSentEvent):
        return item.encode()
    return ServerSentEvent(item).encode()


class EventSourceResponse(StreamingResponse, Generic[EventT]):
    """A ``text/event-stream`` response fed by a sync or async iterable of events.

    ``-> EventSourceResponse[TaskChange]`` on a handler declares the type of each event's
    ``data`` for the API document (aaf.openapi); the stream itself is not checked against it.

    ``ping_interval`` (seconds, default 15; None turns pings off) is how long the stream may
    stay silent before a ``: ping`` comment is sent. ``idle_timeout`` (seconds, default None:
    no bound) ends the stream cleanly when the content produced no event for that long (pings
    do not count); the browser's ``EventSource`` then reconnects with its ``Last-Event-ID``.

    When the server stops (SIGTERM, Ctrl-C, or the lifespan shutdown), the stream ends cleanly
    at once, so the server's shutdown does not wait for it (see ``App(close_on_shutdown=)``).
    """

    __slots__ = ("idle_timeout", "ping_interval")

    default_media_type = None  # text/event-stream exactly, set in __init__

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int | Responder = 200,
        headers: HeadersLike | None = None,
        *,
        ping_interval: float | None = 15.0,
        idle_timeout: float | None = None,
        connection: Responder | None = None,
    ) -> None:
        # Exactly the media type: the format is always UTF-8, a charset adds nothing (a
        # Content-Type given in ``headers`` still wins).
        super().__init__(content, status_code, headers, connection=connection)
        with_default_type(self.raw_headers, b"text/event-stream")
        if ping_interval is not None and not ping_interval > 0:
            raise ValueError(f"ping_interval must be > 0 seconds or None, not {ping_interval!r}")
        self.ping_interval = ping_interval
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be > 0 seconds or None, not {idle_timeout!r}")
        self.idle_timeout = idle_timeout
        given = {name for name, _ in self.raw_headers}
        if b"cache-control" not in given:
            self.raw_headers.append((b"cache-control", b"no-cache"))
        # nginx buffers responses by default, which would hold events back.
        if b"x-accel-buffering" not in given:
            self.raw_headers.append((b"x-accel-buffering", b"no"))

    async def emit(
        self,
        scope: Scope,
        send: Send,
        extra: RawHeaders | None = None,
        watcher: DisconnectWatcher | None = None,
    ) -> None:
        # Counted as open until its last chunk was handed to the server: a server that drops
        # every connection when its signal handler runs (daphne) gets that handler only then.
        release = STOPPING.hold()
        try:
            await super().emit(scope, send, extra, watcher)
        finally:
            release()

    def body_chunks(self) -> AsyncGenerator[bytes, None]:
        return self._frames()

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        interval, idle = self.ping_interval, self.idle_timeout
        loop = asyncio.get_running_loop()
        source = iterate(self.content)
        pending: asyncio.Future[Any] | None = None
        # Watched alongside the producer: when the server stops, the stream ends cleanly
        # (the browser reconnects, to another process) instead of holding the shutdown.
        stopping, release = STOPPING.future()
        try:
            while not (stopping.done() or STOPPING.is_set()):
                # The next item is awaited in a task so that waiting can time out (pings, the
                # idle bound) or end (the stop) without cancelling the producer in between.
                # PERF: one task per event, also without pings: events come at human rates.
                pending = asyncio.ensure_future(anext(source))
                now = loop.time()
                idle_until = None if idle is None else now + idle
                next_ping = None if interval is None else now + interval
                while True:
                    now = loop.time()
                    if idle_until is not None and now >= idle_until:
                        return  # idle for too long: end the stream; the client reconnects
                    if next_ping is not None and interval is not None and now >= next_ping:
                        yield _PING
                        next_ping = loop.time() + interval
                    deadlines = [d for d in (next_ping, idle_until) if d is not None]
                    wait = min(deadlines) - loop.time() if deadlines else None
                    done, _ = await asyncio.wait(
                        {pending, stopping}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                    if pending in done:
                        break
                    if stopping.done():
                        return
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    return
                yield encode_event(item)
        finally:
            release()
            if pending is not None and not pending.done():
                # The stream ends (client gone, server stopping, idle, or closed early):
                # cancel the producer where it waits and let its finally blocks run first.
                pending.cancel()
                await asyncio.wait({pending})
            await source.aclose()


class SSEParser:
    """Turns the lines of an event stream back into ``ServerSentEvent`` objects (for clients
    and tests): ``feed(line)`` returns an event when ``line`` completes one."""

    __slots__ = ("_data", "_event", "_retry", "last_event_id")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._retry: int | None = None
        self.last_event_id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (pings)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], None, None
        if not data:
            return None  # the spec drops events without data
        return ServerSentEvent("\n".join(data), event=event, id=self.last_event_id, retry=retry)
