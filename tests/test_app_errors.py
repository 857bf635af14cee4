"""App errors: HTTPError, unhandled exceptions, exception handlers, failing mounted apps."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import Connection, HTTPError, HttpResponse, Router, aaf
from aaf.testing import TestClient
from tests.support.one_route import single

from .conftest import call, http_scope


# ---------------------------------------------------------------------------- errors
def test_http_error_gives_json_with_headers() -> None:
    async def handler(conn: Connection) -> None:
        conn.put_resp_header("x-dropped", "1")
        raise HTTPError(409, "already exists", headers={"x-reason": "dup"})

    response = single(handler).get("/")
    assert response.status_code == 409
    assert response.json() == {"error": "already exists"}
    assert response.headers["x-reason"] == "dup"
    assert "x-dropped" not in response.headers


def test_http_error_defaults_and_validation() -> None:
    error = HTTPError(404)
    assert error.detail == "Not Found"
    assert str(error) == "404: Not Found"
    with pytest.raises(ValueError, match="4xx/5xx"):
        HTTPError(200)


def test_unhandled_exception_is_a_plain_500_logged_without_traceback_to_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(conn: Connection) -> None:
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.ERROR, logger="aaf.error"):
        response = single(handler).get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert "secret" not in response.text
    assert "unhandled error in GET '/' (handler)" in caplog.text
    assert "secret detail" in caplog.text  # the log has the traceback


def test_debug_shows_the_traceback() -> None:
    async def handler(conn: Connection) -> None:
        raise RuntimeError("visible in debug")

    router = Router()
    router.add_route("/", handler)
    response = TestClient(aaf([router], debug=True)).get("/")
    assert response.status_code == 500
    assert "RuntimeError: visible in debug" in response.text


def test_error_after_the_response_started_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import httpx

    async def handler(conn: Connection) -> None:
        await conn.send("partial")
        raise RuntimeError("mid-stream")

    with pytest.raises(httpx.RemoteProtocolError):
        single(handler).get("/")
    assert "mid-stream" in caplog.text


def test_http_error_after_start_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(conn: Connection) -> None:
        await conn.send("ok", finish=True)
        raise HTTPError(400)

    assert single(handler).get("/").text == "ok"
    assert "raised after the response started" in caplog.text


def test_exception_handlers_by_class_and_status() -> None:
    class TeapotError(Exception):
        pass

    class SubTeapot(TeapotError):
        pass

    async def on_teapot(conn: Connection, exc: TeapotError) -> Any:
        conn.resp_status_code = 418
        return {"teapot": type(exc).__name__}

    def on_404(conn: Connection, exc: HTTPError) -> Any:
        return HttpResponse(f"custom {exc.status_code}", 404)

    async def broken(conn: Connection, exc: HTTPError) -> Any:
        raise ValueError("handler bug")

    router = Router()

    @router.route("/tea")
    async def tea(conn: Connection) -> None:
        raise SubTeapot

    @router.route("/conflict")
    async def conflict(conn: Connection) -> None:
        raise HTTPError(409)

    app = aaf([router], exception_handlers={TeapotError: on_teapot, 404: on_404, 409: broken})
    client = TestClient(app)
    response = client.get("/tea")
    assert (response.status_code, response.json()) == (418, {"teapot": "SubTeapot"})
    assert client.get("/missing").text == "custom 404"
    assert client.get("/conflict").status_code == 500


def test_exception_handler_keys_are_validated() -> None:
    with pytest.raises(ValueError, match="400..599"):
        aaf([], exception_handlers={200: lambda c, e: None})
    with pytest.raises(TypeError, match="status codes or exception classes"):
        aaf([], exception_handlers={"x": lambda c, e: None})


def test_error_in_a_mounted_app_before_it_answers_is_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("mounted bug")

    router = Router()
    router.mount("/m", broken)
    response = TestClient(aaf([router])).get("/m/x")
    assert response.status_code == 500
    assert "mounted bug" in caplog.text


async def test_error_in_a_mounted_app_after_it_answered_sends_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def finished_then_broken(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"complete"})
        raise RuntimeError("after the answer")

    async def started_then_broken(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("mid-answer")

    router = Router()
    router.mount("/done", finished_then_broken)
    router.mount("/mid", started_then_broken)
    app = aaf([router])
    for path, body in (("/done", b"complete"), ("/mid", b"part")):
        rec = await call(app, http_scope(path))
        assert [m["type"] for m in rec.sent].count("http.response.start") == 1, path
        assert rec.body == body
    assert "after the answer" in caplog.text
    assert "mid-answer" in caplog.text


def test_exception_handler_answers_afresh_and_none_means_204() -> None:
    async def on_value_error(conn: Connection, exc: ValueError) -> Any:
        return {"error": str(exc)}

    def on_404(conn: Connection, exc: HTTPError) -> None:
        return None

    router = Router()

    @router.route("/fails")
    async def fails(conn: Connection) -> None:
        conn.resp_status_code = 201
        conn.put_resp_header("location", "/created")
        conn.put_resp_cookie("half", "done")
        raise ValueError("nope")

    client = TestClient(aaf([router], exception_handlers={ValueError: on_value_error, 404: on_404}))
    response = client.get("/fails")
    assert response.status_code == 500
    assert response.json() == {"error": "nope"}
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    missing = client.get("/missing")
    assert (missing.status_code, missing.content) == (404, b"")
