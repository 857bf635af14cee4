"""Hostile Range, If-None-Match, If-Range and Accept-Encoding headers against the real parsers:
a clear answer (the whole file, 206, 304 or 416), never a 500, and time linear in their size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aaf import App, Connection, FileResponse, Middleware, Router, aaf
from aaf.middleware.compression import CompressionMiddleware
from aaf.testing import TestClient
from tests.support.bodies import growth_ratio, post

LINEAR = 10
CONTENT = bytes(range(256)) * 40  # 10,240 bytes


def file_app(path: Path) -> App:
    router = Router()

    @router.get("/file")
    async def serve(conn: Connection) -> FileResponse:
        return FileResponse(path)

    return aaf([router], middleware=[Middleware(CompressionMiddleware, minimum_size=1)])


@pytest.fixture
def app(tmp_path: Path) -> App:
    path = tmp_path / "data.txt"
    path.write_bytes(CONTENT)
    return file_app(path)


HOSTILE: dict[str, Callable[[int], list[tuple[bytes, bytes]]]] = {
    "range digits": lambda n: [(b"range", b"bytes=" + b"9" * n + b"-" + b"9" * n)],
    "range list": lambda n: [(b"range", b"bytes=" + b"0-0," * n)],
    "range separators": lambda n: [(b"range", b"bytes=" + b"," * n + b"0-1")],
    "range backslashes": lambda n: [(b"range", b"bytes=" + b"\\" * n)],
    "if-none-match quotes": lambda n: [(b"if-none-match", b'"' * n)],
    "if-none-match tags": lambda n: [(b"if-none-match", b'W/"x", ' * n)],
    "if-range": lambda n: [(b"range", b"bytes=0-1"), (b"if-range", b'"' + b"\\" * n)],
    "accept-encoding": lambda n: [(b"accept-encoding", b"gzip;q=0." + b"0" * n + b"," * n)],
    "accept-encoding params": lambda n: [(b"accept-encoding", b"br;" * n + b"q=1")],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_file_headers_get_a_clear_answer_in_linear_time(app: App, name: str) -> None:
    build = HOSTILE[name]
    feeder = await post(app, "/file", [b""], build(50_000), method="GET")
    assert feeder.status in (200, 206, 304, 416), (name, feeder.status)

    async def work(headers: list[tuple[bytes, bytes]]) -> None:
        result = await post(app, "/file", [b""], headers, method="GET")
        assert result.status < 500

    assert await growth_ratio(build, work, 20_000) < LINEAR, name


def test_overlapping_ranges_never_make_the_answer_bigger_than_the_file(app: App) -> None:
    header = "bytes=" + "0-," * 99 + "0-"
    with TestClient(app) as client:
        response = client.get("/file", headers={"range": header, "accept-encoding": "identity"})
    # The 100 overlapping ranges are merged into one: a single-part 206 of the file, once.
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-{len(CONTENT) - 1}/{len(CONTENT)}"
    assert response.content == CONTENT
