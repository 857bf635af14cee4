"""Regex-hostile header parameters: long runs of backslashes, quotes and separators.

Content-Type and Content-Disposition go through aaf's own parameter parser; Cookie through the
cookie parser. aaf has no Accept or Range parser yet: those headers are only ever read as plain
strings, which the last test checks stays cheap and harmless.
"""

from __future__ import annotations

import contextlib

import pytest

from aaf import Router, aaf
from aaf._http import HeaderParamError, parse_header_params
from aaf.connection import Connection
from aaf.cookies import parse_cookie_header
from tests.support.bodies import FormApp, growth_ratio, post

LINEAR = 10
HOSTILE_UNITS = ["\\", '\\"', '"', '"\\', ";", "=", ";a=", '="', " ", "\t", "a=\\", "\x00"]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
async def test_parameter_parser_is_linear(unit: str) -> None:
    def parse(text: str) -> None:
        with contextlib.suppress(HeaderParamError):
            parse_header_params(text)

    for prefix in ('form-data; name="', "text/plain; a=", "x;", 'x; a="b"; c="'):

        def prepare(n: int, prefix: str = prefix) -> str:
            return prefix + unit * n

        async def work(text: str) -> None:
            parse(text)

        assert await growth_ratio(prepare, work, 20_000 // len(unit)) < LINEAR, (prefix, unit)


@pytest.mark.parametrize("unit", ["\\", "a=\\", '\\"'])
async def test_backslash_runs_in_quoted_strings_are_linear(unit: str) -> None:
    # Long runs: a parser that re-scans for the closing quote after each escape is quadratic,
    # but a fast scan hides that on short inputs.
    def prepare(n: int) -> str:
        return 'form-data; name="' + unit * n

    async def work(text: str) -> None:
        parse_header_params(text)

    assert await growth_ratio(prepare, work, 100_000 // len(unit), repeats=3) < LINEAR


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
async def test_cookie_parser_is_linear(unit: str) -> None:
    for prefix in ('a="', "a=", "", '=";', "a=\\"):

        def prepare(n: int, prefix: str = prefix) -> str:
            return prefix + unit * n + '"'

        async def work(text: str) -> None:
            parse_cookie_header(text)

        assert await growth_ratio(prepare, work, 20_000 // len(unit)) < LINEAR, (prefix, unit)


@pytest.mark.parametrize(
    "content_type",
    [
        b'multipart/form-data; boundary="' + b"\\" * 100_000,
        b'multipart/form-data; boundary="' + b'\\"' * 50_000 + b'"',
        b"multipart/form-data; " + b";" * 100_000,
        b"multipart/form-data; boundary=" + b"=" * 100_000,
        b"multipart/form-data; boundary=x; boundary=y",
    ],
)
async def test_hostile_content_type_is_a_clear_400(content_type: bytes) -> None:
    feeder = await post(FormApp().app, "/form", [b"--x--\r\n"], [(b"content-type", content_type)])
    assert feeder.status == 400
    assert feeder.calls == 0


async def test_hostile_json_content_type_is_415() -> None:
    hostile = b"application/" + b"\\" * 100_000 + b'+json"; a="' + b'"' * 1000
    feeder = await post(FormApp().app, "/json", [b"{}"], [(b"content-type", hostile)])
    assert feeder.status == 415


async def test_accept_and_range_headers_are_inert() -> None:
    router = Router()

    @router.get("/")
    async def handler(conn: Connection) -> dict[str, int]:
        return {
            "accept": len(conn.req_headers.get("accept", "")),
            "range": len(conn.req_headers.get("range", "")),
        }

    app = aaf([router])

    def prepare(n: int) -> list[tuple[bytes, bytes]]:
        return [
            (b"accept", b"text/html;q=" + b'\\"' * n + b",*/*;q=" + b"0" * n),
            (b"range", b"bytes=" + b"0-," * n + b"\\" * n),
        ]

    async def work(headers: list[tuple[bytes, bytes]]) -> None:
        feeder = await post(app, "/", [b""], headers, method="GET")
        assert feeder.status == 200

    assert await growth_ratio(prepare, work, 200_000) < LINEAR
    feeder = await post(app, "/", [b""], prepare(10), method="GET")
    assert feeder.status == 200
