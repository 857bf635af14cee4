"""The AsyncAPI 3.0 document of an app's WebSocket routes, and the router that serves it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
import pytest

from aaf import Connection, Router, aaf
from aaf.asyncapi import asyncapi_document, asyncapi_router
from aaf.testing import TestClient
from tests.support.typed_ws_app import ChatIn, ChatOut, Presence, Typing, app


def document(**options: Any) -> dict[str, Any]:
    return asyncapi_document(app, title="Chat", version="1.2.0", **options)


def test_channels_come_from_websocket_rules_with_parameters() -> None:
    channels = document()["channels"]
    # HTTP routes (the document's own) and include_in_schema=False routes are left out.
    assert list(channels) == ["chat", "echo", "wrong_type", "untyped", "lobby"]
    chat = channels["chat"]
    assert chat["address"] == "/chat/{room}/{seat}"
    assert chat["parameters"] == {
        "room": {"description": "one path segment"},
        "seat": {"description": "a non-negative integer"},
    }
    assert chat["summary"] == "Talk in a room."
    assert chat["description"].startswith("Say lines and typing notices")
    assert chat["messages"] == {
        name: {"$ref": f"#/components/messages/{name}"}
        for name in ("ChatIn", "Typing", "ChatOut", "Presence")
    }
    assert "parameters" not in channels["echo"]
    assert "messages" not in channels["untyped"]


def test_operations_take_the_servers_view() -> None:
    operations = document()["operations"]
    assert sorted(operations) == [
        "chat.receive",
        "chat.send",
        "echo.receive",
        "echo.send",
        "lobby.receive",
        "lobby.send",
        "wrong_type.send",
    ]
    receive, send = operations["chat.receive"], operations["chat.send"]
    assert receive["action"] == "receive"  # what clients send
    assert send["action"] == "send"  # what the server sends
    assert receive["channel"] == send["channel"] == {"$ref": "#/channels/chat"}
    assert receive["messages"] == [
        {"$ref": "#/channels/chat/messages/ChatIn"},
        {"$ref": "#/channels/chat/messages/Typing"},
    ]
    assert send["messages"] == [
        {"$ref": "#/channels/chat/messages/ChatOut"},
        {"$ref": "#/channels/chat/messages/Presence"},
    ]


def test_messages_and_schemas_come_from_one_schema_components_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, ...]] = []
    real = msgspec.json.schema_components

    def counting(types: Any, **options: Any) -> Any:
        calls.append(tuple(types))
        return real(types, **options)

    monkeypatch.setattr(msgspec.json, "schema_components", counting)
    components = document()["components"]
    # Each type once, shared by routes; the lobby's typed handshake parameters come last.
    assert calls == [
        (ChatIn, Typing, ChatOut, Presence, Annotated[str, msgspec.Meta(min_length=1)], str | None)
    ]
    assert set(components["schemas"]) == {"ChatIn", "Typing", "ChatOut", "Presence"}
    message = components["messages"]["ChatIn"]
    assert message == {
        "name": "ChatIn",
        "contentType": "application/json",
        "title": "ChatIn",
        "summary": "A line a member says in the room.",
        "payload": {"$ref": "#/components/schemas/ChatIn"},
    }
    schema = components["schemas"]["ChatIn"]
    assert schema["properties"]["type"] == {"enum": ["say"]}
    assert schema["properties"]["text"] == {"type": "string", "minLength": 1, "maxLength": 500}


def test_info_servers_and_content_type() -> None:
    doc = document(
        description="Rooms.",
        servers={
            "prod": "wss://chat.example.com/api/",
            "local": "ws://localhost:8000",
            "custom": {"host": "h", "protocol": "ws", "title": "raw"},
        },
    )
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"] == {"title": "Chat", "version": "1.2.0", "description": "Rooms."}
    assert doc["defaultContentType"] == "application/json"
    assert doc["servers"] == {
        "prod": {"host": "chat.example.com", "protocol": "wss", "pathname": "/api"},
        "local": {"host": "localhost:8000", "protocol": "ws"},
        "custom": {"host": "h", "protocol": "ws", "title": "raw"},
    }
    with pytest.raises(ValueError, match=r"must be ws://host"):
        document(servers={"web": "http://example.com"})


def test_inline_payloads_prefixes_names_and_decorator_text() -> None:
    inner = Router()

    @inner.websocket(
        "/feed/<path:topic>",
        name="feed",
        sends=list[str],
        summary="The feed.",
        description="Topics as lists.",
        tags=["feeds"],
    )
    async def feed(conn: Connection, topic: str) -> None:
        """Ignored: the decorator's text wins."""

    outer = Router()
    outer.include(inner, "/v1", name="v1")
    doc = asyncapi_document(outer, title="T", version="1")
    channel = doc["channels"]["v1.feed"]
    assert channel["address"] == "/v1/feed/{topic}"
    assert channel["parameters"]["topic"]["description"].startswith("the rest of the path")
    assert (channel["summary"], channel["description"]) == ("The feed.", "Topics as lists.")
    name = "v1.feed.send.list"
    assert doc["components"]["messages"][name]["payload"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert doc["operations"]["v1.feed.send"]["tags"] == [{"name": "feeds"}]
    assert doc["components"]["schemas"] == {}


# ---------------------------------------------------------------------------- served
def test_the_router_serves_the_document_of_its_app_with_the_requests_server() -> None:
    with TestClient(app, base_url="https://docs.example.org") as client:
        response = client.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert served["servers"] == {"this": {"host": "docs.example.org", "protocol": "wss"}}
    expected = asyncapi_document(
        app, title="Chat", version="1.2.0", description="Rooms to talk in."
    )
    assert {k: v for k, v in served.items() if k != "servers"} == expected


def test_the_document_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from aaf import asyncapi

    builds: list[object] = []
    real = asyncapi.asyncapi_document

    def counting(target: Any, **options: Any) -> dict[str, Any]:
        builds.append(target)
        return real(target, **options)

    monkeypatch.setattr(asyncapi, "asyncapi_document", counting)
    fresh = aaf([Router(), asyncapi_router(title="T", version="1", servers={"a": "ws://a"})])
    with TestClient(fresh) as client:
        first = client.get("/asyncapi.json").content
        assert client.get("/asyncapi.json").content == first
        assert client.get("/asyncapi").status_code == 200
    assert builds == [fresh]
    assert msgspec.json.decode(first)["servers"] == {"a": {"host": "a", "protocol": "ws"}}


def test_served_without_an_app_says_how_to_fix() -> None:
    from aaf.connection import Connection as Conn
    from tests.support.ws import WSDriver

    router = asyncapi_router(title="T", version="1")
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/asyncapi.json",
        "raw_path": b"/asyncapi.json",
        "query_string": b"",
        "headers": [],
    }
    driver = WSDriver()
    send: Any = driver.send
    served = router(Conn(scope, driver.receive, send))
    with pytest.raises(RuntimeError, match=r"add it to an aaf App"):
        asyncio.run(served)


def test_the_page_lists_channels_operations_messages_and_schemas() -> None:
    with TestClient(app) as client:
        response = client.get("/asyncapi")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = response.text
    assert "<script" not in page
    assert "http" not in page  # nothing loaded from anywhere
    for text in (
        "<code>/chat/{room}/{seat}</code>",
        'id="operation-chat.receive"',
        'id="operation-echo.send"',
        'id="message-Presence"',
        'id="schema-ChatOut"',
        'href="/asyncapi.json"',
    ):
        assert text in page


def test_the_page_escapes_what_the_document_says() -> None:
    from aaf._asyncapi_page import render_page

    page = render_page(
        {"info": {"title": "<script>x</script>", "version": '"1'}, "channels": {}},
        json_url="/a.json",
    )
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&quot;1" in page


def test_typed_handshake_parameters_are_the_channels_ws_binding() -> None:
    document = asyncapi_document(app, title="Chat", version="1")
    binding = document["channels"]["lobby"]["bindings"]["ws"]
    assert binding["method"] == "GET"
    assert binding["bindingVersion"] == "0.1.0"
    query = binding["query"]
    assert query["type"] == "object"
    assert query["required"] == ["user"]
    assert query["properties"]["user"] == {"type": "string", "minLength": 1}
    assert set(query["properties"]) == {"user", "token"}
    assert set(binding["headers"]["properties"]) == {"client"}
    assert "required" not in binding["headers"]
    # Routes without typed handshake parameters get no binding.
    assert "bindings" not in document["channels"]["echo"]
