"""docs/seed.md: the seed article's code, run on aaf.

Every ```python seed:<name>``` block of docs/seed.md is executed here and its responses are
checked, so the page cannot drift from the code. Each line aaf promises to keep working
unchanged has its own test.
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from aaf import Connection, ConnectionType, HttpResponse, Router
from aaf.testing import TestClient

SEED_DOC = Path(__file__).resolve().parents[1] / "docs" / "seed.md"
_BLOCK = re.compile(
    r"^```python seed:(?P<name>[\w-]+)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL
)

#: Every snippet the page must have; a snippet added to the page needs a test here too.
SNIPPETS = {
    "connection",
    "response",
    "router",
    "add-route",
    "app",
    "fallbacks",
    "connection-type",
    "app-decorators",
}


def seed_blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for found in _BLOCK.finditer(SEED_DOC.read_text(encoding="utf-8")):
        name = found["name"]
        if name in blocks:
            raise AssertionError(f"docs/seed.md has two snippets named {name!r}")
        blocks[name] = found["code"]
    return blocks


def run_snippet(name: str) -> dict[str, Any]:
    """Execute one snippet of docs/seed.md, as a module of its own; returns its globals."""
    code = seed_blocks()[name]
    namespace: dict[str, Any] = {"__name__": f"seed_{name.replace('-', '_')}"}
    exec(compile(code, f"docs/seed.md:{name}", "exec"), namespace)  # noqa: S102 - our own doc
    return namespace


@pytest.fixture
def fast_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # The article's count handler sleeps a second per line; only the shape matters here.
    async def no_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(asyncio, "sleep", no_sleep)


def test_the_page_has_every_snippet_and_no_other() -> None:
    assert set(seed_blocks()) == SNIPPETS


# ---------------------------------------------------------------- 1. Connection
def test_query_to_dict_flat_false_gives_every_value() -> None:
    app = run_snippet("connection")["app"]
    response = TestClient(app).get("/?tag=a&tag=b&q=x")
    assert response.status_code == 200
    assert response.json()["every"] == {"tag": ["a", "b"], "q": ["x"]}


def test_query_to_dict_flat_true_gives_the_first_value() -> None:
    app = run_snippet("connection")["app"]
    response = TestClient(app).get("/?tag=a&tag=b&q=x")
    assert response.json()["first"] == {"tag": "a", "q": "x"}


# ---------------------------------------------------------------- 2. HttpResponse
def test_http_response_awaited_with_the_connection() -> None:
    app = run_snippet("response")["app"]
    response = TestClient(app).get("/?name=ada")
    assert (response.status_code, response.text) == (200, "Hello, ada")


def test_http_response_body_connection_status_headers_positional() -> None:
    app = run_snippet("response")["app"]
    response = TestClient(app).get("/positional?name=ada")
    assert (response.status_code, response.text) == (201, "made ada")
    assert response.headers["x-made"] == "ada"


def test_http_response_connection_by_keyword() -> None:
    app = run_snippet("response")["app"]
    response = TestClient(app).get("/keywords?name=ada")
    assert (response.status_code, response.text) == (201, "made ada")
    assert response.headers["x-made"] == "ada"


def test_an_int_second_argument_stays_a_status() -> None:
    assert HttpResponse("x", 201).status_code == 201
    assert HttpResponse("x", HTTPStatus.CREATED).status_code == 201


@pytest.mark.parametrize(
    "second", ["201", 201.0, b"201", object()], ids=["str", "float", "bytes", "object"]
)
def test_any_other_second_argument_is_a_type_error_at_construction(second: object) -> None:
    with pytest.raises(TypeError):
        HttpResponse("x", second)  # type: ignore[call-overload]


# ---------------------------------------------------------------- 3. Router
def test_await_router_inside_a_plain_asgi_app() -> None:
    app = run_snippet("router")["app"]
    response = TestClient(app).get("/hello/ada")
    assert (response.status_code, response.text) == (200, "Hello, ada")


def test_a_router_that_matches_nothing_leaves_the_connection_unfinished() -> None:
    app = run_snippet("router")["app"]
    response = TestClient(app).get("/nothing/here")
    assert (response.status_code, response.text) == (404, "Not found")


def test_add_route_in_the_article_order() -> None:
    snippet = run_snippet("add-route")
    with TestClient(snippet["app"]) as client:
        assert client.get("/about").text == "About us"
        assert client.post("/about").status_code == 405  # methods=["GET"] was the 4th argument
    assert snippet["router"].url_for("about-page") == "/about"  # the name was the 3rd


def test_add_route_by_keyword() -> None:
    router = Router()

    async def about(connection: Connection) -> HttpResponse:
        return HttpResponse("About us")

    route = router.add_route("/about", about, name="about-page", methods=["POST"])
    assert (route.name, sorted(route.methods)) == ("about-page", ["POST"])


# ---------------------------------------------------------------- 4. the app
def test_the_article_app_says_hello() -> None:
    with TestClient(run_snippet("app")["app"]) as client:
        assert client.get("/").text == "Hello, world"
        assert client.get("/hello/ada").text == "Hello, ada"
        assert client.get("/missing").status_code == 404


@pytest.mark.usefixtures("fast_sleep")
def test_the_article_app_counts_and_echoes() -> None:
    with TestClient(run_snippet("app")["app"]) as client:
        with client.stream("GET", "/count/3") as response:
            assert list(response.iter_lines()) == ["count 0", "count 1", "count 2"]
        assert len(client.get("/count").text.splitlines()) == 10  # the default number
        assert client.post("/echo", content=b"\x00raw\xff").content == b"\x00raw\xff"


def test_aaf_takes_async_callables_tried_in_order() -> None:
    with TestClient(run_snippet("fallbacks")["app"]) as client:
        down = client.get("/admin/users")
        assert (down.status_code, down.text) == (503, "down for maintenance")
        assert client.get("/hello/ada").text == "Hello, ada"  # maintenance passed it on


def test_a_legacy_asgi_app_is_the_last_fallback() -> None:
    with TestClient(run_snippet("fallbacks")["app"]) as client:
        response = client.get("/old/page")
    assert (response.status_code, response.text) == (200, "served by the old app")


# ---------------------------------------------------------------- 5. ConnectionType
def test_connection_type_websocket_is_the_websocket_member() -> None:
    # mypy does not model enum aliases (it sees two distinct members), hence the ignore.
    assert ConnectionType.WebSocket is ConnectionType.WEBSOCKET  # type: ignore[comparison-overlap]
    assert ConnectionType("websocket") is ConnectionType.WebSocket


def test_connection_type_websocket_tells_the_connections_apart() -> None:
    with TestClient(run_snippet("connection-type")["app"]) as client:
        assert client.get("/").text == "hello, http"
        with client.websocket_connect("/") as ws:
            assert ws.receive_text() == "hello, socket"


# ---------------------------------------------------------------- 6. app decorators
def test_app_get_with_a_handler_that_takes_no_connection() -> None:
    with TestClient(run_snippet("app-decorators")["app"]) as client:
        assert client.get("/notes").json() == {"notes": ["buy milk"]}


def test_app_post_put_patch_delete() -> None:
    with TestClient(run_snippet("app-decorators")["app"]) as client:
        added = client.post("/notes", json={"text": "call mum"})
        assert (added.status_code, added.text) == (201, "added")
        replaced = client.put("/notes/0", json={"text": "buy bread"})
        assert replaced.json() == {"notes": ["buy bread", "call mum"]}
        assert client.patch("/notes/1").json() == {"notes": ["buy bread", "CALL MUM"]}
        assert client.delete("/notes/0").status_code == 204
        assert client.get("/notes").json() == {"notes": ["CALL MUM"]}


def test_app_route_and_websocket() -> None:
    with TestClient(run_snippet("app-decorators")["app"]) as client:
        assert client.get("/health").text == "ok"
        assert client.post("/health").text == "ok"
        with client.websocket_connect("/notes/live") as ws:
            assert ws.receive_text() == "1 notes"
