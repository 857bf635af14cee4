"""examples/raw: hand-written ASGI apps, unchanged, on their own, mounted at a prefix inside an
aaf router, wrapped by middleware through aaf(..., middleware=[...]), and under ``aaf run``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from examples.raw import echo, hello, long_job, mounted, printer, stream
from examples.raw.asgi_types import ASGIApp

from aaf.testing import TestClient

from ..conftest import call, http_scope
from ..support.servers import serve
from . import wrapped_raw

APPS: dict[str, ASGIApp] = {
    "hello": hello.app,
    "echo": echo.app,
    "stream": stream.app,
    "long_job": long_job.app,
    "printer": printer.app,
}
# Where each app lives inside examples.raw.mounted (and so inside wrapped_raw).
PREFIXES = {"hello": "/hello", "echo": "/echo", "stream": "/stream", "long_job": "/job"}
PREFIXES["printer"] = "/printer"


# ------------------------------------------------------------------------ the checks
def check_hello(client: httpx.Client, prefix: str) -> httpx.Response:
    response = client.get(prefix + "/")
    assert (response.status_code, response.text) == (200, "Hello, world")
    assert response.headers["content-length"] == "12"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    return response


def check_echo(client: httpx.Client, prefix: str) -> httpx.Response:
    def pieces() -> Iterator[bytes]:  # chunked: over a socket, several http.request messages
        yield b"first piece,"
        yield b"\x00\xff binary,"
        yield b"last piece"

    response = client.post(prefix + "/", content=pieces(), headers={"content-type": "text/html"})
    assert response.status_code == 200
    assert response.content == b"first piece,\x00\xff binary,last piece"
    assert response.headers["content-type"] == "application/octet-stream"
    empty = client.post(prefix + "/")
    assert (empty.status_code, empty.content) == (200, b"")
    return response


def check_stream(client: httpx.Client, prefix: str) -> httpx.Response:
    with client.stream("GET", prefix + "/") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        lines = list(response.iter_lines())
    assert lines == [f"chunk {i}" for i in range(stream.CHUNKS)]
    return response


def job_status(client: httpx.Client, prefix: str) -> dict[str, int]:
    response = client.get(prefix + "/status")
    assert response.status_code == 200
    status: dict[str, int] = response.json()
    return status


def check_long_job(
    client: httpx.Client, prefix: str, in_process: bool
) -> tuple[httpx.Response, dict[str, int]]:
    # The counters live in the server process; in-process they are also the module's.
    before = job_status(client, prefix)
    with client.stream("GET", prefix + "/") as response:
        assert response.status_code == 200
        assert next(response.iter_lines()) == "step 0"
    # Leaving the block closed the connection mid-response: the job must notice and stop.
    expected = {**before, "cancelled": before["cancelled"] + 1}
    deadline = time.monotonic() + 10
    status = job_status(client, prefix)
    while status != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        status = job_status(client, prefix)
    assert status == expected
    if in_process:
        assert long_job.STATS.cancelled == expected["cancelled"]
    return response, status


def check_printer(client: httpx.Client, prefix: str) -> httpx.Response:
    response = client.post(prefix + "/look?x=1", content=b"12345")
    assert response.status_code == 200
    shown: dict[str, Any] = response.json()
    scope = shown["scope"]
    assert scope["type"] == "http"
    assert scope["method"] == "POST"
    assert scope["path"] == prefix + "/look"  # the full path, per the ASGI spec
    assert scope["root_path"] == prefix
    assert scope["query_string"] == "x=1"
    assert ["content-length", "5"] in scope["headers"]
    assert shown["events"] == [{"type": "http.request", "body_bytes": 5, "more_body": False}]
    return response


def check_all(client: httpx.Client, prefixes: dict[str, str], in_process: bool) -> None:
    check_hello(client, prefixes["hello"])
    check_echo(client, prefixes["echo"])
    check_stream(client, prefixes["stream"])
    check_long_job(client, prefixes["long_job"], in_process)
    check_printer(client, prefixes["printer"])


# ------------------------------------------------------------------------ on their own
@pytest.mark.parametrize("name", list(APPS))
def test_each_app_on_its_own(name: str) -> None:
    with TestClient(APPS[name]) as client:
        check = {
            "hello": check_hello,
            "echo": check_echo,
            "stream": check_stream,
            "printer": check_printer,
        }.get(name)
        if check is None:
            check_long_job(client, "", in_process=True)
        else:
            check(client, "")


def test_echo_refuses_a_body_over_the_limit_counting_received_bytes() -> None:
    too_big = b"x" * (echo.MAX_BODY + 1)
    with TestClient(echo.app) as client:
        response = client.post("/", content=iter([too_big[:1000], too_big[1000:]]))
        assert (response.status_code, response.text) == (413, "request body too large")
        exact = client.post("/", content=too_big[:-1])
        assert (exact.status_code, len(exact.content)) == (200, echo.MAX_BODY)


def test_printer_refuses_a_body_over_the_limit() -> None:
    with TestClient(printer.app) as client:
        response = client.post("/", content=iter([b"x" * printer.MAX_BODY, b"y", b"z"]))
    assert response.status_code == 413
    assert sum(event["body_bytes"] for event in response.json()["events"]) > printer.MAX_BODY


def test_the_printer_prints_lifespan_scope_and_events(capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(printer.app) as client:
        client.get("/hi")
    lines = capsys.readouterr().out.splitlines()
    kinds = [(line.split(": ", 1)[0], json.loads(line.split(": ", 1)[1])) for line in lines]
    assert [kind for kind, _ in kinds] == ["scope", "event", "scope", "event", "event"]
    assert kinds[0][1]["type"] == "lifespan"
    assert kinds[1][1] == {"type": "lifespan.startup"}
    assert (kinds[2][1]["type"], kinds[2][1]["path"]) == ("http", "/hi")
    assert kinds[3][1] == {"type": "http.request", "body_bytes": 0, "more_body": False}
    assert kinds[4][1] == {"type": "lifespan.shutdown"}


@pytest.mark.parametrize("name", ["hello", "echo", "stream", "long_job"])
async def test_http_only_apps_decline_other_scopes(name: str) -> None:
    async def nothing() -> dict[str, Any]:
        raise AssertionError("the app should not read")

    async def discard(message: Any) -> None:
        raise AssertionError("the app should not send")

    with pytest.raises(RuntimeError, match="this app serves HTTP only, not 'lifespan'"):
        await APPS[name]({"type": "lifespan"}, nothing, discard)


async def test_the_printer_declines_websockets() -> None:
    async def nothing() -> dict[str, Any]:
        raise AssertionError("the app should not read")

    async def discard(message: Any) -> None:
        raise AssertionError("the app should not send")

    with pytest.raises(RuntimeError, match="answers http and lifespan, not 'websocket'"):
        await printer.app({"type": "websocket", "path": "/"}, nothing, discard)


@pytest.mark.parametrize("app", [echo.app, printer.app])
async def test_a_client_gone_before_the_body_ends_gets_no_answer(app: ASGIApp) -> None:
    # One body message with more to come, then the recorder answers http.disconnect.
    recorded = await call(
        app,
        http_scope("/", "POST"),
        [{"type": "http.request", "body": b"part", "more_body": True}, {"type": "http.disconnect"}],
    )
    assert recorded.received == 2
    assert recorded.sent == []


# ------------------------------------------------------------------------ inside aaf
def test_mounted_at_prefixes_inside_an_aaf_router() -> None:
    with TestClient(mounted.app) as client:
        assert client.get("/").json() == {"apps": list(PREFIXES.values())}
        check_all(client, PREFIXES, in_process=True)
        # The bare prefix reaches the app too (its route path is then "/").
        assert client.get("/hello").text == "Hello, world"
        assert client.get("/job/status").status_code == 200


def test_wrapped_by_middleware_through_aaf() -> None:
    disconnects = wrapped_raw.TraceMiddleware.disconnects
    with TestClient(wrapped_raw.app) as client:
        for check in (check_hello, check_echo, check_stream, check_printer):
            response = check(client, PREFIXES[check.__name__.removeprefix("check_")])
            assert response.headers["x-wrapped-by"] == "test-middleware"
        response, _ = check_long_job(client, PREFIXES["long_job"], in_process=True)
        assert response.headers["x-wrapped-by"] == "test-middleware"
    # The disconnect that stopped the job went through the middleware's receive().
    assert wrapped_raw.TraceMiddleware.disconnects > disconnects


# ------------------------------------------------------------------------ under aaf run
@pytest.mark.integration
@pytest.mark.parametrize("name", list(APPS))
def test_each_app_under_aaf_run(name: str) -> None:
    with (
        serve(f"examples.raw.{name}:app", server="aaf") as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):
        if name == "long_job":
            check_long_job(client, "", in_process=False)
        elif name == "stream":
            assert check_stream(client, "").headers["transfer-encoding"] == "chunked"
        else:
            {"hello": check_hello, "echo": check_echo, "printer": check_printer}[name](client, "")


@pytest.mark.integration
@pytest.mark.parametrize(
    "target", ["examples.raw.mounted:app", "tests.example_apps.wrapped_raw:app"]
)
def test_mounted_and_wrapped_under_aaf_run(target: str) -> None:
    with (
        serve(target, server="aaf") as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):
        check_all(client, PREFIXES, in_process=False)
        wrapped = client.get("/hello").headers.get("x-wrapped-by")
    assert wrapped == ("test-middleware" if "wrapped" in target else None)
