"""The running demo against its own OpenAPI document, over a real socket (uvicorn, SQLite in a
temporary directory): for every documented operation, property-based requests generated from
the documented schemas, valid and invalid ones mixed, must get no 5xx and only documented
statuses, content types and bodies.

The request generator and the answer check are the generic live checker of
``tests/test_openapi_live.py``; this module points it at the demo. Bounded: a fixed number of
examples per operation (``AAF_PROPERTY_EXAMPLES``, default 60) and a timeout per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .. import test_openapi_live as live
from ..support.servers import serve
from ..test_openapi_live import check_answer, exchange_many, operations

pytestmark = pytest.mark.integration

EVENT_STREAM = "text/event-stream"

# The live checker's client and validated document, here for this module's base_url (pytest
# resolves a fixture's dependencies from the module that requests it).
client = live.client
document = live.document


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("demo") / "tasks.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": "", "CHAT_JWT_SECRET": ""}
    with serve("examples.demo.app:app", env=env) as url:
        yield url


def is_stream(operation: dict[str, Any]) -> bool:
    """An operation answering an endless event stream (its body is never complete)."""
    return any(EVENT_STREAM in r.get("content", {}) for r in operation["responses"].values())


def test_every_operation_answers_as_documented(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    seen = {
        (method, path): exchange_many(client, document, path, method, operation)
        for path, method, operation in operations(document)
        if not is_stream(operation)
    }
    assert set(seen) == {
        ("get", "/tasks"),
        ("post", "/tasks"),
        ("get", "/tasks/{task_id}"),
        ("patch", "/tasks/{task_id}"),
        ("delete", "/tasks/{task_id}"),
        ("get", "/chat/{room}/admission"),
        ("get", "/livez"),
        ("get", "/readyz"),
    }
    # The requests reached both the handlers and the validation in front of them.
    assert 201 in seen[("post", "/tasks")]
    assert {415, 422} <= seen[("post", "/tasks")]  # (malformed JSON, 400: test_demo_documents)
    assert {200, 400} <= seen[("get", "/tasks")]
    assert 404 in seen[("get", "/tasks/{task_id}")]
    assert seen[("patch", "/tasks/{task_id}")] & {404, 415, 422}
    assert {200, 400} <= seen[("get", "/chat/{room}/admission")]


def test_the_event_stream_starts_as_documented(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    """The feed never ends: its status and content type are checked, not a whole body."""
    streams = [(p, m, op) for p, m, op in operations(document) if is_stream(op)]
    assert [(path, method) for path, method, _ in streams] == [("/feed", "get")]
    for path, method, operation in streams:
        with client.stream(method.upper(), path) as answer:
            documented = operation["responses"][str(answer.status_code)]
            media_type = answer.headers["content-type"].partition(";")[0].strip()
            assert media_type in documented["content"]
            first = next(answer.iter_lines())  # the first frame arrives at once
            assert first.startswith(("id:", "retry:", ":"))


def test_a_task_round_trip_answers_as_documented(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    """Every documented success answer, seen at least once with its schema checked (random
    ids almost never name a stored task)."""
    paths = document["paths"]
    created = client.post("/tasks", json={"title": " round trip ", "done": False})
    check_answer(document, "post", paths["/tasks"]["post"], created)
    assert created.status_code == 201
    url = created.headers["location"]
    client.post("/tasks", json={"title": "one more"})
    page = client.get("/tasks", params={"limit": "1"})
    check_answer(document, "get", paths["/tasks"]["get"], page)
    assert page.json()["next"] is not None
    following = client.get("/tasks", params={"limit": "1", "cursor": page.json()["next"]})
    check_answer(document, "get", paths["/tasks"]["get"], following)
    item = paths["/tasks/{task_id}"]
    for method, body in (("get", None), ("patch", {"done": True}), ("delete", None)):
        answer = client.request(method.upper(), url, json=body)
        check_answer(document, method, item[method], answer)
        assert answer.status_code == 200
    gone = client.get(url)
    check_answer(document, "get", item["get"], gone)
    assert gone.status_code == 404
