"""URL-encoded forms: floods stop early, ';' is data, memory and time stay bounded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aaf import Limits, QueryParams, Router, aaf
from aaf.connection import Connection
from aaf.limits import KiB, MiB
from tests.support.bodies import (
    FormApp,
    chunked,
    cpu_time,
    endless,
    growth_ratio,
    peak_memory,
    post,
)

URLENCODED = [(b"content-type", b"application/x-www-form-urlencoded")]
LINEAR = 10


async def test_field_flood_is_413_and_reading_stops() -> None:
    body = b"a=1&" * 100_000
    feeder = await post(FormApp().app, "/form", chunked(body, 2 * KiB), URLENCODED)
    assert feeder.status == 413
    assert b"more than 1000 fields" in feeder.body
    # 512 separators per 2 KiB chunk: the second chunk crosses 1000 and is the last read.
    assert feeder.calls == 2


async def test_bare_separator_flood_is_413_early() -> None:
    feeder = await post(FormApp().app, "/form", endless(b"&" * 512), URLENCODED)
    assert feeder.status == 413
    assert feeder.calls == 2  # 1024 '&' > 1000


async def test_a_thousand_fields_are_fine_and_the_limit_can_be_raised() -> None:
    body = b"&".join(b"f%d=%d" % (i, i) for i in range(1000))
    feeder = await post(FormApp().app, "/form", [body], URLENCODED)
    assert feeder.status == 200
    assert len(json.loads(feeder.body)) == 1000
    body += b"&last=1"
    assert (await post(FormApp().app, "/form", [body], URLENCODED)).status == 413
    raised = FormApp(limits=Limits(max_form_fields=2000))
    assert (await post(raised.app, "/form", [body], URLENCODED)).status == 200


async def test_field_count_past_the_limit_without_trailing_separators_is_413() -> None:
    forms = FormApp(limits=Limits(max_form_fields=3))
    # 3 separators (allowed) but 4 fields.
    feeder = await post(forms.app, "/form", [b"a=1&b=2&c=3&d=4"], URLENCODED)
    assert feeder.status == 413


async def test_semicolon_is_never_a_separator() -> None:
    feeder = await post(FormApp().app, "/form", [b"role=user&x=;role=admin;a=b"], URLENCODED)
    assert json.loads(feeder.body) == {"role": ["user"], "x": [";role=admin;a=b"]}


async def test_semicolon_is_data_in_query_strings_too() -> None:
    router = Router()

    @router.get("/")
    async def handler(conn: Connection) -> Any:
        return {k: conn.query.getlist(k) for k in conn.query}

    feeder = await post(
        aaf([router]), "/", [b""], [], method="GET", query=b"role=user&x=;role=admin;a=b"
    )
    assert json.loads(feeder.body) == {"role": ["user"], "x": [";role=admin;a=b"]}
    assert QueryParams("a=1;b=2").multi_items() == [("a", "1;b=2")]


async def test_one_huge_value_memory_is_bounded() -> None:
    body = b"a=" + b"%41" * 349_000  # just under 1 MiB

    async def work() -> object:
        return await post(FormApp().app, "/form", chunked(body), URLENCODED)

    feeder, peak = await peak_memory(work)
    assert feeder.status == 200
    assert peak < 6 * MiB  # a few copies of the 1 MiB body at most, never more
    assert json.loads(feeder.body) == {"a": ["A" * 349_000]}


async def test_parsing_time_is_linear() -> None:
    app = FormApp(limits=Limits(max_body_size=64 * MiB, max_form_fields=10**7)).app

    async def work(chunks: list[bytes]) -> None:
        feeder = await post(app, "/form", chunks, URLENCODED)
        assert feeder.status == 200

    for unit in (b"a=b&", b"&&", b"%", b"%2", b"+", b"a", b"=", b";"):

        def prepare(n: int, unit: bytes = unit) -> list[bytes]:
            return list(chunked(unit * n))

        assert await growth_ratio(prepare, work, 15_000 // len(unit)) < LINEAR, unit


async def test_bare_percent_signs_cost_less_than_real_escapes() -> None:
    # A body of '%' that are no escapes used to cost ~5 times a body of real escapes (the
    # standard library raises and catches an exception for each), ~0.3 s of event-loop CPU
    # per MiB. Compared with real escapes of the same size in the same run, not with a clock.
    def prepare(unit: bytes) -> Callable[[int], list[bytes]]:
        return lambda n: list(chunked(b"a=" + unit * (n // len(unit))))

    async def work(chunks: list[bytes]) -> None:
        feeder = await post(FormApp().app, "/form", chunks, URLENCODED)
        assert feeder.status == 200

    size = 256 * KiB
    escapes = await cpu_time(prepare(b"%41")(size), work)
    # Today each costs at most ~0.8 of the escapes; the old slow path cost ~5 times. Twice the
    # escapes tells them apart with room for noise.
    for unit in (b"%", b"%4", b"%%41", b"%zz"):
        assert await cpu_time(prepare(unit)(size), work) < 2 * escapes, unit
