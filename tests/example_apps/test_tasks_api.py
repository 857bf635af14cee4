"""examples/tasks: the JSON API, on SQLite and on PostgreSQL (every test runs on both)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from examples.tasks import Settings
from examples.tasks.api import MAX_TITLE_LENGTH
from examples.tasks.app import build_app

from aaf.testing import AsyncTestClient

NOT_FOUND = {"error": "not found"}
PROBLEM_JSON = "application/problem+json"


def problem(response: Any) -> list[tuple[str, str | None, str]]:
    """The problem-details answer's errors as (in, pointer or name, detail), after checking
    the parts every problem has."""
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert set(body) >= {"type", "title", "status", "detail", "errors"}
    return [(e["in"], e.get("pointer", e.get("name")), e["detail"]) for e in body["errors"]]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(build_app(Settings(database_url=database_url))) as client:
        yield client


async def create(client: AsyncTestClient, title: str, done: bool = False) -> dict[str, Any]:
    response = await client.post("/tasks", json={"title": title, "done": done})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


# ------------------------------------------------------------------------------ POST /tasks
async def test_create_answers_201_with_the_stored_task(client: AsyncTestClient) -> None:
    response = await client.post("/tasks", json={"title": "Write docs", "done": False})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    task = response.json()
    assert set(task) == {"id", "title", "done"}
    assert uuid.UUID(task["id"]).version == 4
    assert (task["title"], task["done"]) == ("Write docs", False)
    assert response.headers["location"] == f"/tasks/{task['id']}"
    assert (await client.get(f"/tasks/{task['id']}")).json() == task


async def test_create_keeps_done_and_defaults_it_to_false(client: AsyncTestClient) -> None:
    finished = await create(client, "Ship it", done=True)
    assert finished["done"] is True
    response = await client.post("/tasks", json={"title": "Later"})
    assert response.status_code == 201
    assert response.json()["done"] is False


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}],
)
async def test_create_without_a_json_content_type_is_415(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    response = await client.post("/tasks", content=b'{"title": "x"}', headers=headers)
    assert response.status_code == 415
    [(where, _, detail)] = problem(response)
    assert where == "body"
    assert detail.startswith("Content-Type must be application/json")
    assert (await client.get("/tasks")).json()["items"] == []


@pytest.mark.parametrize("body", [b"{not json", b'{"title": "x"', b'"\\ud800"'])
async def test_create_with_invalid_json_is_400(client: AsyncTestClient, body: bytes) -> None:
    response = await client.post(
        "/tasks", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    [(where, _, detail)] = problem(response)
    assert (where, detail.startswith("malformed JSON")) == ("body", True)


async def test_create_with_an_empty_body_is_422(client: AsyncTestClient) -> None:
    response = await client.post(
        "/tasks", content=b"", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert problem(response) == [("body", "", "a JSON request body is required")]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Object missing required field `title`"),
        ({"done": True}, "Object missing required field `title`"),
        ({"title": None}, "Expected `str`, got `null`"),
        ({"title": ""}, "Expected `str` of length >= 1"),
        ({"title": "  \t"}, "title is required"),
    ],
)
async def test_create_without_a_title_is_422(
    client: AsyncTestClient, body: object, detail: str
) -> None:
    response = await client.post("/tasks", json=body)
    assert response.status_code == 422
    assert problem(response) == [("body", "/title", detail)]


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        ([{"title": "x"}], "", "Expected `object`, got `array`"),
        ("title", "", "Expected `object`, got `str`"),
        ({"title": 5}, "/title", "Expected `str`, got `int`"),
        ({"title": ["x"]}, "/title", "Expected `str`, got `array`"),
        ({"title": "x", "done": "yes"}, "/done", "Expected `bool`, got `str`"),
        ({"title": "x", "done": 1}, "/done", "Expected `bool`, got `int`"),
        ({"title": "x", "done": None}, "/done", "Expected `bool`, got `null`"),
        (
            {"title": "x" * (MAX_TITLE_LENGTH + 1)},
            "/title",
            f"Expected `str` of length <= {MAX_TITLE_LENGTH}",
        ),
        ({"title": "a\x00b"}, "/title", "title must not contain NUL characters"),
    ],
)
async def test_create_with_wrong_types_is_422(
    client: AsyncTestClient, body: object, pointer: str, detail: str
) -> None:
    response = await client.post("/tasks", json=body)
    assert response.status_code == 422
    assert problem(response) == [("body", pointer, detail)]
    assert (await client.get("/tasks")).json()["items"] == []


@pytest.mark.parametrize(
    "title",
    [
        "\u200b",
        "\ufeff",
        "\u202e",
        "\u2060",
        "\u200b \u200d\u2060\ufeff",
        "\u00a0\u200b\u3000",
        "\x07\x1b",
    ],
)
async def test_titles_without_visible_characters_are_422(
    client: AsyncTestClient, title: str
) -> None:
    response = await client.post("/tasks", json={"title": title})
    assert response.status_code == 422
    assert problem(response) == [("body", "/title", "title must contain visible characters")]
    task = await create(client, "visible")
    patched = await client.patch(f"/tasks/{task['id']}", json={"title": title})
    assert patched.status_code == 422
    assert problem(patched) == [("body", "/title", "title must contain visible characters")]
    assert (await client.get("/tasks")).json()["items"] == [task]


async def test_title_problems_look_like_the_runtime_s_own(client: AsyncTestClient) -> None:
    cleaned = await client.post("/tasks", json={"title": "\u200b"})  # refused by clean_title
    typed = await client.post("/tasks", json={"title": 5})  # refused by the decoder
    assert cleaned.json()["title"] == typed.json()["title"] == "Unprocessable Entity"
    assert cleaned.json()["type"] == typed.json()["type"]


async def test_titles_are_stored_without_invisible_edges(client: AsyncTestClient) -> None:
    # Edges go; characters inside (a joiner in an emoji sequence, a space) stay.
    inside = "fix the \U0001f468\u200d\U0001f4bb bug"
    task = await create(client, "\u200b\ufeff  " + inside + "\u2060\u202e \n")
    assert task["title"] == inside
    patched = await client.patch(f"/tasks/{task['id']}", json={"title": " \u200bnew\u200b "})
    assert patched.json()["title"] == "new"
    assert (await client.get(f"/tasks/{task['id']}")).json()["title"] == "new"


async def test_titles_keep_every_character(client: AsyncTestClient) -> None:
    title = "x" * (MAX_TITLE_LENGTH - 12) + " 'quoted' é😀"
    task = await create(client, title)
    assert (await client.get(f"/tasks/{task['id']}")).json()["title"] == title


# ------------------------------------------------------------------------------ GET /tasks
async def test_list_returns_every_task_in_creation_order(client: AsyncTestClient) -> None:
    assert (await client.get("/tasks")).json()["items"] == []
    tasks = [await create(client, f"task {i}", done=i % 2 == 0) for i in range(5)]
    response = await client.get("/tasks")
    assert response.status_code == 200
    assert response.json() == {"items": tasks, "next": None}


async def test_list_filters(client: AsyncTestClient) -> None:
    docs = await create(client, "Write the DOCS")
    tests = await create(client, "write tests", done=True)
    release = await create(client, "Release 1.0", done=True)
    percent = await create(client, "100% done_ish")
    accented = await create(client, "Écrire la doc")

    async def titles(**params: str) -> list[str]:
        response = await client.get("/tasks", params=params)
        assert response.status_code == 200, response.text
        return [task["title"] for task in response.json()["items"]]

    assert await titles(q="write") == [docs["title"], tests["title"]]
    assert await titles(q="WRITE") == [docs["title"], tests["title"]]
    assert await titles(q="docs") == [docs["title"]]
    assert await titles(q="doc") == [docs["title"], accented["title"]]
    assert await titles(q="écrire") == [accented["title"]]  # non-ASCII folds too
    assert await titles(done="true") == [tests["title"], release["title"]]
    assert await titles(done="false") == [docs["title"], percent["title"], accented["title"]]
    assert await titles(q="write", done="true") == [tests["title"]]
    assert await titles(q="write", done="false") == [docs["title"]]
    assert await titles(q="release", done="false") == []
    # The search text is literal: no LIKE wildcards.
    assert await titles(q="%") == [percent["title"]]
    assert await titles(q="_") == [percent["title"]]
    assert await titles(q="") == [t["title"] for t in (docs, tests, release, percent, accented)]
    assert await titles(q="nothing like it") == []
    assert await titles(q="a\x00b") == []


async def all_pages(client: AsyncTestClient, **params: str) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        extra = {} if cursor is None else {"cursor": cursor}
        response = await client.get("/tasks", params={**params, **extra})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next"}
        pages.append(body["items"])
        cursor = body["next"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)


async def test_list_pages_with_limit_and_cursor(client: AsyncTestClient) -> None:
    tasks = [await create(client, f"task {i}", done=i % 3 == 0) for i in range(7)]
    pages = await all_pages(client, limit="3")
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [task for page in pages for task in page] == tasks
    # A full last page says so: no empty page after it.
    assert [len(page) for page in await all_pages(client, limit="7")] == [7]
    # Filters apply on every page.
    undone = [task for task in tasks if not task["done"]]
    pages = await all_pages(client, limit="2", done="false")
    assert [len(page) for page in pages] == [2, 2]
    assert [task for page in pages for task in page] == undone


async def test_the_default_page_is_50_and_the_largest_200(client: AsyncTestClient) -> None:
    await asyncio.gather(*(create(client, f"task {i}") for i in range(201)))
    first = (await client.get("/tasks")).json()
    assert len(first["items"]) == 50
    assert first["next"] is not None
    largest = (await client.get("/tasks", params={"limit": "200"})).json()
    assert len(largest["items"]) == 200
    rest = await client.get("/tasks", params={"limit": "200", "cursor": largest["next"]})
    assert (len(rest.json()["items"]), rest.json()["next"]) == (1, None)


async def test_pages_are_stable_under_inserts_and_deletes(client: AsyncTestClient) -> None:
    tasks = [await create(client, f"task {i}") for i in range(4)]
    first = (await client.get("/tasks", params={"limit": "2"})).json()
    assert first["items"] == tasks[:2]
    # Between two pages: a task of the first page goes and a new one arrives.
    await client.delete(f"/tasks/{tasks[0]['id']}")
    late = await create(client, "created while paging")
    second = await client.get("/tasks", params={"limit": "2", "cursor": first["next"]})
    assert second.json()["items"] == tasks[2:]
    third = await client.get("/tasks", params={"limit": "2", "cursor": second.json()["next"]})
    assert third.json() == {"items": [late], "next": None}


CURSOR = "Expected `str` matching regex '^[0-9]{1,18}$'"


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"limit": "0"}, "Expected `int` >= 1"),
        ({"limit": "201"}, "Expected `int` <= 200"),
        ({"limit": "-1"}, "Expected `int` >= 1"),
        ({"limit": "ten"}, "Expected `int`, got `str`"),
        ({"limit": ""}, "Expected `int`, got `str`"),
        ({"limit": "1" * 5000}, "Integer value out of range"),
        ({"cursor": "abc"}, CURSOR),
        ({"cursor": "-1"}, CURSOR),
        ({"cursor": "9" * 19}, CURSOR),
    ],
)
async def test_bad_limit_or_cursor_is_400(
    client: AsyncTestClient, params: dict[str, str], detail: str
) -> None:
    response = await client.get("/tasks", params=params)
    assert response.status_code == 400
    [name] = params
    assert problem(response) == [("query", name, detail)]


async def test_every_bad_query_parameter_is_reported(client: AsyncTestClient) -> None:
    response = await client.get("/tasks", params={"done": "no", "limit": "0", "cursor": "x"})
    assert response.status_code == 400
    assert [name for _, name, _ in problem(response)] == ["done", "limit", "cursor"]


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
async def test_list_with_a_bad_done_filter_is_400(client: AsyncTestClient, value: str) -> None:
    response = await client.get("/tasks", params={"done": value})
    assert response.status_code == 400
    assert problem(response) == [("query", "done", f"Invalid enum value {value!r}")]


# ------------------------------------------------------------------------------ /tasks/<id>
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "task_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%20", uuid.uuid4().hex, "x" * 500]
)
async def test_unknown_or_malformed_ids_are_404(
    client: AsyncTestClient, method: str, task_id: str
) -> None:
    await create(client, "exists")
    response = await client.request(method, f"/tasks/{task_id}", json={"done": True})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


async def test_get_one_task(client: AsyncTestClient) -> None:
    first = await create(client, "first")
    second = await create(client, "second", done=True)
    assert (await client.get(f"/tasks/{first['id']}")).json() == first
    response = await client.get(f"/tasks/{second['id'].upper()}")  # UUIDs are case-blind
    assert (response.status_code, response.json()) == (200, second)


async def test_patch_changes_title_and_or_done(client: AsyncTestClient) -> None:
    task = await create(client, "draft")
    other = await create(client, "untouched")
    url = f"/tasks/{task['id']}"

    response = await client.patch(url, json={"done": True})
    assert (response.status_code, response.json()) == (200, {**task, "done": True})
    response = await client.patch(url, json={"title": "final"})
    assert response.json() == {**task, "title": "final", "done": True}
    response = await client.patch(url, json={"title": "again", "done": False, "extra": 1})
    assert response.json() == {**task, "title": "again", "done": False}
    response = await client.patch(url, json={})
    assert (response.status_code, response.json()) == (200, {**task, "title": "again"})

    assert (await client.get(url)).json() == {**task, "title": "again"}
    assert (await client.get(f"/tasks/{other['id']}")).json() == other


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        ({"title": 3}, "/title", "Expected `str`, got `int`"),
        ({"title": None}, "/title", "Expected `str`, got `null`"),
        ({"title": ""}, "/title", "Expected `str` of length >= 1"),
        ({"title": " "}, "/title", "title is required"),
        ({"done": "true"}, "/done", "Expected `bool`, got `str`"),
        ({"title": "ok", "done": 0}, "/done", "Expected `bool`, got `int`"),
        ([1, 2], "", "Expected `object`, got `array`"),
    ],
)
async def test_patch_with_wrong_types_is_422(
    client: AsyncTestClient, body: object, pointer: str, detail: str
) -> None:
    task = await create(client, "keep me")
    response = await client.patch(f"/tasks/{task['id']}", json=body)
    assert response.status_code == 422
    assert problem(response) == [("body", pointer, detail)]
    assert (await client.get(f"/tasks/{task['id']}")).json() == task


async def test_patch_with_invalid_json_is_400_and_without_json_415(
    client: AsyncTestClient,
) -> None:
    task = await create(client, "keep me")
    url = f"/tasks/{task['id']}"
    invalid = await client.patch(
        url, content=b'{"done": tru', headers={"content-type": "application/json"}
    )
    assert invalid.status_code == 400
    [(_, _, detail)] = problem(invalid)
    assert detail.startswith("malformed JSON")
    form = await client.patch(url, content=b"done=true", headers={"content-type": "text/plain"})
    assert form.status_code == 415
    assert problem(form) == [("body", None, "Content-Type must be application/json")]
    assert (await client.get(url)).json() == task


async def test_delete_returns_the_deleted_task(client: AsyncTestClient) -> None:
    task = await create(client, "short-lived")
    other = await create(client, "stays")
    response = await client.delete(f"/tasks/{task['id']}")
    assert (response.status_code, response.json()) == (200, task)
    assert (await client.get(f"/tasks/{task['id']}")).status_code == 404
    again = await client.delete(f"/tasks/{task['id']}")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)
    assert (await client.get("/tasks")).json()["items"] == [other]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/tasks", "GET, HEAD, OPTIONS, POST"),
        ("DELETE", "/tasks", "GET, HEAD, OPTIONS, POST"),
        ("PATCH", "/tasks", "GET, HEAD, OPTIONS, POST"),
        ("PUT", "/tasks/{id}", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("POST", "/tasks/{id}", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("POST", "/tasks/not-a-uuid", "DELETE, GET, HEAD, OPTIONS, PATCH"),
    ],
)
async def test_other_methods_are_405(
    client: AsyncTestClient, method: str, path: str, allow: str
) -> None:
    task = await create(client, "target")
    response = await client.request(method, path.format(id=task["id"]), json={"title": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert (await client.get("/tasks")).json()["items"] == [task]
