"""The OpenAPI document against the live app, over a real socket (uvicorn).

For every documented operation, property-based requests are generated from the documented
schemas (hypothesis, through the small schema reader below), valid and invalid ones mixed:
parameters of the documented type or any text, bodies of the documented schema, any JSON or
any bytes, with or without a JSON content type. Every answer must be no 5xx, a documented
status, a documented content type, and a body the documented schema accepts (jsonschema).
"""

from __future__ import annotations

import decimal
import json
import os
import string
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from .support.servers import serve

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("AAF_PROPERTY_EXAMPLES", "60"))
LIVE = settings(
    deadline=None,
    max_examples=EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
JSON_MEDIA_TYPES = ("application/json", "application/problem+json")
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("tests.support.openapi_app:app") as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def document(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    served: dict[str, Any] = answer.json()
    validate(served)
    return served


# ---------------------------------------------------------------------------- schemas


# Any JSON value (bodies of the wrong shape).
ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def values_of(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values ``schema`` accepts, for the JSON Schema subset msgspec writes.

    (hypothesis-jsonschema would do, but its last release fails with current hypothesis.)
    """
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return values_of(components[ref.rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return st.one_of([values_of(s, components) for s in schema["anyOf"]])
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            for key, value in part.items():
                bound = {"minimum": max, "maximum": min}.get(key)
                merged[key] = bound(merged[key], value) if bound and key in merged else value
        return values_of(merged, components)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(
            schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        return st.lists(
            values_of(schema.get("items", {}), components),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 4), 4),
        )
    if kind == "object":
        properties = {k: values_of(v, components) for k, v in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in properties.items() if k in required},
            optional={k: v for k, v in properties.items() if k not in required},
        )
    return ANY_JSON


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "uuid":
        return st.uuids().map(str)
    low, high = schema.get("minLength", 0), schema.get("maxLength", 30)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"]).filter(lambda s: low <= len(s) <= high)
    return st.text(min_size=low, max_size=high)


def check_body(schema: dict[str, Any], body: Any, document: dict[str, Any]) -> None:
    # The refs resolve against a root holding the document's components.
    root = {**schema, "components": document.get("components", {})}
    jsonschema.Draft202012Validator(root).validate(body)


# ---------------------------------------------------------------------------- requests


def as_text(value: Any) -> str | None:
    """A parameter value as a client writes it on the wire (None: left out)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Plain decimal digits: what the float path converter matches ("1e-07" it does not).
        return format(decimal.Decimal(repr(value)), "f")
    return str(value)


def path_segment(text: str) -> str:
    """``text`` as one path segment: percent-encoded, dot segments too ("." and ".." would be
    removed by the client, RFC 3986 5.2.4, and the request would reach another route)."""
    if text in (".", ".."):
        return "%2E" * len(text)
    return quote(text, safe="")


HEADER_TEXT = st.text(string.ascii_letters + string.digits + " -_.,;=", max_size=60)
COOKIE_TEXT = st.text(string.ascii_letters + string.digits + "-_.", max_size=30)
QUERY_JUNK = st.text(max_size=20).filter(lambda s: "\x00" not in s)


def wire_value(param: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A documented value, or (outside the path) junk a client may send all the same."""
    valid = values_of(param["schema"], components)
    if param["in"] == "path":
        return valid  # another path is another route (or a 404), not this operation
    junk = {"query": QUERY_JUNK, "header": HEADER_TEXT, "cookie": COOKIE_TEXT}[param["in"]]
    return st.one_of(valid, junk)


@st.composite
def requests_for(
    draw: st.DrawFn, document: dict[str, Any], path: str, operation: dict[str, Any]
) -> dict[str, Any]:
    components = document.get("components", {}).get("schemas", {})
    url = path
    params: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for param in operation.get("parameters", []):
        if not param.get("required") and draw(st.booleans()):
            continue
        value = draw(wire_value(param, components))
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", path_segment(as_text(value) or ""))
            continue
        if param["in"] == "header" and value is not None:
            if isinstance(value, str) and any(c not in HEADER_TEXT_CHARS for c in value):
                value = draw(HEADER_TEXT)  # documented text a client could not send as is
            # Leading or trailing blanks are not part of a header value (RFC 9110 5.5).
            headers[param["name"]] = str(as_text(value)).strip(" ")
        elif param["in"] == "cookie" and value is not None:
            text = str(as_text(value))
            plain = text.isascii() and text.isalnum()
            cookies.append(f"{param['name']}={text if plain else draw(COOKIE_TEXT)}")
        elif param["in"] == "query":
            for item in value if isinstance(value, list) else [value]:
                written = as_text(item)
                if written is not None:
                    params.append((param["name"], written))
    if cookies:
        headers["cookie"] = "; ".join(cookies)
    content: bytes | None = None
    body = operation.get("requestBody")
    if body is not None:
        (media_type, media) = next(iter(body["content"].items()))
        content = draw(
            st.one_of(
                values_of(media["schema"], components).map(lambda v: json.dumps(v).encode()),
                ANY_JSON.map(lambda v: json.dumps(v).encode()),
                st.binary(max_size=40),
            )
        )
        kind = draw(st.sampled_from([media_type, "text/plain", None]))
        if kind is not None:
            headers["content-type"] = kind
    return {"url": url, "params": params, "headers": headers, "content": content}


HEADER_TEXT_CHARS = set(string.ascii_letters + string.digits + " -_.,;=")


# ---------------------------------------------------------------------------- the check


def check_answer(
    document: dict[str, Any], method: str, operation: dict[str, Any], answer: httpx.Response
) -> None:
    where = f"{method.upper()} {answer.request.url} -> {answer.status_code}: {answer.text[:300]}"
    assert answer.status_code < 500, where
    responses = operation["responses"]
    documented = responses.get(str(answer.status_code), responses.get("default"))
    assert documented is not None, f"undocumented status: {where}"
    content = documented.get("content")
    if content is None:
        assert answer.content == b"", f"a body where none is documented: {where}"
        return
    media_type = answer.headers.get("content-type", "").partition(";")[0].strip()
    assert media_type in content, f"undocumented content type {media_type!r}: {where}"
    schema = content[media_type].get("schema")
    if schema is not None and media_type in JSON_MEDIA_TYPES:
        check_body(schema, answer.json(), document)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def exchange_many(
    client: httpx.Client,
    document: dict[str, Any],
    path: str,
    method: str,
    operation: dict[str, Any],
) -> set[int]:
    """Property-based requests to one operation; the statuses answered."""
    statuses: set[int] = set()

    @LIVE
    @given(request=requests_for(document, path, operation))
    def exchange(request: dict[str, Any]) -> None:
        answer = client.request(method.upper(), **request)
        statuses.add(answer.status_code)
        check_answer(document, method, operation, answer)

    exchange()
    return statuses


def test_the_served_document_is_valid_and_complete(document: dict[str, Any]) -> None:
    found = {(method, path) for path, method, _ in operations(document)}
    assert found == {
        ("post", "/tasks"),
        ("get", "/tasks"),
        ("get", "/tasks/{task_id}"),
        ("patch", "/tasks/{task_id}"),
        ("delete", "/tasks/{task_id}"),
        ("get", "/echo/{key}/{ratio}"),
    }


def test_every_operation_answers_as_documented(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    seen = {
        (method, path): exchange_many(client, document, path, method, operation)
        for path, method, operation in operations(document)
    }
    # The requests reached past validation and into it: both kinds of answers were seen.
    assert 201 in seen[("post", "/tasks")]
    assert seen[("post", "/tasks")] & {400, 415, 422}
    assert {200, 400} <= seen[("get", "/tasks")]
    assert 200 in seen[("get", "/echo/{key}/{ratio}")]
    assert 404 in seen[("get", "/tasks/{task_id}")]


def test_a_known_task_round_trip(client: httpx.Client, document: dict[str, Any]) -> None:
    """The documented success answers, each seen at least once with its schema checked."""
    paths = document["paths"]
    created = client.post("/tasks", json={"title": "write docs", "tags": ["docs"]})
    check_answer(document, "post", paths["/tasks"]["post"], created)
    assert created.status_code == 201
    task_id = created.json()["id"]
    for method, body in (("get", None), ("patch", {"done": True}), ("delete", None)):
        answer = client.request(method.upper(), f"/tasks/{task_id}", json=body)
        check_answer(document, method, paths["/tasks/{task_id}"][method], answer)
        assert answer.status_code == (204 if method == "delete" else 200)


@pytest.mark.parametrize(
    ("method", "url", "request_options", "status"),
    [
        ("post", "/tasks", {"content": b"{not json", "headers": JSON}, 400),
        ("post", "/tasks", {"content": b'{"title": "x"}', "headers": TEXT}, 415),
        ("post", "/tasks", {"json": {"title": ""}}, 422),
        ("post", "/tasks", {"json": {"title": "x", "priority": 9, "extra": 1}}, 422),
        ("get", "/tasks", {"params": {"limit": "0"}}, 400),
        ("get", "/tasks", {"params": {"limit": "many", "is-done": "maybe"}}, 400),
        ("patch", "/tasks/1", {"json": {"done": "yes"}}, 422),
        ("get", "/tasks/987654321", {}, 404),
        ("delete", "/tasks/987654321", {}, 404),
        ("get", f"/echo/{uuid.UUID(int=7)}/2.5", {"headers": {"x-trace": "t" * 41}}, 400),
    ],
)
def test_each_documented_problem_answer(
    client: httpx.Client,
    document: dict[str, Any],
    method: str,
    url: str,
    request_options: dict[str, Any],
    status: int,
) -> None:
    """Every kind of problem answer, sent on purpose (the property run may miss some)."""
    answer = client.request(method.upper(), url, **request_options)
    path = next(p for p in document["paths"] if _matches(p, url))
    check_answer(document, method, document["paths"][path][method], answer)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"


def _matches(template: str, url: str) -> bool:
    parts, wanted = template.split("/"), url.split("/")
    return len(parts) == len(wanted) and all(
        p == w or p.startswith("{") for p, w in zip(parts, wanted, strict=True)
    )
