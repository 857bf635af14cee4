"""FileResponse byte ranges: single, multiple, If-Range, 416 and the abuse cases."""

from __future__ import annotations

import itertools
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaf.conditional import MAX_RANGES, parse_range_header
from aaf.testing import TestClient
from tests.conftest import call, http_scope
from tests.test_files import file_app

CONTENT = os.urandom(1000)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    return path


def get_range(path: Path, header: str, **options: Any) -> Any:
    with TestClient(file_app(path, **options)) as client:
        return client.get("/file", headers={"range": header})


def parse_multipart(response: Any) -> list[tuple[str, str | None, bytes]]:
    """(content-range, content-type, data) of each part of a multipart/byteranges body."""
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=")[1].encode()
    body: bytes = response.content
    assert int(response.headers["content-length"]) == len(body)
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = []
    for raw in body[: -len(boundary) - 6].split(b"--" + boundary + b"\r\n")[1:]:
        head, _, data = raw.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
        part_type = headers.get(b"content-type")
        parts.append(
            (headers[b"content-range"].decode(), part_type.decode() if part_type else None, data)
        )
    return parts


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-199", 100, 199),
        ("bytes=990-", 990, 999),
        ("bytes=-10", 990, 999),
        ("bytes=-5000", 0, 999),  # a suffix longer than the file: the whole file
        ("bytes=500-5000", 500, 999),  # the end is clamped
        ("bytes=0-0", 0, 0),
        ("bytes=999-999", 999, 999),
        ("BYTES = 5-9", 5, 9),  # the unit is case-insensitive, whitespace around '=' ok
        ("bytes=0-99999999999999999999999999", 0, 999),  # a huge end is clamped, not parsed
        ("bytes=0000000000000000000000000005-9", 5, 9),  # leading zeros are not "huge"
        ("bytes= 5-9 , ", 5, 9),  # empty list elements are allowed
    ],
)
def test_single_range(data_file: Path, header: str, start: int, end: int) -> None:
    response = get_range(data_file, header)
    assert response.status_code == 206
    assert response.content == CONTENT[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/1000"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["content-type"] == "application/octet-stream"
    assert "etag" in response.headers
    assert response.headers["accept-ranges"] == "bytes"


def test_several_ranges_give_multipart_byteranges(data_file: Path) -> None:
    response = get_range(data_file, "bytes=0-9, 500-509, -5")
    assert response.status_code == 206
    assert "content-range" not in response.headers
    assert parse_multipart(response) == [
        ("bytes 0-9/1000", "application/octet-stream", CONTENT[0:10]),
        ("bytes 500-509/1000", "application/octet-stream", CONTENT[500:510]),
        ("bytes 995-999/1000", "application/octet-stream", CONTENT[995:1000]),
    ]


def test_disjoint_ranges_keep_the_requested_order(data_file: Path) -> None:
    response = get_range(data_file, "bytes=500-509,0-9")
    assert [part[0] for part in parse_multipart(response)] == [
        "bytes 500-509/1000",
        "bytes 0-9/1000",
    ]


def test_multipart_streams_when_large(data_file: Path) -> None:
    small = get_range(data_file, "bytes=0-299,400-699,900-")
    streamed = get_range(data_file, "bytes=0-299,400-699,900-", chunk_size=64)
    assert parse_multipart(streamed) == parse_multipart(small)
    assert [p[2] for p in parse_multipart(streamed)] == [
        CONTENT[0:300],
        CONTENT[400:700],
        CONTENT[900:],
    ]


def test_single_range_streams_when_large(data_file: Path) -> None:
    response = get_range(data_file, "bytes=100-899", chunk_size=64)
    assert response.status_code == 206
    assert response.content == CONTENT[100:900]


def test_multipart_uses_the_callers_content_type(data_file: Path) -> None:
    response = get_range(data_file, "bytes=0-1,5-6", headers={"content-type": "image/png"})
    assert [p[1] for p in parse_multipart(response)] == ["image/png", "image/png"]
    assert response.headers["content-type"].startswith("multipart/byteranges")


def test_overlapping_ranges_are_coalesced(data_file: Path) -> None:
    response = get_range(data_file, "bytes=0-50,20-80,70-99")
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 0-99/1000"
    assert response.content == CONTENT[:100]
    # The classic amplification attempt: the same range many times is one range.
    response = get_range(data_file, "bytes=" + ",".join(["0-"] * MAX_RANGES))
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 0-999/1000"
    assert len(response.content) == 1000


def test_overlap_among_many_ranges_merges_into_sorted_parts(data_file: Path) -> None:
    response = get_range(data_file, "bytes=600-610,0-10,5-20")
    assert [p[0] for p in parse_multipart(response)] == ["bytes 0-20/1000", "bytes 600-610/1000"]


def test_more_than_max_ranges_sends_the_whole_file(data_file: Path) -> None:
    header = "bytes=" + ",".join(f"{i * 3}-{i * 3}" for i in range(MAX_RANGES + 1))
    response = get_range(data_file, header)
    assert response.status_code == 200
    assert response.content == CONTENT


def test_exactly_max_ranges_is_honoured(data_file: Path) -> None:
    header = "bytes=" + ",".join(f"{i * 3}-{i * 3}" for i in range(MAX_RANGES))
    response = get_range(data_file, header)
    assert response.status_code == 206
    parts = parse_multipart(response)
    assert len(parts) == MAX_RANGES
    assert parts[7] == ("bytes 21-21/1000", "application/octet-stream", CONTENT[21:22])


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",
        "bytes=5000-6000",
        "bytes=-0",
        "bytes=1000-1001, 2000-",
        "bytes=99999999999999999999-",
    ],
)
def test_unsatisfiable_is_416_with_the_size(data_file: Path, header: str) -> None:
    response = get_range(data_file, header)
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */1000"
    assert response.content == b"Range Not Satisfiable"


def test_unsatisfiable_ranges_are_dropped_when_others_fit(data_file: Path) -> None:
    response = get_range(data_file, "bytes=2000-3000, 10-19")
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 10-19/1000"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=5-2",  # last before first: invalid
        "bytes=-",
        "bytes=",
        "bytes",
        "items=0-1",
        "bytes=0-1-2",
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=0x10-20",
        "bytes=1 0-20",
    ],
)
def test_invalid_range_headers_are_ignored(data_file: Path, header: str) -> None:
    response = get_range(data_file, header)
    assert response.status_code == 200
    assert response.content == CONTENT


@pytest.mark.parametrize(
    "value",
    [
        "bytes=\u0660-\u0669".encode(),  # Arabic-Indic digits
        "bytes=\uff10-\uff19".encode(),  # fullwidth digits
        "bytes=¹-2".encode("latin-1"),  # superscript one: str.isdigit() says yes
        b"bytes=\xb2-\xb3",
    ],
)
async def test_only_ascii_digits_count(data_file: Path, value: bytes) -> None:
    recorder = await call(file_app(data_file), http_scope("/file", headers=[(b"range", value)]))
    assert recorder.status == 200
    assert recorder.body == CONTENT


def test_range_is_ignored_for_head_and_post(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        head = client.head("/file", headers={"range": "bytes=0-9"})
        post = client.post("/file", headers={"range": "bytes=0-9"})
    assert head.status_code == 200
    assert head.headers["content-length"] == "1000"
    assert head.content == b""
    assert post.status_code == 200
    assert post.content == CONTENT


def test_if_range(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        first = client.get("/file")
        etag, modified = first.headers["etag"], first.headers["last-modified"]

        def ranged(if_range: str) -> Any:
            return client.get("/file", headers={"range": "bytes=0-9", "if-range": if_range})

        assert ranged(etag).status_code == 206
        assert ranged(modified).status_code == 206
        # A different or weak tag, or another date: the whole (changed) file instead.
        for validator in ('"other"', f"W/{etag}", formatdate(1_600_000_000, usegmt=True), "junk"):
            response = ranged(validator)
            assert response.status_code == 200, validator
            assert response.content == CONTENT


def test_conditionals_are_checked_before_ranges(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        etag = client.get("/file").headers["etag"]
        not_modified = client.get("/file", headers={"range": "bytes=0-9", "if-none-match": etag})
        failed = client.get("/file", headers={"range": "bytes=0-9", "if-match": '"x"'})
    assert not_modified.status_code == 304
    assert failed.status_code == 412


# ---------------------------------------------------------------------------- the parser itself
def test_parse_range_header_results() -> None:
    assert parse_range_header("bytes=0-9", 100) == [(0, 9)]
    assert parse_range_header("bytes=0-9", 0) is None
    assert parse_range_header("bytes=200-", 100) == []
    assert parse_range_header("bytes=0-1,1-2", 100) == [(0, 2)]
    assert parse_range_header("bytes=0-1,2-3", 100) == [(0, 1), (2, 3)]  # disjoint: kept


@given(header=st.text(max_size=80), size=st.integers(min_value=0, max_value=10_000))
def test_parse_range_header_never_fails_on_any_text(header: str, size: int) -> None:
    check_ranges(parse_range_header(header, size), size)


range_spec = st.one_of(
    st.tuples(st.integers(0, 3000), st.integers(0, 3000)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.integers(0, 3000).map(lambda n: f"{n}-"),
    st.integers(0, 3000).map(lambda n: f"-{n}"),
)


@given(specs=st.lists(range_spec, min_size=1, max_size=120), size=st.integers(0, 2000))
def test_parsed_ranges_fit_the_file_and_never_exceed_it(specs: list[str], size: int) -> None:
    ranges = parse_range_header("bytes=" + ",".join(specs), size)
    check_ranges(ranges, size)
    if len(specs) > MAX_RANGES or size == 0:
        assert ranges is None


def check_ranges(ranges: list[tuple[int, int]] | None, size: int) -> None:
    if ranges is None:
        return
    for start, end in ranges:
        assert 0 <= start <= end < size
    # Whatever was asked, what is sent is disjoint: never more than the file.
    ordered = sorted(ranges)
    assert all(b[0] > a[1] for a, b in itertools.pairwise(ordered))
    assert sum(end - start + 1 for start, end in ranges) <= size
