"""CSRFMiddleware: the classic bypasses are refused, the normal paths work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware._csrf_request import parse_origin
from aaf.middleware.csrf import CSRF_HEADER, CSRFMiddleware, csrf_token
from aaf.middleware.sessions import SessionMiddleware
from aaf.testing import TestClient, WebSocketDenied
from tests.support.csrf_app import KEY, csrf_app
from tests.support.servers import serve

SAME = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}


def token_of(client: TestClient) -> str:
    response = client.get("/form")
    assert response.status_code == 200
    token: str = response.json()["token"]
    return token


def handled(app: Any) -> list[str]:
    result: list[str] = app.state["handled"]
    return result


# -- happy paths ------------------------------------------------------------------------------
def test_get_head_and_options_are_never_checked() -> None:
    app = csrf_app()
    hostile = {"origin": "null", "sec-fetch-site": "cross-site"}
    with TestClient(app) as client:
        assert client.get("/plain", headers=hostile).status_code == 200
        assert client.head("/plain", headers=hostile).status_code == 200


def test_same_origin_fetch_with_the_header_token() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post("/json", content=b"{}", headers={**SAME, CSRF_HEADER: token})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "body": "{}"}  # the body reached the app intact


def test_form_post_with_the_field_token_still_gives_the_app_its_form() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post("/submit", data={"csrf_token": token, "name": "a b&c"})
    assert response.status_code == 200
    assert response.json()["form"] == {"csrf_token": token, "name": "a b&c"}


def test_multipart_form_with_the_field_token_and_a_file() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post(
            "/submit",
            data={"csrf_token": token, "title": "x"},
            files={"upload": ("a.txt", b"file body", "text/plain")},
            headers=SAME,
        )
    assert response.status_code == 200
    form = response.json()["form"]
    assert form["title"] == "x"
    assert form["csrf_token"] == token
    assert set(form) == {"csrf_token", "title", "upload"}  # the file part reached the app


def test_a_file_part_named_like_the_field_is_not_a_token() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post(
            "/submit", files={"csrf_token": ("t.txt", token.encode(), "text/plain")}
        )
    assert response.status_code == 403


def test_a_body_longer_than_the_read_ahead_is_replayed_whole() -> None:
    app = csrf_app(max_body_read=128)
    with TestClient(app) as client:
        token = token_of(client)
        big = "x" * 5000
        ok = client.post(
            "/submit",
            content=f"csrf_token={token}&big={big}".encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        late = client.post("/submit", data={"big": big, "csrf_token": token})
    assert ok.status_code == 200
    assert ok.json()["form"]["big"] == big
    assert late.status_code == 403
    assert b"first in large forms" in late.content


def test_exempt_paths_exact_and_prefix() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        assert client.post("/webhooks/in").status_code == 200
        assert client.post("/hook").status_code == 200
        # "/hook" is exact: a longer path is checked.
        assert client.post("/hook/more").status_code == 403
    assert handled(app) == ["/webhooks/in", "/hook"]


def test_bearer_only_requests_are_skipped_but_not_with_cookies() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        bearer = {"authorization": "Bearer abc"}
        assert client.post("/json", headers=bearer).status_code == 200
        token_of(client)  # now the client has cookies
        assert client.post("/json", headers=bearer).status_code == 403
    with TestClient(csrf_app(skip_bearer=False)) as client:
        assert client.post("/json", headers={"authorization": "Bearer abc"}).status_code == 403


def test_trust_fetch_metadata_lets_proven_same_origin_through_without_token() -> None:
    app = csrf_app(trust_fetch_metadata=True)
    with TestClient(app) as client:
        assert client.post("/json", headers=SAME).status_code == 200
        assert client.post("/json").status_code == 403  # no header: the token is needed


def test_trusted_origin_is_allowed() -> None:
    app = csrf_app(trusted_origins=["https://admin.testserver"])
    with TestClient(app) as client:
        token = token_of(client)
        headers = {
            "origin": "https://admin.testserver",
            "sec-fetch-site": "same-site",
            CSRF_HEADER: token,
        }
        assert client.post("/json", headers=headers).status_code == 200


# -- the classic bypasses ---------------------------------------------------------------------
def refused(response: httpx.Response, words: bytes) -> None:
    assert response.status_code == 403, response.text
    assert response.content.startswith(b"CSRF check failed: ")
    assert words in response.content


def test_missing_token_is_refused_before_the_handler() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token_of(client)
        refused(client.post("/json", headers=SAME), b"no token was sent")
        refused(client.post("/submit", data={"name": "x"}), b"no token was sent")
    assert handled(app) == []


def test_token_from_another_session_is_refused() -> None:
    app = csrf_app()
    with TestClient(app) as attacker, TestClient(app) as victim:
        stolen = token_of(attacker)
        token_of(victim)
        refused(victim.post("/json", headers={CSRF_HEADER: stolen}), b"not valid for this")
    assert handled(app) == []


def test_forged_and_malformed_tokens_are_refused() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        salt, _, mac = token.partition(".")
        flipped = mac[:-1] + ("B" if mac.endswith("A") else "A")
        for bad in (f"{salt}.{flipped}", mac, "\u00e9" * 10, "x" * 500, f"{salt}.", f".{mac}"):
            headers = {CSRF_HEADER.encode(): bad.encode("latin-1")}
            refused(client.post("/json", headers=headers), b"not valid")


def test_token_only_in_the_query_string_is_refused() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        refused(client.post("/json", params={"csrf_token": token}), b"no token was sent")
        refused(
            client.post("/submit", params={"csrf_token": token}, data={"a": "b"}),
            b"no token was sent",
        )


def test_method_override_does_not_make_a_post_safe() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token_of(client)
        override = {"x-http-method-override": "GET", "x-method-override": "GET"}
        refused(client.post("/json", headers=override), b"no token")
        refused(client.post("/submit", data={"_method": "GET"}), b"no token")
        refused(client.post("/submit", params={"_method": "GET"}), b"no token")
    assert handled(app) == []


def test_origin_null_is_refused_even_with_a_valid_token() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post("/json", headers={"origin": "null", CSRF_HEADER: token})
        refused(response, b"Origin: null")
        assert token.encode() not in response.content  # the expected token never leaks


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.testserver",  # a subdomain is another origin
        "http://testserver.evil.example",
        "https://testserver",  # another scheme
        "http://testserver:8080",  # another port
        "http://attacker.example",
        "not an origin",
    ],
)
def test_other_origins_are_refused_even_with_a_valid_token(origin: str) -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post("/json", headers={"origin": origin, CSRF_HEADER: token})
        refused(response, b"Origin header is another site")


def test_the_same_origin_with_an_explicit_default_port_is_accepted() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post(
            "/json", headers={"origin": "http://testserver:80", CSRF_HEADER: token}
        )
    assert response.status_code == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site", "none"])
def test_sec_fetch_site_other_than_same_origin_is_refused(site: str) -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token = token_of(client)
        response = client.post("/json", headers={"sec-fetch-site": site, CSRF_HEADER: token})
        refused(response, f"Sec-Fetch-Site is '{site}'".encode())


def test_a_token_from_before_login_fails_after_login_and_after_logout() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        anonymous = token_of(client)
        login = client.post("/login", headers={CSRF_HEADER: anonymous})
        assert login.status_code == 200
        refused(client.post("/json", headers={CSRF_HEADER: anonymous}), b"not valid")
        # The token the login handler made after changing the user is a new-seed one.
        after_login = {CSRF_HEADER: login.json()["token"]}
        assert client.post("/json", headers=after_login).status_code == 200
        logged_in = token_of(client)
        assert client.post("/json", headers={CSRF_HEADER: logged_in}).status_code == 200
        assert client.post("/logout", headers={CSRF_HEADER: logged_in}).status_code == 200
        refused(client.post("/json", headers={CSRF_HEADER: logged_in}), b"not valid")
        # Logging in again as the same user does not revive the old token.
        fresh = token_of(client)
        assert client.post("/login", headers={CSRF_HEADER: fresh}).status_code == 200
        refused(client.post("/json", headers={CSRF_HEADER: logged_in}), b"not valid")


def test_a_user_change_without_clearing_the_session_replaces_the_seed() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        token_of(client)
        assert client.post("/as/alice", headers={CSRF_HEADER: token_of(client)}).status_code == 200
        alice = token_of(client)
        assert client.post("/as/bob", headers={CSRF_HEADER: alice}).status_code == 200
        refused(client.post("/json", headers={CSRF_HEADER: alice}), b"not valid")
        assert client.post("/as/alice", headers={CSRF_HEADER: token_of(client)}).status_code == 200
        # Back to the same user: the old token stays dead (the seed was replaced).
        refused(client.post("/json", headers={CSRF_HEADER: alice}), b"not valid")


def test_the_cookie_follows_the_rotation_at_login() -> None:
    app = csrf_app()
    with TestClient(app) as client:
        anonymous = token_of(client)
        assert client.cookies["csrftoken"]
        client.post("/login", headers={CSRF_HEADER: anonymous})
        from_cookie = client.cookies["csrftoken"]
        assert client.post("/json", headers={CSRF_HEADER: from_cookie}).status_code == 200


# -- the cookie -------------------------------------------------------------------------------
def test_the_cookie_is_readable_by_scripts_lax_and_secure_on_https() -> None:
    with TestClient(csrf_app()) as client:
        cookies = client.get("/form").headers.get_list("set-cookie")
    # Two cookies: the session's (HttpOnly), then ours.
    [ours] = [c for c in cookies if c.startswith("csrftoken=")]
    assert "HttpOnly" not in ours
    assert "SameSite=Lax" in ours
    assert "Secure" not in ours
    with TestClient(csrf_app(), base_url="https://testserver") as client:
        cookies = client.get("/form").headers.get_list("set-cookie")
    assert any(c.startswith("csrftoken=") and "Secure" in c for c in cookies)


def test_no_cookie_and_no_session_for_pages_without_a_token() -> None:
    with TestClient(csrf_app()) as client:
        assert "set-cookie" not in client.get("/plain").headers


def test_without_sessions_the_token_must_match_the_cookie() -> None:
    app = csrf_app(sessions=False)
    with TestClient(app) as client, TestClient(app) as other:
        token = token_of(client)
        assert token == client.cookies["csrftoken"] == token_of(client)
        assert client.post("/json", headers={CSRF_HEADER: token}).status_code == 200
        # A genuine token of another browser does not match this browser's cookie.
        refused(client.post("/json", headers={CSRF_HEADER: token_of(other)}), b"does not match")
        # A cookie not minted by the server is no cookie.
        client.cookies.clear()
        client.cookies.set("csrftoken", "a.b")
        refused(client.post("/json", headers={CSRF_HEADER: "a.b"}), b"no valid csrftoken")


def test_sessions_inside_the_csrf_middleware_fall_back_to_the_cookie() -> None:
    router = Router()

    @router.get("/form")
    async def form(conn: Connection) -> dict[str, str]:
        return {"token": csrf_token(conn)}

    @router.post("/json")
    async def post(conn: Connection) -> dict[str, str]:
        return {}

    wrong_order: list[Middleware[Any]] = [
        Middleware(CSRFMiddleware, secret_key=KEY),
        Middleware(SessionMiddleware, secret_key=KEY),
    ]
    with (
        TestClient(aaf([router], middleware=wrong_order)) as client,
        TestClient(aaf([router], middleware=wrong_order)) as other,
    ):
        token = token_of(client)
        assert token == client.cookies["csrftoken"]
        assert client.post("/json", headers={CSRF_HEADER: token}).status_code == 200
        refused(client.post("/json", headers={CSRF_HEADER: token_of(other)}), b"does not match")


def test_rotate_csrf_token_without_sessions() -> None:
    app = csrf_app(sessions=False)
    with TestClient(app) as client:
        old = token_of(client)
        assert client.post("/rotate", headers={CSRF_HEADER: old}).status_code == 200
        new = client.cookies["csrftoken"]
        assert new != old
        refused(client.post("/json", headers={CSRF_HEADER: old}), b"does not match")
        assert client.post("/json", headers={CSRF_HEADER: new}).status_code == 200


# -- WebSocket --------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://sub.testserver"])
def test_cross_origin_websocket_handshake_is_refused(origin: str) -> None:
    with (
        TestClient(csrf_app()) as client,
        pytest.raises(WebSocketDenied) as denied,
        client.websocket_connect("/ws", headers={"origin": origin}),
    ):
        pass
    assert denied.value.status_code == 403


@pytest.mark.parametrize("headers", [{"origin": "http://testserver"}, {}])
def test_same_origin_websocket_handshake_is_accepted(headers: dict[str, str]) -> None:
    with TestClient(csrf_app()) as client, client.websocket_connect("/ws", headers=headers) as ws:
        assert ws.receive_text() == "hello"


# -- set-up errors, helpers -------------------------------------------------------------------
def test_setup_errors_say_the_fix() -> None:
    with pytest.raises(ValueError, match="token_urlsafe"):
        CSRFMiddleware(csrf_app(), secret_key="short")
    with pytest.raises(ValueError, match="scheme://host"):
        CSRFMiddleware(csrf_app(), secret_key=KEY, trusted_origins=["admin.example.com"])
    with pytest.raises(ValueError, match="scheme://host"):
        CSRFMiddleware(csrf_app(), secret_key=KEY, trusted_origins=["null"])


def test_csrf_token_without_the_middleware_says_how_to_add_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    @router.get("/")
    async def index(conn: Connection) -> str:
        return csrf_token(conn)

    with TestClient(aaf([router])) as client:
        assert client.get("/").status_code == 500
    assert "needs CSRFMiddleware: add Middleware(CSRFMiddleware" in caplog.text


def test_parse_origin() -> None:
    assert parse_origin("https://Example.COM") == ("https", "example.com", 443)
    assert parse_origin("http://[::1]:8000") == ("http", "[::1]", 8000)
    for bad in ("null", "ftp://x", "https://", "https://a/b", "https://u@a", "https://a:x"):
        assert parse_origin(bad) is None


def test_old_keys_still_verify_after_rotation() -> None:
    old_app = csrf_app(secret_key="old-secret-" + "o" * 16)
    with TestClient(old_app) as client:
        token = token_of(client)
        session = client.cookies["session"]
    new_app = csrf_app(secret_key=["new-secret-" + "n" * 16, "old-secret-" + "o" * 16])
    with TestClient(new_app, cookies={"session": session}) as client:
        assert client.post("/json", headers={CSRF_HEADER: token}).status_code == 200


def test_templates_render_the_token(tmp_path: Path) -> None:
    from aaf.templating import Templates

    (tmp_path / "form.html").write_text('<input name="csrf_token" value="{{ csrf_token }}">')
    (tmp_path / "plain.html").write_text("plain")
    templates = Templates(tmp_path)
    router = Router()

    @router.get("/form")
    async def form(conn: Connection) -> Any:
        return templates.response(conn, "form.html")

    @router.get("/plain")
    async def plain(conn: Connection) -> Any:
        return templates.response(conn, "plain.html")

    @router.post("/submit")
    async def submit(conn: Connection) -> dict[str, Any]:
        return {"ok": True}

    app = aaf([router], middleware=[Middleware(CSRFMiddleware, secret_key=KEY)])
    with TestClient(app) as client:
        assert "set-cookie" not in client.get("/plain").headers  # unused: no token made
        page = client.get("/form").text
        token = page.split('value="')[1].split('"')[0]
        assert client.post("/submit", data={"csrf_token": token}).status_code == 200


# -- a real server ----------------------------------------------------------------------------
@pytest.mark.integration
def test_form_post_with_the_token_over_uvicorn() -> None:
    with serve("tests.support.csrf_app:app") as url, httpx.Client(base_url=url) as client:
        token = client.get("/form").json()["token"]
        ok = client.post("/submit", data={"csrf_token": token, "name": "value"})
        assert ok.status_code == 200
        assert ok.json()["form"] == {"csrf_token": token, "name": "value"}
        refused(client.post("/submit", data={"name": "value"}), b"no token was sent")
