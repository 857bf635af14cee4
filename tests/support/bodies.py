"""Helpers for request-body tests: multipart builders, a counting receive(), measurements."""

from __future__ import annotations

import asyncio
import gc
import math
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, TypeVar

from aaf import Limits, Router, aaf
from aaf.app import App
from aaf.connection import Connection
from aaf.forms import UploadFile
from tests.support.recording import SentMessages

Message = dict[str, Any]
T = TypeVar("T")
BOUNDARY = "testboundary0123"
DISCONNECT = object()


def part(
    name: str | None,
    value: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    extra: str = "",
) -> bytes:
    """One multipart part (headers + body), without the delimiter around it."""
    disposition = "form-data"
    if name is not None:
        disposition += f'; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + extra + "\r\n").encode() + value


def multipart(parts: Iterable[bytes], boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """Join raw parts into a multipart body (with the closing delimiter unless close=False)."""
    delimiter = f"--{boundary}".encode()
    body = b"".join(delimiter + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (delimiter + b"--\r\n" if close else b"")


def multipart_headers(
    boundary: str = BOUNDARY, length: int | None = None
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"host", b"testserver"),
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
    ]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return headers


def chunked(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def endless(chunk: bytes, cap: int = 400) -> Iterator[bytes]:
    """A body that goes on far past any limit under test.

    It does end after ``cap`` chunks, so that a broken limit makes its test fail at once (the
    app answers normally) rather than hang until the test timeout.
    """
    for _ in range(cap):
        yield chunk


class Feeder(SentMessages):
    """A receive() serving body chunks from an iterator, counting every call.

    Each chunk is sent with ``more_body=True`` except the last one; the ``DISCONNECT`` marker
    in the iterator sends ``http.disconnect``. After the body, receive() reports a disconnect.
    """

    def __init__(self, chunks: Iterable[bytes | object]) -> None:
        self._chunks = iter(chunks)
        self._next: bytes | object | None = next(self._chunks, None)
        super().__init__()
        self.calls = 0

    async def receive(self) -> Message:
        self.calls += 1
        current = self._next
        if current is None or current is DISCONNECT:
            return {"type": "http.disconnect"}
        self._next = next(self._chunks, None)
        assert isinstance(current, bytes)
        return {"type": "http.request", "body": current, "more_body": self._next is not None}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(dict(message))


def scope_for(
    path: str,
    headers: list[tuple[bytes, bytes]],
    method: str = "POST",
    query: bytes = b"",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def post(
    app: App,
    path: str,
    chunks: Iterable[bytes | object],
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "POST",
    query: bytes = b"",
    seconds: float = 30,
) -> Feeder:
    """Send one request through ``app`` with the body given as chunks (bounded wait)."""
    feeder = Feeder(chunks)
    scope = scope_for(path, headers, method, query)
    await asyncio.wait_for(app(scope, feeder.receive, feeder.send), seconds)
    return feeder


def describe_form_value(value: str | UploadFile) -> Any:
    if isinstance(value, str):
        return value
    return {
        "filename": value.filename,
        "content_type": value.content_type,
        "size": value.size,
        "in_memory": value.in_memory,
    }


class FormApp:
    """An app echoing forms, bodies and JSON; remembers the uploads it saw."""

    def __init__(self, limits: Limits | None = None, route_limits: Limits | None = None) -> None:
        self.uploads: list[UploadFile] = []
        self.connections: list[Connection] = []
        router = Router()

        @router.post("/form")
        async def form(conn: Connection) -> Any:
            self.connections.append(conn)
            data = await conn.form()
            self.uploads += data.uploads()
            return {k: [describe_form_value(v) for v in data.getlist(k)] for k in data}

        @router.post("/limited", limits=route_limits)
        async def limited(conn: Connection) -> Any:
            data = await conn.form()
            return {"fields": len(data.multi_items())}

        @router.post("/body")
        async def body(conn: Connection) -> Any:
            return {"size": len(await conn.body())}

        @router.post("/stream")
        async def stream(conn: Connection) -> Any:
            size = 0
            async for chunk in conn.body_iter():
                size += len(chunk)
            return {"size": size}

        @router.post("/json")
        async def json(conn: Connection) -> Any:
            return {"json": await conn.json()}

        self.app = aaf([router], limits=limits)


async def peak_memory(work: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    """Run ``work`` under tracemalloc; returns its result and the peak bytes allocated."""
    gc.collect()
    tracemalloc.start()
    try:
        result = await work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


# A sample shorter than this is mostly noise (timer ticks, cache misses charged to this
# process): tiny work is repeated within a sample until it lasts about this long.
MIN_SAMPLE_SECONDS = 0.002


async def cpu_time(data: T, work: Callable[[T], Awaitable[Any]], repeats: int = 5) -> float:
    """The best CPU time of one ``work(data)`` over ``repeats`` samples, after a warm-up run.

    For comparing two inputs in the same run (never against a fixed number): CPU time of this
    thread, so other processes - and other threads of this one, such as a test client's worker
    threads still finishing - stay out of the measurement. Work that takes
    microseconds runs several times per sample (the warm-up run sets how many), so that each
    sample is long enough to measure and one interruption cannot swing a ratio.
    """
    start = time.thread_time()
    await work(data)
    warm_up = time.thread_time() - start
    loops = max(1, min(10_000, math.ceil(MIN_SAMPLE_SECONDS / max(warm_up, 1e-7))))
    gc.collect()
    times = []
    for _ in range(repeats):
        gc.disable()
        try:
            start = time.thread_time()
            for _ in range(loops):
                await work(data)
            times.append((time.thread_time() - start) / loops)
        finally:
            gc.enable()
    return max(min(times), 1e-9)


async def growth_ratio(
    prepare: Callable[[int], T],
    work: Callable[[T], Awaitable[Any]],
    size: int,
    factor: int = 4,
    repeats: int = 5,
) -> float:
    """CPU time of ``work(prepare(size * factor))`` over ``work(prepare(size))``.

    The input is doubled twice (factor 4): linear work gives about 4, quadratic about 16, so a
    generous bound such as 10 tells them apart without any wall-clock limit. Inputs are built
    before timing; each side is the best of ``repeats`` runs, measured in CPU time of this
    thread so other processes and threads stay out of the measurement.
    """

    small, big = prepare(size), prepare(size * factor)
    return await cpu_time(big, work, repeats) / await cpu_time(small, work, repeats)
