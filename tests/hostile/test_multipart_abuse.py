"""Multipart floods and framing abuse: clear 4xx, bounded memory, linear time, early stop."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest

from aaf import Limits
from aaf.limits import KiB, MiB
from tests.support.bodies import (
    BOUNDARY,
    FormApp,
    chunked,
    endless,
    growth_ratio,
    multipart,
    multipart_headers,
    part,
    peak_memory,
    post,
)

DELIMITER = f"--{BOUNDARY}".encode()
LINEAR = 10  # ratio bound for 4x the input: linear gives ~4, quadratic ~16


def flood(count: int, make: bytes) -> bytes:
    return multipart([make] * count)


# ---------------------------------------------------------------------------- floods
async def test_part_flood_is_413_and_reading_stops() -> None:
    one = part("f", b"")
    body = flood(5000, one)
    feeder = await post(FormApp().app, "/form", chunked(body, 4096), multipart_headers())
    assert feeder.status == 413
    assert b"more than 1000 parts" in feeder.body
    per_part = len(DELIMITER) + 2 + len(one) + 2
    # The chunk holding the start of part 1001 is the last one read.
    assert feeder.calls == (1000 * per_part + len(DELIMITER) + 2) // 4096 + 1
    assert feeder.calls < len(body) // 4096 / 4


async def test_a_thousand_parts_are_fine() -> None:
    body = multipart([part(f"f{i}", str(i).encode()) for i in range(1000)])
    feeder = await post(FormApp().app, "/form", chunked(body), multipart_headers())
    assert feeder.status == 200
    assert len(json.loads(feeder.body)) == 1000


async def test_file_flood_is_413() -> None:
    body = flood(150, part("f", b"x", filename="a.txt"))
    forms = FormApp()
    feeder = await post(forms.app, "/form", chunked(body, 1024), multipart_headers())
    assert feeder.status == 413
    assert b"more than 100 files" in feeder.body
    assert forms.uploads == []  # the handler never saw them; all were closed


async def test_part_flood_memory_is_bounded() -> None:
    body = flood(20_000, part("f", b""))

    async def work() -> object:
        return await post(FormApp().app, "/form", chunked(body), multipart_headers())

    feeder, peak = await peak_memory(work)
    assert feeder.status == 413
    assert peak < 2 * MiB


async def test_part_flood_time_is_linear() -> None:
    app = FormApp(limits=Limits(max_parts=100_000)).app

    def prepare(n: int) -> list[bytes]:
        return list(chunked(flood(n, part("f", b"v"))))

    async def work(chunks: list[bytes]) -> None:
        feeder = await post(app, "/form", chunks, multipart_headers())
        assert feeder.status == 200

    assert await growth_ratio(prepare, work, 2000) < LINEAR


# ---------------------------------------------------------------------------- part headers
async def test_part_header_line_over_four_kib_is_400() -> None:
    raw = b'Content-Disposition: form-data; name="a"\r\nX-Big: ' + b"v" * (4 * KiB) + b"\r\n\r\nx"
    feeder = await post(FormApp().app, "/form", [multipart([raw])], multipart_headers())
    assert feeder.status == 400
    assert b"header size" in feeder.body


async def test_part_header_that_never_ends_stops_early() -> None:
    def body() -> Iterator[bytes]:
        yield DELIMITER + b'\r\nContent-Disposition: form-data; name="a"; x="'
        yield from endless(b"q" * 1024)

    async def work() -> object:
        return await post(FormApp().app, "/form", body(), multipart_headers())

    feeder, peak = await peak_memory(work)
    assert feeder.status == 400
    assert feeder.calls == 1 + 4  # the 4 KiB header limit is crossed within 4 more KiB
    assert peak < 512 * KiB


async def test_more_than_eight_part_headers_is_400() -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(7))
    eight = part("a", b"1", extra=headers)
    nine = part("a", b"1", extra=headers + "X-Last: v\r\n")
    ok = await post(FormApp().app, "/form", [multipart([eight])], multipart_headers())
    assert ok.status == 200
    feeder = await post(FormApp().app, "/form", [multipart([nine])], multipart_headers())
    assert feeder.status == 400
    assert b"header count" in feeder.body


async def test_part_header_limits_can_be_raised() -> None:
    forms = FormApp(limits=Limits(max_part_headers=20, max_part_header_size=16 * KiB))
    extra = "".join(f"X-H{i}: {'v' * 5000}\r\n" for i in range(12))
    feeder = await post(
        forms.app, "/form", [multipart([part("a", b"1", extra=extra)])], [*multipart_headers()]
    )
    assert feeder.status == 200


async def test_hostile_content_disposition_is_parsed_in_linear_time() -> None:
    app = FormApp(limits=Limits(max_part_header_size=8 * MiB)).app

    async def work(chunks: list[bytes]) -> None:
        feeder = await post(app, "/form", chunks, multipart_headers())
        assert feeder.status in (200, 400)

    for pattern in [b"\\", b'\\"', b'"', b";", b"=", b'a="\\', b"; a", b' \t"']:

        def prepare(n: int, pattern: bytes = pattern) -> list[bytes]:
            value = b'form-data; name="a"; filename="' + pattern * n
            return list(chunked(multipart([b"Content-Disposition: " + value + b"\r\n\r\nx"])))

        assert await growth_ratio(prepare, work, 60_000 // len(pattern)) < LINEAR, pattern


# ---------------------------------------------------------------------------- framing
@pytest.mark.parametrize("where", ["preamble", "epilogue"])
async def test_long_crlf_runs_around_the_body_are_skipped_in_linear_time(where: str) -> None:
    app = FormApp(limits=Limits(max_multipart_size=64 * MiB)).app

    def prepare(n: int) -> list[bytes]:
        body = multipart([part("a", b"1")])
        return list(chunked(b"\r\n" * n + body if where == "preamble" else body + b"\r\n" * n))

    async def work(chunks: list[bytes]) -> None:
        feeder = await post(app, "/form", chunks, multipart_headers())
        assert json.loads(feeder.body) == {"a": ["1"]}

    assert await growth_ratio(prepare, work, 1_000_000) < LINEAR


@pytest.mark.parametrize(
    "filler",
    [b"\r\n", b"\r", b"\n", b"\r\n--", b"\r\n--" + BOUNDARY.encode()[:-1], b"-"],
    ids=["crlf", "cr", "lf", "crlf-dashes", "almost-boundary", "dashes"],
)
@pytest.mark.parametrize("as_file", [True, False], ids=["file", "field"])
async def test_boundary_lookalikes_in_data_are_data_in_linear_time(
    filler: bytes, as_file: bool
) -> None:
    # Kept in memory at both sizes, so the measurement is the parser, not the disk.
    big = Limits(upload_spool_size=64 * MiB, max_multipart_size=64 * MiB, max_field_size=64 * MiB)
    app = FormApp(limits=big).app

    def prepare(n: int) -> tuple[int, list[bytes]]:
        value = filler * n
        first = part("f", value, filename="a.bin") if as_file else part("f", value)
        return len(value), list(chunked(multipart([first, part("g", b"end")])))

    async def work(data: tuple[int, list[bytes]]) -> None:
        size, chunks = data
        feeder = await post(app, "/form", chunks, multipart_headers())
        described = json.loads(feeder.body)
        if as_file:
            assert described["f"][0]["size"] == size
        else:
            assert len(described["f"][0]) == size  # ASCII fillers: one character per byte
        assert described["g"] == ["end"]

    assert await growth_ratio(prepare, work, 2_000_000 // len(filler)) < LINEAR


async def test_long_epilogue_is_discarded_within_the_stream_limit() -> None:
    body = multipart([part("a", b"1")]) + b"\r\n" * (4 * MiB)

    async def work() -> object:
        return await post(FormApp().app, "/form", chunked(body), multipart_headers())

    feeder, peak = await peak_memory(work)
    assert json.loads(feeder.body) == {"a": ["1"]}
    assert peak < MiB
    # Past the 16 MiB stream limit an epilogue is refused like any other byte.
    endless_epilogue = itertools.chain([multipart([part("a", b"1")])], endless(b"e" * 65536))
    feeder = await post(FormApp().app, "/form", endless_epilogue, multipart_headers())
    assert feeder.status == 413
    assert feeder.calls == 1 + 256


async def test_giant_boundary_is_refused_before_reading() -> None:
    boundary = "b" * 10_000
    body = multipart([part("a", b"1")], boundary)
    feeder = await post(FormApp().app, "/form", [body], multipart_headers(boundary))
    assert feeder.status == 400
    assert b"longer than 70" in feeder.body
    assert feeder.calls == 0


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda b: b[:10], id="in-first-delimiter"),
        pytest.param(lambda b: b[: b.index(b"\r\n\r\n") - 5], id="in-part-headers"),
        pytest.param(lambda b: b[: b.index(b"payload") + 3], id="in-part-data"),
        pytest.param(lambda b: b[: b.rindex(b"--")], id="before-closing-dashes"),
        pytest.param(lambda b: b[: b.rindex(b"--") + 1], id="in-closing-dashes"),
    ],
)
async def test_truncated_bodies_are_400(cut: object) -> None:
    body = multipart([part("a", b"1"), part("f", b"payload", filename="f.txt")])
    truncated = cut(body)  # type: ignore[operator]
    forms = FormApp()
    feeder = await post(forms.app, "/form", chunked(truncated, 16), multipart_headers())
    assert feeder.status == 400
    assert forms.uploads == []


@pytest.mark.parametrize(
    "body",
    [
        b"not multipart at all",
        DELIMITER + b"X\r\n",
        DELIMITER + b"\r\n: no name\r\n\r\nx\r\n" + DELIMITER + b"--",
        DELIMITER + b"\r\nContent-Disposition form-data\r\n\r\n",
        DELIMITER + b"\r\nContent-Disposition: form-data; name=a\rX\r\n\r\n",
        DELIMITER + b"\r\nContent-Disposition: form-data; name=a\r\n\rX",
        DELIMITER + b"-X",
    ],
)
async def test_malformed_framing_is_400_never_500(body: bytes) -> None:
    feeder = await post(FormApp().app, "/form", [body], multipart_headers())
    assert feeder.status == 400


async def test_large_upload_memory_is_bounded_by_the_spool_size() -> None:
    data = b"z" * (8 * MiB)
    body = multipart([part("f", data, filename="big.bin")])
    chunks = list(chunked(body))
    del data, body
    forms = FormApp()

    async def work() -> object:
        return await post(forms.app, "/form", chunks, multipart_headers())

    feeder, peak = await peak_memory(work)
    assert json.loads(feeder.body)["f"][0]["size"] == 8 * MiB
    assert peak < 3 * MiB
