"""The WebSocket handshake denials the app itself produces (an unknown path, an unhandled
error) follow ``App(problem_details=...)`` like HTTP answers do; the default bodies stay."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from aaf import App, Connection, HTTPError, Router, aaf
from aaf.problems import PROBLEM_JSON
from aaf.testing import TestClient, WebSocketDenied

from .support.servers import serve


def make_app(problem_details: bool, *, with_handler_entry: bool = False) -> App:
    router = Router()

    @router.websocket("/broken")
    async def broken(conn: Connection) -> None:
        raise RuntimeError("a bug before accept()")

    @router.websocket("/gone")
    async def gone(conn: Connection) -> None:
        raise HTTPError(410, "the room was closed")

    @router.get("/page")
    async def page(conn: Connection) -> str:
        return "page"

    async def passes(conn: Connection) -> None:
        """A connection handler that answers nothing: the app matches it before its routers."""

    if with_handler_entry:
        return aaf([passes, router], problem_details=problem_details)
    return aaf([router], problem_details=problem_details)


def denial(app: App, path: str) -> WebSocketDenied:
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDenied) as denied,
        client.websocket_connect(path),
    ):
        pass
    return denied.value


@pytest.mark.parametrize("with_handler_entry", [False, True])
def test_unknown_path_is_a_problem_like_the_http_404(with_handler_entry: bool) -> None:
    app = make_app(True, with_handler_entry=with_handler_entry)
    refused = denial(app, "/nowhere")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == PROBLEM_JSON
    problem = json.loads(refused.body)
    assert problem == {"status": 404, "title": "Not Found", "type": "about:blank", "errors": []}
    with TestClient(app) as client:
        http_404 = client.get("/nowhere")
    # One rule for both: the same bytes as the HTTP 404 of the same app.
    assert http_404.headers["content-type"] == PROBLEM_JSON
    assert refused.body == http_404.content


def test_a_websocket_on_an_http_route_is_a_problem_404() -> None:
    refused = denial(make_app(True), "/page")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == PROBLEM_JSON


def test_unhandled_error_is_a_problem_500_without_details() -> None:
    refused = denial(make_app(True), "/broken")
    assert refused.status_code == 500
    assert refused.headers["content-type"] == PROBLEM_JSON
    problem = json.loads(refused.body)
    assert problem == {
        "status": 500,
        "title": "Internal Server Error",
        "type": "about:blank",
        "errors": [],
    }
    assert "a bug" not in refused.text  # APPSEC: nothing of the exception leaks


def test_http_errors_were_problems_already() -> None:
    refused = denial(make_app(True), "/gone")
    assert refused.status_code == 410
    assert json.loads(refused.body)["detail"] == "the room was closed"


@pytest.mark.parametrize("with_handler_entry", [False, True])
def test_default_bodies_are_unchanged(with_handler_entry: bool) -> None:
    app = make_app(False, with_handler_entry=with_handler_entry)
    for path, status, body in [
        ("/nowhere", 404, b"Not Found"),
        ("/page", 404, b"Not Found"),
        ("/broken", 500, b"Internal Server Error"),
    ]:
        refused = denial(app, path)
        assert (refused.status_code, refused.body) == (status, body)
        assert refused.headers["content-type"] == "text/plain; charset=utf-8"
    gone = denial(app, "/gone")
    assert gone.headers["content-type"] == "application/json"
    assert json.loads(gone.body) == {"error": "the room was closed"}


@pytest.fixture(scope="module")
def problem_url() -> Iterator[str]:
    with serve("tests.support.problem_ws_app:app") as url:
        yield url.replace("http://", "ws://")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "status", "title"),
    [("/nowhere", 404, "Not Found"), ("/broken", 500, "Internal Server Error")],
)
async def test_problem_denials_over_uvicorn(
    problem_url: str, path: str, status: int, title: str
) -> None:
    with pytest.raises(InvalidStatus) as denied:
        async with connect(f"{problem_url}{path}", proxy=None):
            pass
    response = denied.value.response
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = json.loads(response.body or b"")
    assert problem["status"] == status
    assert problem["title"] == title
