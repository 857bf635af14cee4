"""The demo's API documents: ``/openapi.json`` validated with openapi-spec-validator (the
official OpenAPI 3.1 schema), ``/asyncapi.json`` with the official AsyncAPI parser, both
describing what the typed tasks API and chat really do; the docs UI and the AsyncAPI page are
served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from examples.demo.app import API_TITLE, API_VERSION, build_app
from examples.tasks import Settings
from openapi_spec_validator import validate as validate_openapi

from aaf.testing import AsyncTestClient

from ..test_asyncapi_validator import errors, validate

TASK_OPERATIONS = {
    ("get", "/tasks"),
    ("post", "/tasks"),
    ("get", "/tasks/{task_id}"),
    ("patch", "/tasks/{task_id}"),
    ("delete", "/tasks/{task_id}"),
}
JSON = {"content-type": "application/json"}
CHAT_RECEIVES = ["Say", "Typing"]
CHAT_SENDS = ["UserJoined", "UserLeft", "ChatLine", "TypingNotice", "ChatError"]


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:
    app = build_app(Settings(database_url="sqlite:///:memory:"))
    async with AsyncTestClient(app) as client:
        yield client


async def get_document(client: AsyncTestClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


# ------------------------------------------------------------------------------ OpenAPI
async def test_the_openapi_document_is_valid_and_describes_the_demo(
    client: AsyncTestClient,
) -> None:
    document = await get_document(client, "/openapi.json")
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    info = document["info"]
    assert (info["title"], info["version"]) == (API_TITLE, API_VERSION)
    assert "problem details" in info["description"]
    found = {(method, path) for path, item in document["paths"].items() for method in item}
    # The API, the feed, the chat's admission check and the health checks; not the page, the
    # documents or the docs UI.
    assert found == TASK_OPERATIONS | {
        ("get", "/feed"),
        ("get", "/chat/{room}/admission"),
        ("get", "/livez"),
        ("get", "/readyz"),
    }
    for method, path in TASK_OPERATIONS:
        operation = document["paths"][path][method]
        assert operation["tags"] == ["tasks"]
        assert operation["summary"]  # from the handler's docstring
        assert "503" in operation["responses"]  # the database may be unavailable


async def test_the_tasks_operations_say_what_the_handlers_take_and_answer(
    client: AsyncTestClient,
) -> None:
    document = await get_document(client, "/openapi.json")
    paths, schemas = document["paths"], document["components"]["schemas"]
    create = paths["/tasks"]["post"]
    assert create["summary"] == "Create a task."
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskIn"
    }
    assert sorted(create["responses"]) == ["201", "400", "415", "422", "503"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Task"
    }
    assert schemas["TaskIn"]["required"] == ["title"]
    assert schemas["TaskIn"]["properties"]["title"]["maxLength"] == 500
    listing = paths["/tasks"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert sorted(parameters) == ["cursor", "done", "limit", "q"]
    assert not any(p["required"] for p in parameters.values())
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert {"enum": ["false", "true"]} in parameters["done"]["schema"]["anyOf"]
    assert sorted(listing["responses"]) == ["200", "400", "503"]
    for method in ("get", "patch", "delete"):
        one = paths["/tasks/{task_id}"][method]
        missing = one["responses"]["404"]["content"]["application/json"]["schema"]
        assert missing == {"$ref": "#/components/schemas/ErrorMessage"}
    patch = paths["/tasks/{task_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskPatch"
    }
    assert schemas["TaskPatch"].get("required", []) == []


async def test_documented_answers_match_the_wire(client: AsyncTestClient) -> None:
    """What the handlers send validates against the schemas the document gives for it."""
    document = await get_document(client, "/openapi.json")

    def check(method: str, path: str, response: Any) -> None:
        answer = document["paths"][path][method]["responses"][str(response.status_code)]
        media_type = response.headers["content-type"]
        schema = answer["content"][media_type]["schema"]
        root = {**schema, "components": document["components"]}
        jsonschema.Draft202012Validator(root).validate(response.json())

    created = await client.post("/tasks", json={"title": " typed ", "done": True})
    check("post", "/tasks", created)
    await client.post("/tasks", json={"title": "second"})
    url = f"/tasks/{created.json()['id']}"
    check("get", "/tasks", await client.get("/tasks", params={"limit": "1"}))
    check("get", "/tasks/{task_id}", await client.get(url))
    check("patch", "/tasks/{task_id}", await client.patch(url, json={"title": "x"}))
    check("delete", "/tasks/{task_id}", await client.delete(url))
    check("get", "/tasks/{task_id}", await client.get(url))  # 404
    check("post", "/tasks", await client.post("/tasks", json={"title": 1}))  # 422
    check("get", "/tasks", await client.get("/tasks", params={"limit": "0"}))  # 400
    malformed = await client.post("/tasks", content=b"{", headers=JSON)
    check("post", "/tasks", malformed)  # 400


# ------------------------------------------------------------------------------ AsyncAPI
async def test_the_asyncapi_document_is_valid_for_the_official_parser(
    client: AsyncTestClient,
) -> None:
    code, diagnostics = validate(await get_document(client, "/asyncapi.json"))
    assert errors(diagnostics) == []
    assert code == 0


async def test_the_asyncapi_document_describes_the_chat(client: AsyncTestClient) -> None:
    document = await get_document(client, "/asyncapi.json")
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == API_VERSION
    assert document["channels"]["chat"]["address"] == "/chat/{room}"
    assert document["channels"]["chat"]["summary"] == "Talk in a room."

    def names(operation: str) -> list[str]:
        refs = document["operations"][operation]["messages"]
        return [ref["$ref"].rsplit("/", 1)[1] for ref in refs]

    assert names("chat.receive") == CHAT_RECEIVES
    assert names("chat.send") == CHAT_SENDS


async def test_chat_messages_on_the_wire_match_the_asyncapi_schemas(
    client: AsyncTestClient,
) -> None:
    """The shapes the page sends and receives are the documented ones."""
    document = await get_document(client, "/asyncapi.json")
    components = document["components"]

    def check(message: Any, kinds: list[str]) -> str:
        """The one documented message kind ``message`` validates as."""
        matching = [
            kind
            for kind in kinds
            if jsonschema.Draft202012Validator(
                {**components["messages"][kind]["payload"], "components": components}
            ).is_valid(message)
        ]
        assert len(matching) == 1, (message, matching)
        return matching[0]

    sent = [{"type": "chat", "message": "hi"}, {"type": "typing"}]
    assert [check(message, CHAT_RECEIVES) for message in sent] == CHAT_RECEIVES
    received: list[str] = []
    async with (
        client.websocket_connect("/chat/lobby?user=ada", timeout=5) as ada,
        client.websocket_connect("/chat/lobby?user=bob", timeout=5) as bob,
    ):
        received.append(check(await ada.receive_json(), CHAT_SENDS))  # ada joined
        received.append(check(await ada.receive_json(), CHAT_SENDS))  # bob joined
        for message in sent:
            await bob.send_json(message)
        received.append(check(await ada.receive_json(), CHAT_SENDS))  # bob's line
        received.append(check(await ada.receive_json(), CHAT_SENDS))  # bob is typing
        await ada.send_json({"type": "chat"})
        received.append(check(await ada.receive_json(), CHAT_SENDS))  # the error
        await bob.close()
        received.append(check(await ada.receive_json(), CHAT_SENDS))  # bob left
    assert received == [
        "UserJoined",
        "UserJoined",
        "ChatLine",
        "TypingNotice",
        "ChatError",
        "UserLeft",
    ]


# ------------------------------------------------------------------------------ pages
async def test_the_docs_ui_and_the_asyncapi_page_are_served(client: AsyncTestClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"] == "text/html; charset=utf-8"
    assert "/openapi.json" in docs.text
    page = await client.get("/asyncapi")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/chat/{room}" in page.text
