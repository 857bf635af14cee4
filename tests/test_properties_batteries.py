"""Property-based tests for the parsers of the batteries: Range, If-None-Match/If-Match,
HTTP dates, Content-Disposition, Accept-Encoding, RFC 7239 Forwarded and Host names."""

from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import unquote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aaf.conditional import (
    MAX_RANGES,
    content_disposition,
    evaluate_preconditions,
    parse_range_header,
)
from aaf.middleware.compression import choose_encoding
from aaf.middleware.hosts import host_name
from aaf.middleware.proxy import parse_forwarded

PROPERTY = settings(
    deadline=None,
    max_examples=int(os.environ.get("AAF_PROPERTY_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
)
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
header_text = st.text(st.characters(max_codepoint=255), max_size=200)
sizes = st.integers(min_value=0, max_value=10**6)
range_chars = st.text('0123456789-, =bytes\t;\\"', max_size=120)


# ---------------------------------------------------------------------------- Range
@PROPERTY
@given(st.one_of(header_text, range_chars.map(lambda s: "bytes=" + s)), sizes)
@example("bytes=0-,0-", 100)
@example("bytes=0-9,5-20,-5,90-", 100)
def test_range_parser_never_fails_and_stays_inside_the_file(header: str, size: int) -> None:
    ranges = parse_range_header(header, size)
    if ranges is None:
        return
    assert len(ranges) <= MAX_RANGES
    for first, last in ranges:
        assert 0 <= first <= last < size
    # Never more bytes than the file: overlapping ranges are merged.
    assert sum(last - first + 1 for first, last in ranges) <= size


@st.composite
def disjoint_ranges(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    size = draw(st.integers(min_value=1, max_value=10**6))
    cuts = sorted(set(draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=20))))
    pairs = [(cuts[i], cuts[i + 1] - 1) for i in range(0, len(cuts) - 1, 2)]
    pairs = [(a, b) for a, b in pairs if a <= b] or [(0, size - 1)]
    order = draw(st.permutations(pairs))
    return size, list(order)


@PROPERTY
@given(disjoint_ranges(), st.booleans())
def test_disjoint_ranges_round_trip_in_the_order_asked(
    case: tuple[int, list[tuple[int, int]]], spaces: bool
) -> None:
    size, ranges = case
    separator = ", " if spaces else ","
    header = "bytes=" + separator.join(f"{a}-{b}" for a, b in ranges)
    assert parse_range_header(header, size) == ranges


@PROPERTY
@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**7))
def test_suffix_ranges_give_the_last_bytes(size: int, suffix: int) -> None:
    assert parse_range_header(f"bytes=-{suffix}", size) == [(max(size - suffix, 0), size - 1)]


@PROPERTY
@given(st.integers(min_value=1, max_value=10**6))
def test_non_ascii_digits_are_never_numbers(size: int) -> None:
    for digits in ("\u0661\u0662", "\uff11", "\u0967"):
        assert parse_range_header(f"bytes={digits}-", size) is None


# ---------------------------------------------------------------------------- conditionals
@PROPERTY
@given(
    st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
    st.dictionaries(
        st.sampled_from(["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]),
        header_text,
    ),
    st.integers(min_value=0, max_value=2**40),
)
def test_preconditions_never_fail(method: str, headers: dict[str, str], mtime: int) -> None:
    assert evaluate_preconditions(method, headers, '"abc-123"', mtime) in (None, 304, 412)


@PROPERTY
@given(st.lists(st.text("abcdef0123456789-", min_size=1, max_size=12), max_size=8))
def test_if_none_match_finds_a_listed_etag(others: list[str]) -> None:
    etag = '"target-1"'
    listed = ", ".join([*(f'W/"{o}"' for o in others), etag])
    assert evaluate_preconditions("GET", {"if-none-match": listed}, etag, 0) == 304
    assert evaluate_preconditions("GET", {"if-match": listed}, etag, 0) is None


# ---------------------------------------------------------------------------- disposition
@PROPERTY
@given(st.text(st.characters(exclude_categories=SURROGATES), min_size=1, max_size=60))
def test_content_disposition_has_no_controls_and_round_trips(filename: str) -> None:
    value = content_disposition(filename)
    assert not re.search(r"[\x00-\x1f\x7f]", value)
    value.encode("latin-1")  # a valid header value
    match = re.search(r"filename\*=UTF-8''(\S+)$", value)
    if match is not None:
        assert unquote(match.group(1), errors="strict") == filename


# ---------------------------------------------------------------------------- encodings
OFFERED = ("zstd", "br", "gzip")


@PROPERTY
@given(header_text)
def test_accept_encoding_choice_is_offered_or_none(header: str) -> None:
    assert choose_encoding(header, OFFERED) in (*OFFERED, None)


@PROPERTY
@given(st.permutations(OFFERED), st.sampled_from(OFFERED))
def test_q_zero_refuses_a_coding_even_with_a_star(order: list[str], refused: str) -> None:
    header = ", ".join(f"{c};q=0" if c == refused else c for c in order) + ", *;q=0.5"
    assert choose_encoding(header, OFFERED) != refused
    assert choose_encoding(f"{refused};q=0", OFFERED) is None


# ---------------------------------------------------------------------------- proxies, hosts
@PROPERTY
@given(header_text)
def test_forwarded_parser_never_fails(header: str) -> None:
    for element in parse_forwarded(header):
        assert all(key == key.lower() for key in element)


quoted_values = st.text(
    st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'), max_size=20
)


@PROPERTY
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["for", "by", "proto", "host"]), quoted_values),
        min_size=1,
        max_size=5,
    )
)
def test_forwarded_round_trip(elements: list[dict[str, str]]) -> None:
    header = ", ".join(";".join(f'{k}="{v}"' for k, v in e.items()) for e in elements)
    assert parse_forwarded(header) == elements


@PROPERTY
@given(header_text)
def test_host_name_never_fails_and_drops_the_port(value: str) -> None:
    name = host_name(value)
    assert name == name.lower()
    assert host_name("Example.COM.:8443") == "example.com"
