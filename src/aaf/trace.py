"""``aaf trace``: run one request through an ASGI app in-process and show the whole conversation.

The app is wrapped in a :class:`Recorder` that reports every scope, ``receive()`` and ``send()``
as it happens, then driven by the pieces the test client is made of: the lifespan protocol by
:class:`~aaf.lifespan.LifespanClient`, HTTP and WebSocket by :class:`~aaf.testing.AsyncTestClient`
(which also checks every message as a strict server would). No server, no sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ._trace_render import DEFAULT_MAX_SHOWN, JsonWriter, TextWriter, TraceEvent
from ._types import ASGIApp, Message, Receive, Scope, Send
from .app import App
from .lifespan import LifespanClient
from .routing import Router
from .testing import AsyncTestClient, WebSocketDenied

__all__ = [
    "DEFAULT_MAX_SHOWN",
    "TraceError",
    "TraceOptions",
    "as_asgi_app",
    "options_from_args",
    "run_trace",
]

BASE_URL = "http://127.0.0.1:8000"  # where ``aaf run`` listens by default
CLIENT_ADDRESS = ("127.0.0.1", 50000)
# Set in place of httpx's defaults (which also ask for compression and name httpx).
DEFAULT_HEADERS = {"accept": "*/*", "user-agent": "aaf-trace"}
# PERF: after a WebSocket frame, the loop is given this many turns so work the frame started
# in other tasks (a broadcast, a reply task) can send before the next frame or the disconnect.
SETTLE_TURNS = 20
NO_LIFESPAN = (
    "no lifespan (the app raised, returned or did not answer: the ASGI way to say it has "
    "none); going on without"
)


class TraceError(Exception):
    """The trace cannot start (bad target or options); the message says the fix."""


@dataclass
class TraceOptions:
    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    websocket: bool = False
    frames: Iterable[str] = ()  # WebSocket text frames, one per line
    timeout: float = 10.0
    json: bool = False
    max_shown: int = DEFAULT_MAX_SHOWN


# ---------------------------------------------------------------- the target and the options
def as_asgi_app(obj: Any, target: str) -> tuple[ASGIApp, str]:
    """``obj`` as the ASGI app to trace, and a note on how it is served (or TraceError)."""
    if isinstance(obj, Router):
        return App([obj]), f"{target} is a Router: serving aaf([router]), as 'aaf run' does"
    if isinstance(obj, type):
        raise TraceError(
            f"{target!r} is the class {obj.__qualname__}, not an app: create the app in your "
            f"module (app = {obj.__qualname__}(...)) and trace 'module:app'"
        )
    if not callable(obj):
        raise TraceError(
            f"{target!r} is of type {type(obj).__name__}, not an ASGI app: point at the async "
            "callable app(scope, receive, send), e.g. 'myapp:app'"
        )
    func = obj if inspect.isroutine(obj) or isinstance(obj, functools.partial) else obj.__call__
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return obj, ""  # a callable Python cannot describe: let the call decide
    try:
        signature.bind(None, None, None)
    except TypeError:
        hint = ""
        if _binds(signature, 1):
            hint = " (it looks like an ASGI 2 app(scope); wrap it into an ASGI 3 app)"
        raise TraceError(
            f"{target!r} takes ({', '.join(signature.parameters)}), but an ASGI app is called as "
            f"app(scope, receive, send){hint}"
        ) from None
    # Only Python functions are judged here; other callables are checked when called.
    python_function = inspect.isfunction(func) or inspect.ismethod(func)
    if python_function and not inspect.iscoroutinefunction(func):
        raise TraceError(
            f"{target!r} is a plain (sync) function: an ASGI app is "
            "'async def app(scope, receive, send)'"
        )
    return obj, ""


def _binds(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise TraceError(f"-H expects 'name: value', such as 'accept: text/html'; got {text!r}")
    return name.strip(), value.strip()


def _body(data: str | None) -> bytes:
    if data is None:
        return b""
    if not data.startswith("@"):
        return data.encode()
    try:
        return Path(data[1:]).read_bytes()
    except OSError as exc:
        raise TraceError(
            f"cannot read the body file {data[1:]!r} (from -d {data}): {exc}"
        ) from None


def _lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        yield line.rstrip("\r\n")


def options_from_args(args: argparse.Namespace, stdin: TextIO) -> TraceOptions:
    """The options of ``aaf trace`` as parsed by the ``aaf`` command line."""
    method = [args.method] if args.path is not None else []
    url = args.path if args.path is not None else args.method
    if args.ws and args.data is not None:
        raise TraceError("-d sends an HTTP body; with --ws, give the frames on stdin or --script")
    if args.ws and method and method[0].upper() != "GET":
        raise TraceError(f"a WebSocket handshake is a GET, not {method[0]}: drop the method")
    default = "POST" if args.data is not None else "GET"
    frames: Iterable[str] = ()
    if args.ws:
        if args.script:
            try:
                frames = Path(args.script).read_text().splitlines()
            except OSError as exc:
                raise TraceError(f"cannot read the --script file {args.script!r}: {exc}") from None
        else:
            frames = _lines(stdin)
    return TraceOptions(
        method=(method[0] if method else default).upper(),
        url=url,
        headers=[_header(text) for text in args.header or []],
        body=_body(args.data),
        websocket=args.ws,
        frames=frames,
        timeout=args.timeout,
        json=args.json,
        max_shown=args.max_shown,
    )


# ---------------------------------------------------------------- the recorder
def _error_details(exc: BaseException) -> dict[str, Any]:
    return {
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        }
    }


class Recorder:
    """The app, wrapped: every call, message and ending is reported to ``emit`` as it happens."""

    def __init__(self, app: ASGIApp, emit: Any) -> None:
        self.app = app
        self._emit = emit
        self.started = time.perf_counter()
        self.events: list[TraceEvent] = []
        self.receive_calls: dict[str, int] = {}
        self.ended: set[str] = set()
        self.progress = asyncio.Event()  # set whenever the app asks for a message or ends

    def now(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def emit(self, kind: str, direction: str, message: Message | None = None, **extra: Any) -> None:
        event = TraceEvent(self.now(), kind, direction, message, **extra)
        self.events.append(event)
        self._emit(event)

    def sent(self, kind: str) -> list[Mapping[str, Any]]:
        return [e.message for e in self.events if e.kind == kind and e.dir == "send" and e.message]

    def raised(self, kind: str) -> TraceEvent | None:
        return next((e for e in self.events if e.kind == kind and e.dir == "raise"), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = str(scope.get("type", "?"))
        self.emit(kind, "scope", dict(scope))

        async def traced_receive() -> Message:
            self.receive_calls[kind] = self.receive_calls.get(kind, 0) + 1
            self.progress.set()
            message = await receive()
            self.emit(kind, "receive", dict(message))
            return message

        async def traced_send(message: Message) -> None:
            self.emit(kind, "send", dict(message))
            await send(message)

        try:
            result = self.app(scope, traced_receive, traced_send)
            if not inspect.isawaitable(result):
                raise TypeError(
                    f"the app returned {type(result).__name__} instead of an awaitable: an ASGI "
                    "app is 'async def app(scope, receive, send)'"
                )
            await result
        except asyncio.CancelledError:
            # The app's task was stopped from outside (after a timeout): not the app's error.
            self.emit(kind, "cancel", text="the app was cancelled")
            raise
        except BaseException as exc:
            text = f"{type(exc).__name__}: {exc}".rstrip(": ")
            self.emit(kind, "raise", text=text, details=_error_details(exc))
            raise
        else:
            self.emit(kind, "return", text="the app returned")
        finally:
            self.ended.add(kind)
            self.progress.set()

    async def wait_for_receive(self, kind: str, calls: int, within: float) -> None:
        """Wait (bounded) until the app made ``calls`` receive() calls on ``kind`` or ended,
        then give other tasks a few turns."""
        async with asyncio.timeout(within):
            while self.receive_calls.get(kind, 0) < calls and kind not in self.ended:
                self.progress.clear()
                await self.progress.wait()
        for _ in range(SETTLE_TURNS):
            await asyncio.sleep(0)


# ---------------------------------------------------------------- the outcome
@dataclass
class Outcome:
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _failure(recorder: Recorder, kind: str, exc: BaseException, what: str) -> Outcome:
    raised = recorder.raised(kind)
    if raised is not None:  # the app's own error, with its traceback from inside the app
        return Outcome(False, f"the app raised {raised.text} {what}".rstrip(), dict(raised.details))
    return Outcome(False, f"{type(exc).__name__}: {exc} {what}".rstrip())


def _http_figures(recorder: Recorder) -> tuple[int | None, int]:
    status: int | None = None
    body = 0
    for message in recorder.sent("http"):
        if message.get("type") == "http.response.start":
            status = message.get("status")
        body += len(message.get("body") or b"")
    return status, body


async def _drive_http(
    recorder: Recorder, client: AsyncTestClient, options: TraceOptions
) -> Outcome:
    try:
        async with asyncio.timeout(options.timeout) as deadline:
            request = client.build_request(
                options.method, options.url, headers=options.headers, content=options.body or None
            )
            response = await client.send(request, stream=True)
            try:
                async for _ in response.aiter_raw():
                    pass  # the recorder saw every chunk as it was sent
            finally:
                await response.aclose()
    except Exception as exc:
        status, body = _http_figures(recorder)
        sent = f"(status {status} sent, {body} body bytes)" if status else "(no response started)"
        if isinstance(exc, TimeoutError) and deadline.expired():
            return Outcome(
                False,
                f"no complete response within {options.timeout}s {sent}: the app is still "
                "working or waiting; rerun with --timeout SECONDS to wait longer",
            )
        return _failure(recorder, "http", exc, sent)
    status, body = _http_figures(recorder)
    return Outcome(True, f"{status}, {body} body bytes", {"status": status, "body_bytes": body})


async def _frames(lines: Iterable[str]) -> Any:
    iterator = iter(lines)
    while True:
        # A thread, so an app's own tasks keep running while stdin waits for a line.
        line = await asyncio.to_thread(next, iterator, None)
        if line is None:
            return
        yield line


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def _closed_by_app(recorder: Recorder) -> int | None:
    for message in recorder.sent("websocket"):
        if message.get("type") == "websocket.close":
            return int(message.get("code", 1000))
    return None


async def _drive_websocket(
    recorder: Recorder, client: AsyncTestClient, options: TraceOptions
) -> Outcome:
    session = client.websocket_connect(
        options.url, headers=dict(options.headers), timeout=options.timeout
    )
    frames_sent = 0
    try:
        async with session:
            given = 1  # websocket.connect
            await recorder.wait_for_receive("websocket", given + 1, options.timeout)
            async for line in _frames(options.frames):
                if _closed_by_app(recorder) is not None or "websocket" in recorder.ended:
                    recorder.emit("websocket", "note", text="the app closed: no more frames sent")
                    break
                await session.send_text(line)
                frames_sent += 1
                given += 1
                await recorder.wait_for_receive("websocket", given + 1, options.timeout)
    except WebSocketDenied as denied:
        return Outcome(
            True, f"handshake denied with {denied.status_code}", {"status": denied.status_code}
        )
    except Exception as exc:
        if isinstance(exc, TimeoutError) and recorder.raised("websocket") is None:
            return Outcome(
                False,
                f"the app did not answer or read the next message within {options.timeout}s; "
                "rerun with --timeout SECONDS to wait longer",
            )
        return _failure(recorder, "websocket", exc, "")
    received = sum(m.get("type") == "websocket.send" for m in recorder.sent("websocket"))
    code = _closed_by_app(recorder)
    closed = f"closed by the app with {code}" if code is not None else "closed by the client (1000)"
    return Outcome(
        True,
        f"{_count(frames_sent, 'frame')} sent to the app, {received} received from it, {closed}",
        {"frames_sent": frames_sent, "frames_received": received, "close_code": code or 1000},
    )


async def _shutdown(lifespan: LifespanClient) -> str | None:
    """Run the lifespan shutdown; what went wrong, if anything."""
    try:
        await lifespan.shutdown()
    except RuntimeError as exc:  # the app answered lifespan.shutdown.failed
        return f"lifespan shutdown failed: {exc}"
    return None


async def _trace(options: TraceOptions, recorder: Recorder) -> Outcome:
    lifespan = LifespanClient("aaf trace", recorder, startup_timeout=options.timeout)
    client = AsyncTestClient(recorder, base_url=BASE_URL, client=CLIENT_ADDRESS)
    for name in ("accept-encoding", "connection"):
        del client.headers[name]
    client.headers.update(DEFAULT_HEADERS)
    try:
        started = await lifespan.startup(client.app_state)
    except RuntimeError:  # the app answered lifespan.startup.failed; show its own message
        failed = next(
            (m for m in recorder.sent("lifespan") if m.get("type") == "lifespan.startup.failed"),
            {},
        )
        return Outcome(
            False,
            f"lifespan startup failed: {failed.get('message') or '(no message)'}. The app "
            "refused to start: fix its startup (hooks, lifespan context) and trace again",
        )
    if not started:
        recorder.emit("lifespan", "note", text=NO_LIFESPAN)
    drive = _drive_websocket if options.websocket else _drive_http
    try:
        outcome = await drive(recorder, client, options)
    finally:
        await client.aclose()
        shutdown_error = await _shutdown(lifespan) if started else None
    if shutdown_error is not None and outcome.ok:
        return Outcome(False, shutdown_error, outcome.details)
    return outcome


def run_trace(
    app: ASGIApp, options: TraceOptions, out: TextIO | None = None, note: str = ""
) -> int:
    """Trace one exchange with ``app``, printing it to ``out``; 0 when it completed (whatever
    the HTTP status), 1 when the app raised, broke the protocol or did not finish in time."""
    stream = out if out is not None else sys.stdout
    writer = (JsonWriter if options.json else TextWriter)(stream, options.max_shown)

    async def main() -> int:
        recorder = Recorder(app, writer.emit)
        if note:
            recorder.emit("trace", "note", text=note)
        outcome = await _trace(options, recorder)
        duration = round(recorder.now(), 3)
        details: dict[str, Any] = {"outcome": "completed" if outcome.ok else "failed"}
        details.update(outcome.details, duration_ms=duration)
        recorder.emit("trace", "end", text=f"{outcome.summary}, {duration} ms", details=details)
        return 0 if outcome.ok else 1

    return asyncio.run(main())
