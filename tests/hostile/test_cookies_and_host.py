"""Hostile Cookie and Host headers: no shadowing, no control characters, no URL hijack."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Router, aaf
from aaf.connection import Connection
from aaf.cookies import parse_cookie_header
from aaf.datastructures import URL
from tests.conftest import call, http_scope
from tests.support.bodies import growth_ratio

# ---------------------------------------------------------------------------- cookies


@pytest.mark.parametrize(
    "header",
    [
        "=evil; session=good",
        "session; session=good",
        " =evil;session=good",
        "=session=evil; session=good",
        '"session=evil"; session=good',
        "sess ion=evil; session=good",
        "session\x00=evil; session=good",
        "session=evil\x00; session=good",
        "session=ev\ril; session=good",
        'session="ev\x1bil"; session=good',
        "session=good; session=later",
        "session=good; =session=evil",
    ],
)
def test_only_a_well_formed_named_cookie_is_ever_returned(header: str) -> None:
    assert parse_cookie_header(header)["session"] == "good"


def test_nameless_pairs_never_appear() -> None:
    cookies = parse_cookie_header("=a; ==b; = c ;  =; d")
    assert cookies == {}


def test_quoted_values_and_backslashes() -> None:
    cookies = parse_cookie_header(r'a="x\"y\\z"; b="\073\054"; c=\\; d="\\')
    assert cookies["a"] == 'x"y\\z'
    assert cookies["b"] == ";,"
    assert cookies["c"] == "\\\\"
    assert cookies["d"] == '"\\\\'


async def test_cookie_headers_split_over_several_lines_join() -> None:
    router = Router()

    @router.get("/")
    async def handler(conn: Connection) -> Any:
        return conn.req_cookies

    headers = [(b"cookie", b"=x; a=1"), (b"cookie", b"b=2; a=3"), (b"host", b"h")]
    recorder = await call(aaf([router]), http_scope("/", headers=headers))
    assert recorder.status == 200
    assert recorder.body == b'{"a":"1","b":"2"}'


# ---------------------------------------------------------------------------- Host


def url_for_host(*hosts: bytes, path: str = "/p", query: bytes = b"q=1") -> URL:
    headers = [(b"host", h) for h in hosts]
    conn = Connection(http_scope(path, headers=headers, query=query), _never, _never)
    return conn.url


async def _never(*args: Any) -> Any:
    raise AssertionError("not called")


@pytest.mark.parametrize(
    "host",
    [
        b"evil.com/path",
        b"evil.com?x=1",
        b"evil.com#frag",
        b"user@evil.com",
        b"evil.com\\x",
        b"evil .com",
        b"evil.com\r\nX: y",
        b"evil.com\x00",
        b"evil.com\t",
        b"",
        b"evil.com:99999",
        b"evil.com:80:80",
        b"[::1",
        b"[1.2.3.4]",
        b"[:::::]:80",
        b"\xc3\xa9vil.com",
        b"a" * 300,
    ],
)
def test_hostile_host_header_falls_back_to_the_server_address(host: bytes) -> None:
    url = url_for_host(host)
    assert url.netloc == "127.0.0.1:8000"
    assert url.path == "/p"
    assert url.query == "q=1"
    assert url.port == 8000
    reparsed = URL(str(url))
    assert (reparsed.netloc, reparsed.path, reparsed.query) == ("127.0.0.1:8000", "/p", "q=1")


def test_host_sent_twice_is_ignored() -> None:
    assert url_for_host(b"good.com", b"evil.com").netloc == "127.0.0.1:8000"
    assert url_for_host(b"good.com", b"good.com").netloc == "127.0.0.1:8000"


@pytest.mark.parametrize(
    ("host", "port"),
    [
        (b"example.com", None),
        (b"example.com:8443", 8443),
        (b"[::1]:8080", 8080),
        (b"10.0.0.1", None),
    ],
)
def test_plain_hosts_are_used(host: bytes, port: int | None) -> None:
    url = url_for_host(host)
    assert url.netloc == host.decode()
    assert url.port == port
    assert url.path == "/p"


def test_path_and_query_never_come_from_the_host() -> None:
    url = url_for_host(b"good.com", path="/real", query=b"a=%2F&b=%0D%0A")
    assert str(url) == "http://good.com/real?a=%2F&b=%0D%0A"
    # Control characters in a raw query are percent-encoded, never passed through.
    url = url_for_host(b"good.com", path="/r", query=b"a=\r\nb")
    assert "\r" not in str(url)
    assert "\n" not in str(url)


@pytest.mark.parametrize("unit", [b"a", b"a.", b"[:", b":1", b"a/", b"\\", b"@"])
async def test_host_checks_are_linear(unit: bytes) -> None:
    def prepare(n: int) -> bytes:
        return unit * n

    async def work(host: bytes) -> None:
        assert url_for_host(host).path == "/p"

    assert await growth_ratio(prepare, work, 20_000) < 10
