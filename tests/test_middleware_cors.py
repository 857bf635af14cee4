"""CORSMiddleware: preflights answered here, headers on actual responses, Vary, credentials."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Connection, HttpResponse, Middleware, Router, aaf
from aaf.middleware.cors import CORSMiddleware
from aaf.testing import TestClient
from tests.conftest import call

APP_ORIGIN = "https://app.example"


def cors_app(**options: Any) -> tuple[Any, list[str]]:
    calls: list[str] = []
    router = Router()

    @router.route("/data", methods=["GET", "PUT"])
    async def data(conn: Connection) -> HttpResponse:
        calls.append(conn.method)
        return HttpResponse("data", headers={"vary": "Accept-Language", "x-total": "3"})

    @router.get("/varies")
    async def varies(conn: Connection) -> HttpResponse:
        return HttpResponse("v", headers={"vary": "origin, Accept"})

    return aaf([router], middleware=[Middleware(CORSMiddleware, **options)]), calls


def preflight(client: TestClient, origin: str, method: str, headers: str | None = None) -> Any:
    request = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        request["access-control-request-headers"] = headers
    return client.options("/data", headers=request)


def test_allowed_origin_gets_cors_headers_and_vary() -> None:
    app, calls = cors_app(
        allow_origins=[APP_ORIGIN], allow_credentials=True, expose_headers=["X-Total"]
    )
    with TestClient(app) as client:
        response = client.get("/data", headers={"origin": APP_ORIGIN})
    assert response.text == "data"
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "X-Total"
    assert response.headers["vary"] == "Accept-Language, Origin"
    assert calls == ["GET"]


def test_an_existing_vary_origin_is_not_repeated() -> None:
    app, _ = cors_app(allow_origins=[APP_ORIGIN])
    with TestClient(app) as client:
        response = client.get("/varies", headers={"origin": APP_ORIGIN})
    assert response.headers.get_list("vary") == ["origin, Accept"]


def test_other_origins_and_no_origin_get_vary_only() -> None:
    app, calls = cors_app(allow_origins=[APP_ORIGIN])
    with TestClient(app) as client:
        other = client.get("/data", headers={"origin": "https://evil.example"})
        none = client.get("/data")
    for response in (other, none):
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
        # The answer depends on Origin: a cache must not reuse it for another origin.
        assert response.headers["vary"] == "Accept-Language, Origin"
    assert calls == ["GET", "GET"]


def test_preflight_is_answered_without_the_handler() -> None:
    app, calls = cors_app(
        allow_origins=[APP_ORIGIN],
        allow_methods=["GET", "PUT"],
        allow_headers=["X-Token"],
        allow_credentials=True,
        max_age=321,
    )
    with TestClient(app) as client:
        response = preflight(client, APP_ORIGIN, "PUT", "x-token, Content-Type")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, PUT"
    assert response.headers["access-control-allow-headers"] == "x-token, content-type"
    assert response.headers["access-control-max-age"] == "321"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"
    assert calls == []


@pytest.mark.parametrize(
    ("origin", "method", "headers", "error"),
    [
        ("https://evil.example", "GET", None, "Disallowed CORS origin"),
        (APP_ORIGIN, "DELETE", None, "Disallowed CORS method"),
        (APP_ORIGIN, "GE T", None, "Disallowed CORS method"),
        (APP_ORIGIN, "GET", "x-other", "Disallowed CORS headers"),
        (APP_ORIGIN, "GET", "content-type, x-other", "Disallowed CORS headers"),
    ],
)
def test_refused_preflights(origin: str, method: str, headers: str | None, error: str) -> None:
    app, calls = cors_app(allow_origins=[APP_ORIGIN], allow_methods=["GET"])
    with TestClient(app) as client:
        response = preflight(client, origin, method, headers)
    assert response.status_code == 400
    assert response.text == error
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"
    assert calls == []


def test_safelisted_headers_need_no_configuration() -> None:
    app, _ = cors_app(allow_origins=[APP_ORIGIN])
    with TestClient(app) as client:
        response = preflight(client, APP_ORIGIN, "POST", "Accept, Content-Type, Content-Language")
    assert response.status_code == 204


def test_any_origin_without_credentials() -> None:
    app, calls = cors_app(allow_origins=["*"], expose_headers=["X-Total"])
    with TestClient(app) as client:
        with_origin = client.get("/data", headers={"origin": "https://anyone.example"})
        without = client.get("/data")
        pre = preflight(client, "https://anyone.example", "GET")
    for response in (with_origin, without):
        # One answer for everybody: "*" on every response, nothing varies on Origin.
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-expose-headers"] == "X-Total"
        assert response.headers["vary"] == "Accept-Language"
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "vary" not in pre.headers
    assert calls == ["GET", "GET"]


def test_credentials_with_any_origin_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        cors_app(allow_origins=["*"], allow_credentials=True)


@pytest.mark.parametrize(
    "regex",
    [
        r".*",
        r"https?://.*",
        r"https://.+",
        r"https://[^/]+",
        r"null|https://app\.example",
        r"[a-z:/.]+",
    ],
)
def test_credentials_with_a_regex_matching_any_site_is_refused_at_startup(regex: str) -> None:
    # APPSEC: a regex that lets in an origin nobody owns lets in every site, like "*".
    with pytest.raises(ValueError, match="matches origins of any site"):
        cors_app(allow_origin_regex=regex, allow_credentials=True)
    cors_app(allow_origin_regex=regex)  # without credentials: the site's choice


def test_credentials_with_a_narrow_regex_are_fine() -> None:
    app, _ = cors_app(
        allow_origin_regex=r"https://([a-z0-9-]+\.)?example\.com(:[0-9]+)?", allow_credentials=True
    )
    with TestClient(app) as client:
        ok = client.get("/data", headers={"origin": "https://shop.example.com:8443"})
    assert ok.headers["access-control-allow-origin"] == "https://shop.example.com:8443"
    assert ok.headers["access-control-allow-credentials"] == "true"


def test_origin_regex_matches_whole_origins_only() -> None:
    app, _ = cors_app(allow_origin_regex=r"https://[a-z0-9-]+\.example\.com")
    with TestClient(app) as client:
        ok = client.get("/data", headers={"origin": "https://shop.example.com"})
        evil = client.get("/data", headers={"origin": "https://shop.example.com.evil.net"})
    assert ok.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "access-control-allow-origin" not in evil.headers


def test_configured_origins_compare_without_case_or_trailing_slash() -> None:
    app, _ = cors_app(allow_origins=["HTTPS://App.Example/"])
    with TestClient(app) as client:
        response = client.get("/data", headers={"origin": APP_ORIGIN})
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


def test_wildcard_methods_and_headers_echo_what_was_asked() -> None:
    app, _ = cors_app(
        allow_origins=[APP_ORIGIN], allow_methods=["*"], allow_headers=["*"], max_age=5
    )
    with TestClient(app) as client:
        response = preflight(client, APP_ORIGIN, "PATCH", "X-Anything, x-more")
        bad_name = preflight(client, APP_ORIGIN, "PATCH", "bad header")
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "PATCH"
    assert response.headers["access-control-allow-headers"] == "x-anything, x-more"
    assert bad_name.status_code == 400


def test_options_without_request_method_is_an_ordinary_request() -> None:
    app, _ = cors_app(allow_origins=[APP_ORIGIN])
    with TestClient(app) as client:
        response = client.options("/data", headers={"origin": APP_ORIGIN})
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PUT"  # the app's own answer
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid method or header name"):
        cors_app(allow_origins=[APP_ORIGIN], allow_headers=["bad header"])


async def test_websockets_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = CORSMiddleware(inner, allow_origins=[APP_ORIGIN])
    await call(middleware, {"type": "websocket", "headers": [(b"origin", b"https://x")]})
    await call(middleware, {"type": "lifespan"})
    assert seen == ["websocket", "lifespan"]
