"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from aaf._conformance import ASGIProtocolError, HTTPResponseChecker
from tests.support.recording import SentMessages

Message = MutableMapping[str, Any]


async def noop_receive() -> Message:
    return {"type": "http.request", "body": b""}


async def noop_send(message: Message) -> None:
    return None


class ASGIRecorder(SentMessages):
    """Calls an ASGI app directly with a scripted receive() and records what it sends.

    Like a server, once the scripted messages are used up receive() reports a disconnect only
    when the response is complete (or at once with ``client_stays=False``, a client that left).
    Every message sent is checked as strictly as a real server would (aaf._conformance) for a
    request with ``method``; ``method=None`` records a non-HTTP conversation unchecked. The
    first refusal is raised into the app and again by every reader (``sent``, ``status``...).
    """

    def __init__(
        self,
        messages: list[dict[str, Any]] | None = None,
        *,
        client_stays: bool = True,
        method: str | None = "GET",
    ) -> None:
        super().__init__()
        self.incoming = list(messages or [{"type": "http.request", "body": b""}])
        self.received = 0
        self.client_stays = client_stays
        self.checker = HTTPResponseChecker(method) if method is not None else None
        self._complete = asyncio.Event()

    async def receive(self) -> Message:
        self.received += 1
        if self.incoming:
            return self.incoming.pop(0)
        if self.client_stays:
            await self._complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.violation is not None:
            raise RuntimeError(f"send() after a refused message: {self.violation}")
        if self.checker is None:
            self._sent.append(message)
            return
        try:
            self.checker.check_send(message)
        except ASGIProtocolError as exc:
            self.violation = exc
            self._complete.set()  # like a server, the connection is dropped
            raise
        self._sent.append(message)
        if self.checker.finished:
            self._complete.set()


def http_scope(
    path: str = "/",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
    root_path: str = "",
    **extra: Any,
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": root_path,
        "headers": headers if headers is not None else [(b"host", b"testserver")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(extra)
    return scope


async def call(
    app: Callable[..., Awaitable[None]],
    scope: dict[str, Any],
    messages: list[dict[str, Any]] | None = None,
) -> ASGIRecorder:
    method = scope["method"] if scope["type"] == "http" else None
    recorder = ASGIRecorder(messages, method=method)
    await app(scope, recorder.receive, recorder.send)
    if recorder.violation is not None:
        raise recorder.violation  # even if the app caught it
    return recorder


@pytest.fixture
def recorder() -> ASGIRecorder:
    return ASGIRecorder()


@pytest.fixture
async def browser() -> Any:
    """Headless Chromium (tests/support/browser.py), closed after the test."""
    from .support.browser import launched_browser

    async with launched_browser() as launched:
        yield launched
