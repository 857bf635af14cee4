"""The live inspector: what it records, what it hides, who may open it, and its live feed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf._types import Receive, Scope, Send
from aaf.app import App
from aaf.middleware.inspector import InspectorMiddleware, loopback_only
from aaf.testing import AsyncTestClient, TestClient

LOOPBACK = ("127.0.0.1", 40000)


def build(**options: Any) -> App:
    router = Router()

    @router.get("/items/<int:item_id>")
    async def item(conn: Connection, item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.post("/echo")
    async def echo(conn: Connection) -> bytes:
        conn.put_resp_header("set-cookie", "session=s3cret")
        return await conn.body()

    @router.websocket("/ws")
    async def chat(conn: Connection) -> None:
        await conn.accept()
        async for message in conn.iter_text():
            await conn.send_text(message.upper())

    return aaf([router], debug=True, middleware=[Middleware(InspectorMiddleware, **options)])


def inspector_of(app: App) -> InspectorMiddleware:
    entry = app._entry
    assert isinstance(entry, InspectorMiddleware)
    return entry


def client(app: App, where: tuple[str, int] = LOOPBACK) -> TestClient:
    return TestClient(app, client=where)


def test_an_http_request_is_recorded_with_route_handler_status_and_timeline() -> None:
    app = build()
    with client(app) as http:
        assert http.get("/items/7").json() == {"id": 7}
        listed = http.get("/_aaf/api/connections").json()
        http_rows = [row for row in listed if row["type"] == "http"]
        assert len(http_rows) == 1
        row = http_rows[0]
        assert row["method"] == "GET"
        assert row["path"] == "/items/7"
        assert row["route"] == "/items/<int:item_id>"
        assert row["handler"] == "build.<locals>.item"
        assert row["status"] == 200
        assert row["bytes_out"] == len(b'{"id":7}')
        assert row["done"] is True
        assert row["duration_ms"] >= 0
        detail = http.get(f"/_aaf/api/connections/{row['id']}").json()
    assert detail["scope"]["path"] == "/items/7"
    kinds = [(e["direction"], e["message"]["type"]) for e in detail["timeline"]]
    assert kinds == [("send", "http.response.start"), ("send", "http.response.body")]
    assert detail["timeline"][1]["message"]["body"] == '{"id":7}'
    offsets = [event["t_ms"] for event in detail["timeline"]]
    assert offsets == sorted(offsets)


def test_a_miss_is_labelled_unmatched_never_by_its_path() -> None:
    app = build()
    with client(app) as http:
        assert http.get("/nothing/here").status_code == 404
        [row] = [r for r in http.get("/_aaf/api/connections").json() if r["type"] == "http"]
    assert row["route"] == "<unmatched>"
    assert row["handler"] is None
    assert row["status"] == 404


def test_websocket_frames_are_recorded_both_ways() -> None:
    app = build()
    with client(app) as http:
        with http.websocket_connect("/ws") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "HELLO"
        [row] = [r for r in http.get("/_aaf/api/connections").json() if r["type"] == "websocket"]
        detail = http.get(f"/_aaf/api/connections/{row['id']}").json()
    assert row["route"] == "/ws"
    assert row["status"] == 101
    assert row["bytes_out"] == len("HELLO")
    events = [(e["direction"], e["message"]["type"]) for e in detail["timeline"]]
    assert events[:4] == [
        ("receive", "websocket.connect"),
        ("send", "websocket.accept"),
        ("receive", "websocket.receive"),
        ("send", "websocket.send"),
    ]
    assert detail["timeline"][2]["message"]["text"] == "hello"
    assert detail["timeline"][3]["message"]["text"] == "HELLO"
    assert events[-1] == ("receive", "websocket.disconnect")


def test_the_lifespan_is_recorded_too() -> None:
    app = build()
    with client(app) as http:
        rows = http.get("/_aaf/api/connections").json()
    [lifespan] = [row for row in rows if row["type"] == "lifespan"]
    assert lifespan["done"] is False  # still running while the client is open
    assert lifespan["route"] == "<unmatched>"


def test_the_ring_keeps_only_the_last_capacity_connections() -> None:
    app = build(capacity=3)
    with client(app) as http:
        for number in range(10):
            http.get(f"/items/{number}")
        rows = http.get("/_aaf/api/connections").json()
        assert [row["path"] for row in rows] == ["/items/9", "/items/8", "/items/7"]
        oldest = http.get("/_aaf/api/connections/1")
    assert oldest.status_code == 404
    assert len(inspector_of(app).store) == 3


def test_credentials_are_redacted_in_the_scope_and_in_sent_messages() -> None:
    app = build()
    with client(app) as http:
        http.post(
            "/echo",
            content=b"x",
            headers={"Authorization": "Bearer t0ken", "Cookie": "session=c00kie"},
        )
        [row] = [r for r in http.get("/_aaf/api/connections").json() if r["type"] == "http"]
        raw = http.get(f"/_aaf/api/connections/{row['id']}").text
    detail = json.loads(raw)
    for secret in ("t0ken", "c00kie", "s3cret"):
        assert secret not in raw
    scope_headers = dict(detail["scope"]["headers"])
    assert scope_headers["authorization"] == "[redacted]"
    assert scope_headers["cookie"] == "[redacted]"
    [start] = [e for e in detail["timeline"] if e["message"]["type"] == "http.response.start"]
    assert dict(start["message"]["headers"])["set-cookie"] == "[redacted]"


def test_bodies_are_cut_to_body_cap_with_their_real_size() -> None:
    app = build(body_cap=8)
    with client(app) as http:
        http.post("/echo", content=b"A" * 100)
        [row] = [r for r in http.get("/_aaf/api/connections").json() if r["type"] == "http"]
        detail = http.get(f"/_aaf/api/connections/{row['id']}").json()
    received = [e for e in detail["timeline"] if e["message"]["type"] == "http.request"]
    assert received[0]["message"]["body"] == {"truncated": "A" * 8, "size": 100}
    sent = [e for e in detail["timeline"] if e["message"]["type"] == "http.response.body"]
    assert sent[0]["message"]["body"] == {"truncated": "A" * 8, "size": 100}
    assert row["bytes_out"] == 100


def test_other_clients_get_the_apps_404_and_the_inspector_stays_hidden() -> None:
    app = build()
    with client(app, ("203.0.113.9", 5000)) as remote, client(app) as local:
        for url in ("/_aaf/", "/_aaf/api/connections", "/_aaf/api/app", "/_aaf/api/events"):
            response = remote.get(url)
            assert response.status_code == 404
            assert response.content == remote.get("/no-such-page").content
        # Their attempts are ordinary (recorded) requests of the app.
        rows = local.get("/_aaf/api/connections").json()
    assert {row["path"] for row in rows if row["type"] == "http"} == {
        "/_aaf/",
        "/_aaf/api/connections",
        "/_aaf/api/app",
        "/_aaf/api/events",
        "/no-such-page",
    }


def test_allow_decides_who_may_open_it() -> None:
    app = build(allow=lambda scope: scope["client"][0] == "10.0.0.1")
    with client(app, ("10.0.0.1", 1)) as chosen, client(app) as loopback:
        assert chosen.get("/_aaf/api/connections").status_code == 200
        assert loopback.get("/_aaf/api/connections").status_code == 404


def test_loopback_only() -> None:
    assert loopback_only({"client": ("127.0.0.1", 1)})
    assert loopback_only({"client": ("::1", 1)})
    assert not loopback_only({"client": ("192.168.1.2", 1)})
    assert not loopback_only({"client": None})
    assert not loopback_only({})


def test_the_inspector_does_not_record_itself() -> None:
    app = build()
    with client(app) as http:
        for url in ("/_aaf/", "/_aaf/inspector.js", "/_aaf/api/app", "/_aaf/api/connections"):
            assert http.get(url).status_code == 200
        rows = http.get("/_aaf/api/connections").json()
    assert [row for row in rows if row["type"] != "lifespan"] == []


def test_the_page_and_its_script_are_served_with_a_strict_policy() -> None:
    app = build()
    with client(app) as http:
        page = http.get("/_aaf/")
        script = http.get("/_aaf/inspector.js")
        redirect = http.get("/_aaf", follow_redirects=False)
        missing = http.get("/_aaf/api/nothing")
        posted = http.post("/_aaf/api/connections")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="inspector.js">' in page.text
    assert "http://" not in page.text  # nothing external
    assert "https://" not in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # APPSEC: recorded values are text, never markup
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/_aaf/"
    assert missing.status_code == 404
    assert posted.status_code == 405


def test_api_app_lists_the_route_table() -> None:
    app = build()
    with client(app) as http:
        info = http.get("/_aaf/api/app").json()
    assert info["found"] is True
    assert info["debug"] is True
    rules = {(route["rule"], tuple(route["methods"]), route["name"]) for route in info["routes"]}
    assert ("/items/<int:item_id>", ("GET", "HEAD"), "item") in rules
    assert ("/echo", ("POST",), "echo") in rules
    assert ("/ws", ("WEBSOCKET",), "chat") in rules


def test_a_plain_asgi_app_has_no_route_table() -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with TestClient(InspectorMiddleware(plain), client=LOOPBACK) as http:
        assert http.get("/x").status_code == 204
        assert http.get("/_aaf/api/app").json() == {"found": False, "routes": [], "mounts": []}
        rows = http.get("/_aaf/api/connections").json()
    assert [row["path"] for row in rows if row["type"] == "http"] == ["/x"]


def test_it_refuses_an_app_without_debug_unless_forced() -> None:
    with pytest.raises(RuntimeError, match="debug=True"):
        aaf([Router()], middleware=[Middleware(InspectorMiddleware)])
    app = aaf([Router()], middleware=[Middleware(InspectorMiddleware, force=True)])
    assert isinstance(app._entry, InspectorMiddleware)


def test_bad_options_say_what_to_write() -> None:
    with pytest.raises(ValueError, match="'/_aaf'"):
        build(path="_aaf/")
    with pytest.raises(ValueError, match="capacity"):
        build(capacity=0)


async def test_the_event_stream_announces_a_request_and_ends_when_the_client_leaves() -> None:
    app = build()
    store = inspector_of(app).store
    async with AsyncTestClient(app, client=LOOPBACK) as http:
        async with asyncio.timeout(10), http.stream("GET", "/_aaf/api/events") as stream:
            assert stream.headers["content-type"] == "text/event-stream"
            lines = stream.aiter_lines()
            assert await anext(lines) == ": listening"  # subscribed from here on
            assert store.listeners == 1
            assert (await http.get("/items/5")).status_code == 200
            seen: list[tuple[str, dict[str, Any]]] = []
            event = ""
            while len(seen) < 2:
                line = await anext(lines)
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    seen.append((event, json.loads(line.removeprefix("data: "))))
        assert [name for name, _ in seen] == ["started", "finished"]
        assert seen[0][1]["path"] == seen[1][1]["path"] == "/items/5"
        assert seen[1][1]["status"] == 200
        for _ in range(1000):  # the stream's app ends once the client left
            if not store.listeners:
                break
            await asyncio.sleep(0.01)
        assert store.listeners == 0
