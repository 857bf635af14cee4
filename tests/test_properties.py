"""Property-based tests (Hypothesis) for every parser aaf owns.

Each parser must never raise anything but its documented error on any input, and round trips
must hold: what aaf (or a client library) writes, aaf reads back unchanged.

The parsers of the batteries (Range, conditional headers, Accept-Encoding, Forwarded, Host)
have theirs in test_properties_batteries.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
import uuid
from typing import Any, Literal
from urllib.parse import unquote, unquote_to_bytes, urlencode

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aaf import HTTPError, Router
from aaf._http import HeaderError, HeaderParamError, encode_header, is_token, parse_header_params
from aaf.connection import Connection
from aaf.cookies import CookieError, build_set_cookie, parse_cookie_header
from aaf.datastructures import URL, Headers, MutableHeaders, QueryParams
from aaf.middleware.accesslog import escape_log_text
from aaf.response import safe_location
from aaf.routing import Match, NoMatch, RouteError, parse_rule
from aaf.uploads import base_name
from tests.support.bodies import FormApp, multipart_headers, post, scope_for

# No deadline: the suite runs on busy machines, and time is not what these tests check.
PROPERTY = settings(
    deadline=None,
    max_examples=int(os.environ.get("AAF_PROPERTY_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
)

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
SURROGATES_AND_CONTROLS: tuple[Literal["Cs"], Literal["Cc"]] = ("Cs", "Cc")
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# Text a client could send: no lone surrogates (they cannot be encoded to bytes at all).
text = st.text(st.characters(exclude_categories=SURROGATES), max_size=40)
printable = st.characters(exclude_categories=SURROGATES_AND_CONTROLS)
latin1 = st.text(st.characters(max_codepoint=255), max_size=60)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _unused(*args: Any) -> Any:
    raise AssertionError("not called")


# ---------------------------------------------------------------------------- header params
@PROPERTY
@given(st.text(max_size=200))
def test_header_params_never_fail_unexpectedly(value: str) -> None:
    try:
        media, params = parse_header_params(value)
    except HeaderParamError:
        return
    assert media == media.strip(" \t").lower()
    assert all(name == name.lower() and name for name in params)


@PROPERTY
@given(
    tokens,
    st.dictionaries(tokens.map(str.lower), st.text(printable, max_size=30), max_size=5),
    st.booleans(),
)
def test_header_params_round_trip(media: str, params: dict[str, str], spaces: bool) -> None:
    gap = " " if spaces else ""
    header = media
    for name, value in params.items():
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        header += f';{gap}{name}{gap}={gap}"{quoted}"'
    assert parse_header_params(header) == (media.lower(), params)


@PROPERTY
@given(tokens, st.dictionaries(tokens.map(str.lower), tokens, max_size=5))
def test_unquoted_token_params_round_trip(media: str, params: dict[str, str]) -> None:
    header = media + "".join(f"; {name}={value}" for name, value in params.items())
    assert parse_header_params(header) == (media.lower(), params)


# ---------------------------------------------------------------------------- headers
@PROPERTY
@given(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=8), text)
def test_header_views_never_fail(raw: list[tuple[bytes, bytes]], key: str) -> None:
    headers = Headers(raw)
    try:
        name: bytes | None = key.lower().encode("latin-1")
    except UnicodeEncodeError:
        name = None  # cannot be a header name: simply absent
    present = [value for n, value in raw if n == name]
    assert headers.getlist(key) == [value.decode("latin-1") for value in present]
    assert headers.get(key) == (present[0].decode("latin-1") if present else None)
    assert headers.get_bytes(key) == (present[0] if present else None)
    assert (key in headers) == bool(present)
    assert len(headers.multi_items()) == len(raw)
    mutable = MutableHeaders(list(raw))
    try:
        del mutable[key]
    except KeyError:
        assert not present
    else:
        assert present
        assert key not in mutable


@PROPERTY
@given(text, text)
def test_emitted_headers_are_valid_or_refused(name: str, value: str) -> None:
    try:
        raw_name, raw_value = encode_header(name, value)
    except HeaderError:
        return
    assert is_token(raw_name.decode())
    assert raw_name == raw_name.lower()
    assert not any(byte in raw_value for byte in b"\r\n\x00")


@PROPERTY
@given(st.binary(max_size=30))
def test_content_length_is_digits_or_a_clear_error(value: bytes) -> None:
    scope = scope_for("/", [(b"content-length", value)])
    conn = Connection(scope, _unused, _unused)
    try:
        declared: int | None = conn._declared_length(1000)
        status = 200
    except HTTPError as exc:
        declared, status = None, exc.status_code
    if not value.isdigit():
        assert status == 400
    elif len(value) > 19 or int(value) > 1000:
        assert status == 413
    else:
        assert declared == int(value)


@PROPERTY
@given(
    st.lists(st.binary(max_size=40), max_size=3),
    st.text(st.characters(exclude_categories=SURROGATES), max_size=30).map(lambda p: "/" + p),
    st.binary(max_size=40),
)
def test_url_never_takes_path_or_query_from_the_host(
    hosts: list[bytes], path: str, query: bytes
) -> None:
    scope = scope_for(path, [(b"host", host) for host in hosts], "GET", query)
    url = Connection(scope, _unused, _unused).url
    assert not any(char in url.netloc for char in "/?#@\\ \t\r\n\x00")
    assert url.port is None or 0 <= url.port <= 65535
    reparsed = URL(str(url))
    assert (reparsed.scheme, reparsed.netloc) == ("http", url.netloc)
    assert unquote(reparsed.path, encoding="utf-8", errors="surrogateescape") == unquote(
        url.path, encoding="utf-8", errors="surrogateescape"
    )
    assert reparsed.query == url.query
    # Raw path bytes are percent-encoded as they are: decoding gives the request path back.
    assert unquote(url.path) == unquote(path)
    assert unquote_to_bytes(url.query) == unquote_to_bytes(query)


# ---------------------------------------------------------------------------- cookies
@PROPERTY
@given(st.text(max_size=200))
def test_cookie_parser_never_fails(header: str) -> None:
    for name, value in parse_cookie_header(header).items():
        assert is_token(name)
        assert not any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)


@PROPERTY
@given(tokens, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30))
def test_cookie_round_trip(name: str, value: str) -> None:
    pair = build_set_cookie(name, value).split("; Path=")[0]
    assert parse_cookie_header(pair) == {name: value}
    # A nameless or broken pair in front never shadows it.
    assert parse_cookie_header(f"={value}; {pair}")[name] == value


@PROPERTY
@given(text, text)
def test_set_cookie_is_valid_or_refused(name: str, value: str) -> None:
    try:
        header = build_set_cookie(name, value)
    except CookieError:
        return
    encode_header("set-cookie", header)  # never raises: the value is a safe header value


# ---------------------------------------------------------------------------- query strings
@PROPERTY
@given(st.binary(max_size=200) | st.text("ab=;&%+", max_size=40).map(str.encode))
def test_query_params_never_fail(raw: bytes) -> None:
    params = QueryParams(raw)
    for key in params:
        assert params.getlist(key)[-1] == params[key]
    # ';' is data, never a separator.
    assert sum(len(params.getlist(k)) for k in params) <= raw.count(b"&") + 1


@PROPERTY
@given(st.lists(st.tuples(text, text), max_size=8))
def test_query_params_round_trip(pairs: list[tuple[str, str]]) -> None:
    assert QueryParams(urlencode(pairs).encode()).multi_items() == pairs
    assert QueryParams(str(QueryParams(pairs))).multi_items() == pairs


# ---------------------------------------------------------------------------- forms
@PROPERTY
@given(st.lists(st.tuples(text, text), max_size=8), st.integers(1, 64))
def test_urlencoded_form_round_trip(pairs: list[tuple[str, str]], chunk: int) -> None:
    body = urlencode(pairs).encode()
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    feeder = run(post(FormApp().app, "/form", chunks, headers))
    expected: dict[str, list[str]] = {}
    for name, value in pairs:
        expected.setdefault(name, []).append(value)
    assert json.loads(feeder.body) == expected


field_names = st.text(printable, min_size=1, max_size=20)


def _quote_param(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@PROPERTY
@given(
    st.lists(
        st.tuples(
            field_names, st.binary(max_size=300), st.none() | st.text(printable, max_size=20)
        ),
        max_size=6,
    ),
    st.text(string.ascii_letters + string.digits + "'()+_,-./:=?", min_size=1, max_size=70),
    st.integers(1, 97),
)
def test_multipart_form_round_trip(
    fields: list[tuple[str, bytes, str | None]], boundary: str, chunk: int
) -> None:
    delimiter = b"--" + boundary.encode()
    assume(all(delimiter not in value for _, value, _ in fields))
    body = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{_quote_param(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_param(filename)}"'
        body += delimiter + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n"
        body += value + b"\r\n"
    body += delimiter + b"--\r\n"
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    feeder = run(post(FormApp().app, "/form", chunks, multipart_headers(boundary)))
    assert feeder.status == 200, feeder.body
    expected: dict[str, list[Any]] = {}
    for name, value, filename in fields:
        if filename is None:
            described: Any = value.decode("utf-8", "replace")
        else:
            described = {
                "filename": base_name(filename),
                "content_type": "application/octet-stream",
                "size": len(value),
                "in_memory": True,
            }
        expected.setdefault(name, []).append(described)
    assert json.loads(feeder.body) == expected


@PROPERTY
@given(
    st.lists(st.sampled_from([b"%", b"+", b"4", b"1", b"a", b"F", b"g", b"\xff", b"%41"])).map(
        b"".join
    ),
    st.integers(3, 12),
)
def test_percent_decoding_matches_the_standard_library(raw: bytes, window: int) -> None:
    from unittest import mock

    from aaf import forms

    expected = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")
    assert forms._unquote(bytearray(raw)) == expected
    # Small windows: escapes cut by a window edge must still decode.
    with mock.patch.object(forms, "_UNQUOTE_WINDOW", window):
        assert forms._unquote(bytearray(raw)) == expected


@PROPERTY
@given(st.binary(max_size=400), st.integers(1, 50))
def test_multipart_parser_never_fails_unexpectedly(body: bytes, chunk: int) -> None:
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    feeder = run(post(FormApp().app, "/form", chunks, multipart_headers("b")))
    assert feeder.status in (200, 400, 413)


@PROPERTY
@given(st.binary(max_size=300).map(lambda b: b"--b\r\n" + b))
def test_multipart_after_a_valid_start_never_fails_unexpectedly(body: bytes) -> None:
    feeder = run(post(FormApp().app, "/form", [body], multipart_headers("b")))
    assert feeder.status in (200, 400, 413)


# ---------------------------------------------------------------------------- output helpers
@PROPERTY
@given(st.text(max_size=100))
def test_log_escaping_leaves_no_line_breaks_or_controls(value: str) -> None:
    escaped = escape_log_text(value)
    assert escaped.splitlines() == ([escaped] if escaped else [])
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in escaped)
    assert escaped.count('"') == escaped.count('\\"')


@PROPERTY
@given(st.text(max_size=60).map(lambda t: "/" + t) | st.text(max_size=60).map(lambda t: "\\" + t))
def test_path_redirects_stay_on_site(url: str) -> None:
    try:
        location = safe_location(url)
    except HeaderError:
        return
    assert location.startswith("/")
    assert location[1:2] not in ("/", "\\")
    encode_header("location", location)


# ---------------------------------------------------------------------------- routing
segment_chars = string.ascii_lowercase + string.digits + "-_."
statics = st.text(segment_chars, min_size=1, max_size=8)
segment_text = st.text(
    st.characters(exclude_categories=SURROGATES, exclude_characters="/"), min_size=1
)
CONVERTER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "str": segment_text,
    "int": st.integers(min_value=0, max_value=10**40),
    "float": st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    "uuid": st.uuids(),
    "path": st.text(st.characters(exclude_categories=SURROGATES), min_size=1),
}


@st.composite
def rules_with_values(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    count = draw(st.integers(1, 5))
    segments: list[str] = []
    values: dict[str, Any] = {}
    for index in range(count):
        last = index == count - 1
        kind = draw(st.sampled_from(["static", "str", "int", "float", "uuid"] + ["path"] * last))
        if kind == "static":
            segments.append(draw(statics))
        else:
            name = f"p{index}"
            segments.append(f"<{kind}:{name}>")
            values[name] = draw(CONVERTER_VALUES[kind])
    return "/" + "/".join(segments), values


@PROPERTY
@given(rules_with_values())
def test_url_for_then_match_gives_back_the_route_and_parameters(
    rule_and_values: tuple[str, dict[str, Any]],
) -> None:
    rule, values = rule_and_values
    router = Router()

    async def handler(conn: Connection, **params: Any) -> None:
        return None

    router.add_route(rule, handler, name="target")
    router.add_route("/other/<int:x>", handler, name="other")
    url = router.url_for("target", **values)
    decoded = unquote(url)  # what a server puts in scope["path"]
    found = router.match("GET", decoded)
    assert isinstance(found, Match), (rule, values, url)
    assert found.route.name == "target"
    assert found.params == values


@PROPERTY
@given(st.lists(statics, min_size=1, max_size=4), st.sampled_from(["GET", "POST", "get", "X"]))
def test_static_routes_round_trip_and_other_methods_are_405(
    segments: list[str], method: str
) -> None:
    router = Router()

    async def handler(conn: Connection) -> None:
        return None

    rule = "/" + "/".join(segments)
    router.add_route(rule, handler, "static", ["GET"])
    found = router.match(method, router.url_for("static"))
    if method == "GET":
        assert isinstance(found, Match)
        assert found.route.name == "static"
    else:
        assert isinstance(found, NoMatch)
        assert found.allowed == frozenset({"GET", "HEAD"})


ROUTER = Router()


async def _any(conn: Connection, **params: Any) -> None:
    return None


for _rule in (
    "/",
    "/items/<int:id>",
    "/items/<int:id>/<path:rest>",
    "/u/<uuid:u>",
    "/f/<float:x>/z",
    "/s/<a>/<b>",
    "/files/<path:p>",
    "/mixed/<int:n>",
    "/mixed/<name>",
    "/deep/<path:a>/end",
):
    ROUTER.add_route(_rule, _any, name=_rule)


@PROPERTY
@given(st.text(max_size=80).map(lambda p: "/" + p), st.sampled_from(["GET", "POST", "", "G T"]))
def test_matching_any_path_never_fails(path: str, method: str) -> None:
    found = ROUTER.match(method, path)
    assert isinstance(found, Match | NoMatch)


@PROPERTY
@given(st.text(max_size=40))
def test_rule_parser_raises_only_route_errors(rule: str) -> None:
    try:
        parts = parse_rule(rule, ROUTER.converters)
    except RouteError:
        return
    assert rule.startswith("/")
    assert len(parts) == rule.count("/")


@PROPERTY
@given(st.uuids(), st.integers(min_value=0))
def test_typed_converters_round_trip(value: uuid.UUID, number: int) -> None:
    url = ROUTER.url_for("/u/<uuid:u>", u=value)
    found = ROUTER.match("GET", url)
    assert isinstance(found, Match)
    assert found.params == {"u": value}
    found = ROUTER.match("GET", ROUTER.url_for("/items/<int:id>", id=number))
    assert isinstance(found, Match)
    assert found.params == {"id": number}
