"""``Body[T]``: the JSON body decoded into ``T``, and the problem details of bad bodies
(malformed JSON 400, wrong or missing content type 415, schema violations 422 with a JSON
Pointer, body limits 413 as for ``conn.body()``)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import attrs
import msgspec
import pytest

from aaf import Limits, Router, aaf
from aaf.params import Body
from aaf.routing._typed import json_pointer
from aaf.testing import TestClient


class Item(msgspec.Struct):
    sku: str
    quantity: int = 1


class Order(msgspec.Struct):
    customer: str
    items: list[Item]


@dataclasses.dataclass
class Note:
    text: str


@attrs.define
class Point:
    x: int
    y: int


class Tag(TypedDict):
    name: str


def app_client(**options: Any) -> TestClient:
    router = Router()

    @router.post("/orders")
    async def create(order: Body[Order]) -> Any:
        return {"customer": order.customer, "skus": [i.sku for i in order.items]}

    @router.post("/notes")
    async def note(note: Body[Note | None] = None) -> Any:
        return {"note": None if note is None else note.text}

    @router.post("/points")
    async def point(point: Body[Point]) -> Any:
        return {"sum": point.x + point.y}

    @router.post("/tags")
    async def tags(tags: Body[list[Tag]]) -> Any:
        return {"names": [t["name"] for t in tags]}

    return TestClient(aaf([router], **options))


def test_the_body_is_decoded_into_its_type() -> None:
    with app_client() as client:
        order = {"customer": "ann", "items": [{"sku": "a"}, {"sku": "b", "quantity": 2}]}
        assert client.post("/orders", json=order).json() == {"customer": "ann", "skus": ["a", "b"]}
        assert client.post("/points", json={"x": 1, "y": 2}).json() == {"sum": 3}
        assert client.post("/tags", json=[{"name": "t"}]).json() == {"names": ["t"]}
        assert client.post("/notes", json={"text": "hi"}).json() == {"note": "hi"}


def test_a_schema_violation_is_a_422_with_a_json_pointer() -> None:
    with app_client() as client:
        response = client.post("/orders", json={"customer": "ann", "items": [{"sku": 5}]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"in": "body", "pointer": "/items/0/sku", "detail": "Expected `str`, got `int`"}
    ]


def test_a_missing_field_points_at_the_field() -> None:
    with app_client() as client:
        response = client.post("/orders", json={"items": []})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["pointer"] == "/customer"
    assert "missing required field" in error["detail"]


def test_malformed_json_is_a_400_problem() -> None:
    with app_client() as client:
        response = client.post(
            "/orders", content=b'{"customer": ', headers={"content-type": "application/json"}
        )
        bad_utf8 = client.post(
            "/orders", content=b'{"customer": "\xff"}', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["in"] == "body"
    assert response.json()["detail"].startswith("malformed JSON")
    assert bad_utf8.status_code == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({}, 415),  # a missing content type is not read as JSON (APPSEC: CSRF)
        ({"content-type": "application/vnd.api+json"}, 200),
        ({"content-type": "application/json; charset=utf-8"}, 200),
    ],
)
def test_the_content_type_must_be_json(headers: dict[str, str], status: int) -> None:
    body = b'{"customer": "ann", "items": []}'
    with app_client() as client:
        response = client.post("/orders", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 415:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 415


def test_a_missing_body_is_a_422_when_required_and_the_default_otherwise() -> None:
    with app_client() as client:
        required = client.post("/orders")
        optional = client.post("/notes")
    assert required.status_code == 422
    assert required.json()["errors"] == [
        {"in": "body", "pointer": "", "detail": "a JSON request body is required"}
    ]
    assert optional.json() == {"note": None}


def test_body_limits_still_apply() -> None:
    with app_client(limits=Limits(max_body_size=64)) as client:
        big = {"customer": "x" * 100, "items": []}
        response = client.post("/orders", json=big)
        problems = app_client(limits=Limits(max_body_size=64), problem_details=True)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"  # the default error shape
    with problems:
        answer = problems.post("/orders", json=big)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Expected `int`, got `str` - at `$.a[0].b`", ("Expected `int`, got `str`", "/a/0/b")),
        ("Expected `object`, got `array`", ("Expected `object`, got `array`", "")),
        ("Object missing required field `b` - at `$.a[0]`", (None, "/a/0/b")),
        ("Expected `int`, got `str` - at `$.d[...]`", ("Expected `int`, got `str`", "/d")),
        ("Object missing required field `a/b~c`", (None, "/a~1b~0c")),
    ],
)
def test_json_pointers_from_msgspec_paths(message: str, expected: tuple[str | None, str]) -> None:
    detail, pointer = json_pointer(message)
    assert pointer == expected[1]
    if expected[0] is not None:
        assert detail == expected[0]


def test_a_websocket_route_cannot_take_a_body() -> None:
    from aaf import Connection, RouteError

    router = Router()

    async def chat(conn: Connection, message: Body[Item]) -> None:
        return None

    with pytest.raises(RouteError, match="receives="):
        router.add_route("/ws", chat, websocket=True)
