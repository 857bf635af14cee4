"""Headers, query parameters, URL, cookies: the request/response value types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aaf import URL, FormData, Headers, MutableHeaders, QueryParams
from aaf._http import HeaderError, encode_header, encode_headers
from aaf.cookies import CookieError, build_set_cookie, parse_cookie_header


# ---------------------------------------------------------------------------- headers
def test_headers_are_case_insensitive_and_multi_valued() -> None:
    h = Headers([(b"accept", b"a"), (b"x-many", b"1"), (b"x-many", b"2")])
    assert h["Accept"] == "a"
    assert h["X-MANY"] == "1"
    assert h.getlist("x-many") == ["1", "2"]
    assert h.get("missing") is None
    assert h.get_bytes("accept") == b"a"
    assert h.get_bytes("nope") is None
    assert "ACCEPT" in h
    assert not h.__contains__(3)
    assert list(h) == ["accept", "x-many"]
    assert len(h) == 2
    assert h.multi_items() == [("accept", "a"), ("x-many", "1"), ("x-many", "2")]
    assert h == Headers([(b"x-many", b"2"), (b"x-many", b"1"), (b"accept", b"a")])
    assert h != Headers([])
    assert (h == 3) is False
    assert "x-many" in repr(h)
    with pytest.raises(KeyError):
        h["nope"]


def test_headers_keep_the_raw_list() -> None:
    raw = [(b"a", b"1")]
    assert Headers(raw).raw is raw
    assert Headers().raw == []
    assert Headers.from_items({"X-A": "1"}).raw == [(b"x-a", b"1")]


def test_mutable_headers_validate_every_value() -> None:
    h = MutableHeaders()
    h["X-A"] = "1"
    h.add("x-a", "2")
    assert h.getlist("x-a") == ["1", "2"]
    h["x-a"] = "3"
    assert h.getlist("x-a") == ["3"]
    assert h.setdefault("x-a", "9") == "3"
    assert h.setdefault("x-b", "4") == "4"
    h.update({"x-c": "5"})
    h.update([("x-d", "6")])
    del h["x-b"]
    assert "x-b" not in h
    with pytest.raises(KeyError):
        del h["x-b"]
    with pytest.raises(HeaderError, match="control character"):
        h["x-e"] = "ok\r\nset-cookie: evil=1"
    with pytest.raises(HeaderError, match="not a valid header name"):
        h["bad name"] = "x"


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "a\x7fb", "a\x1bb"])
def test_encode_header_refuses_injection(value: str) -> None:
    with pytest.raises(HeaderError):
        encode_header("x-test", value)


def test_encode_header_allows_tab_and_refuses_non_latin1() -> None:
    assert encode_header("X-Test", "a\tb") == (b"x-test", b"a\tb")
    with pytest.raises(HeaderError, match="outside latin-1"):
        encode_header("x-test", "snow \u2603")
    assert encode_headers(None) == []
    assert encode_headers([("a", "1")]) == [(b"a", b"1")]


# ---------------------------------------------------------------------------- query
def test_query_params_are_multi_valued_last_wins() -> None:
    q = QueryParams(b"a=1&b=2&a=3&empty=&plus=a+b&pct=%C3%A9")
    assert q["a"] == "3"
    assert q.getlist("a") == ["1", "3"]
    assert q["empty"] == ""
    assert q["plus"] == "a b"
    assert q["pct"] == "\u00e9"
    assert "b" in q
    assert len(q) == 5
    assert sorted(q) == ["a", "b", "empty", "pct", "plus"]
    assert q.multi_items()[0] == ("a", "1")
    assert QueryParams({"x": "1"}) == QueryParams([("x", "1")])
    assert QueryParams("x=1") != QueryParams("x=2")
    assert (QueryParams() == "x") is False
    assert str(QueryParams([("a", "b c")])) == "a=b+c"
    assert repr(QueryParams("a=1")) == "QueryParams('a=1')"


def test_to_dict_follows_werkzeug_first_value_or_every_value() -> None:
    q = QueryParams(b"a=1&b=2&a=3&empty=")
    # flat=True keeps the FIRST value (werkzeug), even though q["a"] is the last one.
    assert q.to_dict() == {"a": "1", "b": "2", "empty": ""}
    assert q.to_dict(flat=True) == {"a": "1", "b": "2", "empty": ""}
    assert q.to_dict(flat=False) == {"a": ["1", "3"], "b": ["2"], "empty": [""]}
    assert list(q.to_dict(flat=False)) == ["a", "b", "empty"]  # first-arrival order
    assert QueryParams().to_dict() == {}
    assert QueryParams().to_dict(flat=False) == {}
    copy = q.to_dict(flat=False)
    copy["a"].append("changed")
    assert q.getlist("a") == ["1", "3"]  # a plain copy: the params stay as they were


def test_form_data_shares_to_dict() -> None:
    form = FormData([("tag", "x"), ("title", "t"), ("tag", "y")])
    assert form.to_dict() == {"tag": "x", "title": "t"}
    assert form.to_dict(flat=False) == {"tag": ["x", "y"], "title": ["t"]}


def test_semicolon_is_data_not_a_separator() -> None:
    q = QueryParams("role=user&x=;role=admin")
    assert q.getlist("role") == ["user"]
    assert q["x"] == ";role=admin"


# ---------------------------------------------------------------------------- URL
def test_url_parts_and_replace() -> None:
    url = URL("https://example.com:8443/a/b?x=1#frag")
    assert url.scheme == "https"
    assert url.netloc == "example.com:8443"
    assert url.hostname == "example.com"
    assert url.port == 8443
    assert url.path == "/a/b"
    assert url.query == "x=1"
    assert url.fragment == "frag"
    assert url.is_secure
    assert str(url.replace(path="/c", query="")) == "https://example.com:8443/c#frag"
    assert url == "https://example.com:8443/a/b?x=1#frag"
    assert url == URL(str(url))
    assert (url == 3) is False
    assert hash(url) == hash(str(url))
    assert repr(URL("/x")) == "URL('/x')"
    built = URL.build(scheme="http", netloc="h", path="/p", query="q=1")
    assert str(built) == "http://h/p?q=1"


# ---------------------------------------------------------------------------- cookies
def test_parse_cookies_basic_and_quoted() -> None:
    assert parse_cookie_header("a=1; b=2") == {"a": "1", "b": "2"}
    assert parse_cookie_header('q="a\\"b\\\\c\\073d"') == {"q": 'a"b\\c;d'}
    assert parse_cookie_header("a=1; a=2") == {"a": "1"}  # first (most specific) wins
    assert parse_cookie_header("  spaced = v ") == {"spaced": "v"}


def test_nameless_and_invalid_cookies_never_shadow_named_ones() -> None:
    header = "=evil; session=good; bare; bad name=x; ctl=a\x01b"
    assert parse_cookie_header(header) == {"session": "good"}


def test_cookie_parsing_is_linear_on_hostile_input() -> None:
    # A long run of backslashes and quotes: one pass, no backtracking regex.
    value = '"' + "\\" * 100_000 + '"'
    assert parse_cookie_header(f"x={value}")["x"] == "\\" * 50_000


def test_build_set_cookie_attributes() -> None:
    cookie = build_set_cookie(
        "sid",
        "abc",
        max_age=60,
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    assert cookie == (
        "sid=abc; Max-Age=60; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; "
        "Domain=example.com; Secure; HttpOnly; SameSite=Strict"
    )
    assert build_set_cookie("a", "b", samesite=None, path=None) == "a=b"
    assert build_set_cookie("a", "b c;d") == 'a="b c\\073d"; Path=/; SameSite=Lax'
    assert "Expires=" in build_set_cookie("a", "", expires=0)
    assert "Expires=Thu" in build_set_cookie("a", "", expires="Thu, 01 Jan 1970 00:00:00 GMT")
    part = build_set_cookie("a", "b", secure=True, samesite="none", partitioned=True)
    assert part.endswith("Secure; SameSite=None; Partitioned")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "bad name"}, "not a valid cookie name"),
        ({"value": "a\r\nb"}, "control character"),
        ({"value": "caf\u00e9"}, "non-ASCII"),
        ({"path": "/a;b"}, "may not contain"),
        ({"domain": "a\nb"}, "may not contain"),
        ({"samesite": "loose"}, "must be 'lax'"),
        ({"samesite": "none"}, "needs secure=True"),
        ({"partitioned": True}, "needs secure=True"),
    ],
)
def test_build_set_cookie_refuses_unsafe_values(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"key": "a", "value": "b", **kwargs}
    with pytest.raises(CookieError, match=message):
        build_set_cookie(**args)  # type: ignore[arg-type]
