"""Body limits are enforced while reading, on bytes actually received, and reading stops there.

Each test feeds an endless (or lying) body through a receive() that counts its calls: the app
must answer 413/400 and never call receive() again after the chunk that crossed the limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from aaf import Limits
from aaf.limits import KiB, MiB
from tests.support.bodies import (
    BOUNDARY,
    FormApp,
    endless,
    multipart_headers,
    peak_memory,
    post,
)

CHUNK = 64 * KiB
JSON = [(b"content-type", b"application/json")]
URLENCODED = [(b"content-type", b"application/x-www-form-urlencoded")]


def head_then(head: bytes, filler: bytes) -> Iterator[bytes]:
    yield head
    yield from endless(filler)


FILE_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n'
).encode()


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/body", []), ("/stream", []), ("/json", JSON), ("/form", URLENCODED)],
)
async def test_endless_body_stops_at_one_mib(path: str, headers: list[tuple[bytes, bytes]]) -> None:
    feeder = await post(FormApp().app, path, endless(b"a" * CHUNK), headers)
    assert feeder.status == 413
    assert b"1048576-byte limit" in feeder.body
    # 16 chunks are exactly 1 MiB (allowed); the 17th crosses the limit and is the last read.
    assert feeder.calls == 17


async def test_endless_file_part_stops_at_sixteen_mib_with_bounded_memory() -> None:
    forms = FormApp()

    async def work() -> object:
        return await post(
            forms.app, "/form", head_then(FILE_HEAD, b"x" * CHUNK), multipart_headers()
        )

    feeder, peak = await peak_memory(work)
    assert feeder.status == 413
    assert b"16777216-byte limit" in feeder.body
    assert feeder.calls == 1 + 256  # the head, then 256 chunks of 64 KiB cross 16 MiB
    # Spooled to disk past 1 MiB: memory stays near the spool size, not the 16 MiB received.
    assert peak < 3 * MiB


async def test_field_that_never_ends_stops_at_its_limit_with_bounded_memory() -> None:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n'.encode()

    async def work() -> object:
        return await post(
            FormApp().app, "/form", head_then(head, b"v" * CHUNK), multipart_headers()
        )

    feeder, peak = await peak_memory(work)
    assert feeder.status == 413
    assert b"'a' is larger than the 524288-byte limit" in feeder.body
    assert feeder.calls == 1 + 9  # 8 chunks fill 512 KiB exactly, the 9th crosses
    assert peak < 2 * MiB


async def test_many_small_chunks_are_counted_too() -> None:
    forms = FormApp(limits=Limits(max_body_size=100))
    feeder = await post(forms.app, "/body", endless(b"x"), [])
    assert feeder.status == 413
    assert feeder.calls == 101


async def test_route_limit_applies_while_reading() -> None:
    forms = FormApp(route_limits=Limits(max_multipart_size=1000))
    assert len(FILE_HEAD) < 100
    chunks = head_then(FILE_HEAD.ljust(100, b"\n"), b"x" * 300)
    feeder = await post(forms.app, "/limited", chunks, multipart_headers())
    assert feeder.status == 413
    assert feeder.calls == 1 + 4  # 100 + 3 * 300 = 1000 is allowed, the 4th chunk crosses


# ---------------------------------------------------------------------------- Content-Length
@pytest.mark.parametrize(
    "value",
    [b"-1", b"+5", b" 5", b"5 ", b"0x10", b"1_0", b"", b"5, 5", b"1e3", "١٢".encode()],
)
async def test_malformed_content_length_is_400_before_reading(value: bytes) -> None:
    feeder = await post(FormApp().app, "/body", [b"12345"], [(b"content-length", value)])
    assert feeder.status == 400
    assert b"Content-Length" in feeder.body
    assert feeder.calls == 0


@pytest.mark.parametrize("value", [b"1048577", b"99999999999999999999999999999", b"9" * 5000])
async def test_huge_content_length_is_413_before_reading(value: bytes) -> None:
    feeder = await post(FormApp().app, "/body", endless(b"x" * CHUNK), [(b"content-length", value)])
    assert feeder.status == 413
    assert feeder.calls == 0


async def test_body_longer_than_its_content_length_is_400_at_once() -> None:
    feeder = await post(FormApp().app, "/body", endless(b"x" * CHUNK), [(b"content-length", b"10")])
    assert feeder.status == 400
    assert b"does not match its Content-Length" in feeder.body
    assert feeder.calls == 1


async def test_body_shorter_than_its_content_length_is_400() -> None:
    feeder = await post(FormApp().app, "/body", [b"abc", b"de"], [(b"content-length", b"10")])
    assert feeder.status == 400
    assert feeder.calls == 2


async def test_content_length_that_matches_is_fine() -> None:
    feeder = await post(FormApp().app, "/body", [b"abc", b"de"], [(b"content-length", b"5")])
    assert feeder.status == 200
    assert json.loads(feeder.body) == {"size": 5}


async def test_multipart_counts_received_bytes_whatever_content_length_says() -> None:
    # Declares 100 bytes, sends an endless stream: refused on the first chunk past 100.
    headers = multipart_headers(length=100)
    feeder = await post(FormApp().app, "/form", head_then(FILE_HEAD, b"x" * 64), headers)
    assert feeder.status == 400
    assert b"does not match its Content-Length" in feeder.body
    assert feeder.calls == 2


async def test_replayed_body_respects_the_smaller_limit() -> None:
    # body() keeps up to 1 MiB; the same bytes replayed to a stricter reader are refused.
    from aaf import Router, aaf
    from aaf.connection import Connection

    router = Router()

    @router.post("/")
    async def handler(conn: Connection) -> dict[str, int]:
        await conn.body()
        size = 0
        async for chunk in conn.stream_body(10):
            size += len(chunk)
        return {"size": size}

    feeder = await post(aaf([router]), "/", [b"x" * 11], [])
    assert feeder.status == 413
