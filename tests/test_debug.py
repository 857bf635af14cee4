"""debug=True error pages; without debug nothing of the exception reaches the client."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest

from aaf import Connection, HTTPError, Router, aaf
from aaf.debug import debug_response, render_html
from aaf.testing import TestClient

SECRET = "db-password-hunter2"
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def failing_app(debug: bool) -> Any:
    router = Router()

    @router.get("/boom")
    async def boom(conn: Connection) -> None:
        conn.put_resp_cookie("half", "done")
        raise ValueError(f"<script>alert(1)</script> {SECRET}")

    @router.get("/chained")
    async def chained(conn: Connection) -> None:
        table: dict[str, int] = {}
        try:
            table["missing"]
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc

    @router.get("/http")
    async def http_error(conn: Connection) -> None:
        raise HTTPError(418, "teapot")

    @router.get("/late")
    async def late(conn: Connection) -> None:
        await conn.send("partial", finish=False)
        raise ValueError(SECRET)

    return aaf([router], debug=debug)


def test_browsers_get_an_escaped_html_page() -> None:
    with TestClient(failing_app(debug=True)) as client:
        response = client.get("/boom", headers=BROWSER)
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers  # headers of the failed answer are dropped
    page = response.text
    assert "<script>alert(1)</script>" not in page
    assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "GET /boom" in page
    assert "in <b>boom</b>" in page
    # The raising line of source, highlighted.
    assert 'class="line current"' in page
    assert "raise ValueError(f&quot;&lt;script&gt;alert(1)&lt;/script&gt; {SECRET}&quot;)" in page
    assert "Traceback (most recent call last)" in page


def test_other_clients_get_a_text_traceback() -> None:
    with TestClient(failing_app(debug=True)) as client:
        response = client.get("/boom", headers={"accept": "application/json"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("Traceback (most recent call last)")
    assert f"ValueError: <script>alert(1)</script> {SECRET}" in response.text


def test_chained_exceptions_are_all_shown() -> None:
    with TestClient(failing_app(debug=True)) as client:
        page = client.get("/chained", headers=BROWSER).text
    assert page.index("KeyError: &#x27;missing&#x27;") < page.index("which led to:")
    assert page.index("which led to:") < page.index("<h2>RuntimeError: lookup failed</h2>")


@pytest.mark.parametrize("headers", [BROWSER, {"accept": "*/*"}, {}])
def test_without_debug_nothing_leaks(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, "aaf.error"),
        TestClient(failing_app(debug=False)) as client,
    ):
        response = client.get("/boom", headers=headers)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert SECRET not in str(response.headers)
    assert "set-cookie" not in response.headers
    assert SECRET in caplog.text  # the log has it, for the developer


def test_http_errors_are_unchanged_by_debug() -> None:
    with TestClient(failing_app(debug=True)) as client:
        response = client.get("/http", headers=BROWSER)
    assert response.status_code == 418
    assert response.json() == {"error": "teapot"}


def test_an_error_after_the_response_started_is_not_rendered() -> None:
    with TestClient(failing_app(debug=True)) as client, client.stream("GET", "/late") as response:
        assert response.status_code == 200
        with pytest.raises(Exception, match="without finishing"):
            response.read()


def test_render_html_without_source_and_with_cycles() -> None:
    namespace: dict[str, Any] = {}
    exec(compile("def f():\n    raise OSError('no source')\n", "<generated>", "exec"), namespace)  # noqa: S102
    try:
        namespace["f"]()
    except OSError as exc:
        error = exc
    page = render_html(error, "POST", "/<x>")
    assert "&lt;generated&gt;, line 2, in <b>f</b></div></div>" in page  # no source lines
    assert "POST /&lt;x&gt;" in page
    # A context that loops back on itself does not loop the renderer.
    first, second = ValueError("a"), ValueError("b")
    first.__context__ = second
    second.__context__ = first
    assert render_html(first, "GET", "/").count("<h2>ValueError") == 2
    suppressed = RuntimeError("outer")
    suppressed.__context__ = ValueError("hidden")
    suppressed.__suppress_context__ = True
    assert "hidden" not in render_html(suppressed, "GET", "/").split("Text traceback")[0]
    assert traceback.format_exception(suppressed)  # the text form works as well


def test_debug_response_is_built_without_a_connection() -> None:
    try:
        raise KeyError(SECRET)
    except KeyError as exc:
        error = exc
    page = debug_response(error, "text/html", "PUT", "/mount/x")
    assert page.status_code == 500
    assert page.media_type == "text/html; charset=utf-8"
    assert b"PUT /mount/x" in page.body
    assert dict(page.headers)["cache-control"] == "no-store"
    assert dict(page.headers)["content-security-policy"].startswith("default-src 'none'")
    for accept in (None, "application/json"):
        text = debug_response(error, accept, "GET", "/")
        assert text.media_type == "text/plain; charset=utf-8"
        assert text.body.startswith(b"Traceback (most recent call last)")
        assert dict(text.headers)["cache-control"] == "no-store"


def test_the_debug_page_names_the_mounted_path() -> None:
    inner = failing_app(debug=True)
    outer = Router()
    outer.mount("/api", inner)
    with TestClient(aaf([outer], debug=True)) as client:
        page = client.get("/api/boom", headers=BROWSER).text
    assert "GET /api/boom" in page


def test_a_frame_without_a_line_number() -> None:
    from aaf.debug import _frame_html

    frame = traceback.FrameSummary("somewhere.py", None, "mystery")
    assert _frame_html(frame) == (
        '<div class="frame"><div class="where">somewhere.py, line None, in <b>mystery</b>'
        "</div></div>"
    )
