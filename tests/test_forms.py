"""conn.form(): url-encoded and multipart parsing, FormData and the form limits."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from aaf import HTTPError, Limits, Router, aaf
from aaf.connection import Connection
from aaf.forms import FormData, parse_form
from aaf.limits import DEFAULT_LIMITS, KiB
from aaf.testing import TestClient
from aaf.uploads import UploadFile
from tests.support.bodies import (
    BOUNDARY,
    FormApp,
    chunked,
    multipart,
    multipart_headers,
    part,
    post,
    scope_for,
)
from tests.support.forms import result

URLENCODED = [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded")]


# ---------------------------------------------------------------------------- url-encoded
async def test_urlencoded_fields_are_decoded_and_multi_valued() -> None:
    app = FormApp().app
    feeder = await post(app, "/form", [b"a=1+2&b=x&b=%C3%A9&empty=&bare"], URLENCODED)
    assert feeder.status == 200
    assert result(feeder) == {"a": ["1 2"], "b": ["x", "é"], "empty": [""], "bare": [""]}


async def test_urlencoded_fields_split_across_chunks() -> None:
    app = FormApp().app
    feeder = await post(app, "/form", [b"na", b"me=va", b"lue&o", b"ther=", b"2"], URLENCODED)
    assert result(feeder) == {"name": ["value"], "other": ["2"]}


async def test_urlencoded_semicolon_is_data() -> None:
    app = FormApp().app
    feeder = await post(app, "/form", [b"role=user&x=;role=admin"], URLENCODED)
    assert result(feeder) == {"role": ["user"], "x": [";role=admin"]}


async def test_urlencoded_invalid_utf8_is_replaced_not_an_error() -> None:
    app = FormApp().app
    feeder = await post(app, "/form", [b"a=%FF%FE"], URLENCODED)
    assert feeder.status == 200
    assert result(feeder) == {"a": ["\ufffd\ufffd"]}


@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20])
async def test_long_urlencoded_values_decode_across_windows(chunk: int) -> None:
    value = "é%+& ;/\x00" * 7000 + "end"
    body = urlencode({"a": value, "b": "x" * 40_000 + "%"}).encode()
    feeder = await post(FormApp().app, "/form", chunked(body, chunk), URLENCODED)
    assert result(feeder) == {"a": [value], "b": ["x" * 40_000 + "%"]}


async def test_urlencoded_with_charset_parameter() -> None:
    headers = [(b"content-type", b"application/x-www-form-urlencoded; charset=UTF-8")]
    feeder = await post(FormApp().app, "/form", [b"a=1"], headers)
    assert result(feeder) == {"a": ["1"]}


def test_form_through_the_test_client() -> None:
    client = TestClient(FormApp().app)
    response = client.post("/form", data={"a": "1", "b": ["2", "3"]})
    assert response.status_code == 200
    assert response.json() == {"a": ["1"], "b": ["2", "3"]}


# ---------------------------------------------------------------------------- content types
@pytest.mark.parametrize(
    "content_type",
    [b"application/json", b"text/plain", b"multipart/mixed; boundary=x", b""],
)
async def test_form_refuses_other_content_types_with_415(content_type: bytes) -> None:
    headers = [(b"content-type", content_type)] if content_type else []
    feeder = await post(FormApp().app, "/form", [b"a=1"], headers)
    assert feeder.status == 415
    assert b"multipart/form-data" in feeder.body


async def test_parse_form_reads_through_plain_callables() -> None:
    bodies = {
        "multipart": multipart([part("a", b"1"), part("f", b"data", filename="x.txt")]),
        "urlencoded": b"a=1&b=2",
    }
    asked: list[int] = []
    finishers: list[Callable[[], Any]] = []

    def reader(body: bytes) -> Callable[[int], AsyncGenerator[bytes, None]]:
        async def read_body(limit: int) -> AsyncGenerator[bytes, None]:
            asked.append(limit)
            yield body

        return read_body

    multipart_type = f"multipart/form-data; boundary={BOUNDARY}"
    form = await parse_form(
        multipart_type, reader(bodies["multipart"]), DEFAULT_LIMITS, finishers.append
    )
    upload = form["f"]
    assert form["a"] == "1"
    assert isinstance(upload, UploadFile)
    assert await upload.read() == b"data"
    assert asked == [DEFAULT_LIMITS.multipart]
    assert len(finishers) == 1  # the uploads are closed through on_finish
    finishers[0]()
    assert upload.closed
    simple = await parse_form(
        URLENCODED[1][1].decode(), reader(bodies["urlencoded"]), DEFAULT_LIMITS, finishers.append
    )
    assert simple.multi_items() == [("a", "1"), ("b", "2")]
    assert asked[1:] == [DEFAULT_LIMITS.body]
    assert len(finishers) == 1  # nothing to close for a url-encoded form
    with pytest.raises(HTTPError) as info:
        await parse_form(None, reader(b""), DEFAULT_LIMITS, finishers.append)
    assert info.value.status_code == 415


async def test_form_content_type_with_repeated_parameter_is_400() -> None:
    headers = [(b"content-type", b"multipart/form-data; boundary=a; boundary=b")]
    feeder = await post(FormApp().app, "/form", [b"--a--\r\n"], headers)
    assert feeder.status == 400
    assert b"given twice" in feeder.body


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        (b"multipart/form-data", b"needs a boundary"),
        (b"multipart/form-data; boundary=", b"needs a boundary"),
        (b"multipart/form-data; boundary=" + b"a" * 71, b"longer than 70"),
        (b"multipart/form-data; boundary=bad\\char", b"RFC 2046"),
        (b'multipart/form-data; boundary="ends with space "', b"RFC 2046"),
    ],
)
async def test_bad_boundaries_are_400(content_type: bytes, reason: bytes) -> None:
    feeder = await post(FormApp().app, "/form", [b"--x--\r\n"], [(b"content-type", content_type)])
    assert feeder.status == 400
    assert reason in feeder.body


async def test_boundary_of_70_characters_is_accepted() -> None:
    boundary = "b" * 70
    body = multipart([part("a", b"1")], boundary)
    feeder = await post(FormApp().app, "/form", [body], multipart_headers(boundary))
    assert feeder.status == 200
    assert result(feeder) == {"a": ["1"]}


async def test_quoted_boundary() -> None:
    body = multipart([part("a", b"1")], "with space")
    headers = [(b"content-type", b'multipart/form-data; boundary="with space"')]
    feeder = await post(FormApp().app, "/form", [body], headers)
    assert result(feeder) == {"a": ["1"]}


# ---------------------------------------------------------------------------- multipart
async def test_multipart_fields_and_files() -> None:
    forms = FormApp()
    body = multipart(
        [
            part("title", "héllo".encode()),
            part("title", b"second"),
            part("doc", b"file content", filename="report.txt", content_type="text/plain"),
            part("blob", b"\x00\x01", filename="data.bin"),
        ]
    )
    feeder = await post(forms.app, "/form", chunked(body, 7), multipart_headers())
    assert feeder.status == 200
    assert result(feeder) == {
        "title": ["héllo", "second"],
        "doc": [
            {"filename": "report.txt", "content_type": "text/plain", "size": 12, "in_memory": True}
        ],
        "blob": [
            {
                "filename": "data.bin",
                "content_type": "application/octet-stream",
                "size": 2,
                "in_memory": True,
            }
        ],
    }


async def test_multipart_via_test_client_httpx_encoding() -> None:
    forms = FormApp()
    client = TestClient(forms.app)
    response = client.post(
        "/form", data={"a": "1"}, files={"up": ("notes.md", b"# hi", "text/markdown")}
    )
    assert response.status_code == 200
    assert response.json()["up"][0]["filename"] == "notes.md"
    assert response.json()["a"] == ["1"]


async def test_empty_multipart_form() -> None:
    body = f"--{BOUNDARY}--\r\n".encode()
    feeder = await post(FormApp().app, "/form", [body], multipart_headers())
    assert feeder.status == 200
    assert result(feeder) == {}


async def test_preamble_and_epilogue_are_ignored() -> None:
    body = b"preamble text\r\n" + multipart([part("a", b"1")]) + b"epilogue"
    feeder = await post(FormApp().app, "/form", [body], multipart_headers())
    # python-multipart skips leading CR/LF only; a text preamble is malformed framing.
    assert feeder.status == 400
    body = b"\r\n\r\n" + multipart([part("a", b"1")]) + b"epilogue after the end"
    feeder = await post(FormApp().app, "/form", [body], multipart_headers())
    assert result(feeder) == {"a": ["1"]}


@pytest.mark.parametrize(
    ("filename", "exposed"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\\\Users\\\\me\\\\photo.jpg", "photo.jpg"),
        ("/absolute/path/x.txt", "x.txt"),
        ("..", ""),
        ("dir/", ""),
        ("", ""),
        ("naïve résumé.pdf", "naïve résumé.pdf"),
    ],
)
async def test_filename_is_reduced_to_a_base_name(filename: str, exposed: str) -> None:
    body = multipart([part("f", b"x", filename=filename)])
    feeder = await post(FormApp().app, "/form", [body], multipart_headers())
    assert feeder.status == 200
    assert result(feeder)["f"][0]["filename"] == exposed


async def test_filename_star_never_overrides_the_plain_filename() -> None:
    forms = FormApp()
    disposition = 'form-data; name="f"; filename="safe.txt"; filename*=UTF-8\'\'..%2F..%2Fevil.sh'
    raw = f"Content-Disposition: {disposition}\r\n\r\n".encode() + b"data"
    feeder = await post(forms.app, "/form", [multipart([raw])], multipart_headers())
    assert result(feeder)["f"][0]["filename"] == "safe.txt"
    # The raw header stays available for applications that want to decode it themselves.
    assert "filename*" in forms.uploads[0].headers["content-disposition"]


async def test_filename_star_alone_marks_a_file_without_a_filename() -> None:
    raw = b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''evil.sh\r\n\r\ndata"
    feeder = await post(FormApp().app, "/form", [multipart([raw])], multipart_headers())
    assert result(feeder)["f"][0]["filename"] is None
    assert result(feeder)["f"][0]["size"] == 4


async def test_quoted_escapes_in_names() -> None:
    raw = b'Content-Disposition: form-data; name="a\\"b"; filename="q\\"uote.txt"\r\n\r\nv'
    feeder = await post(FormApp().app, "/form", [multipart([raw])], multipart_headers())
    assert result(feeder) == {
        'a"b': [
            {
                "filename": 'q"uote.txt',
                "content_type": "application/octet-stream",
                "size": 1,
                "in_memory": True,
            }
        ]
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"Content-Type: text/plain\r\n\r\nx", b"no Content-Disposition"),
        (b'Content-Disposition: attachment; name="a"\r\n\r\nx', b"form-data; name="),
        (b'Content-Disposition: form-data; filename="a"\r\n\r\nx', b"form-data; name="),
        (b'Content-Disposition: form-data; name="a"; name="b"\r\n\r\nx', b"given twice"),
        (b'Content-Disposition: form-data; name="a\x01"\r\n\r\nx', b"control characters"),
        (b'Content-Disposition: form-data; name="a"; filename="x\x00.txt"\r\n\r\nx', b"control"),
        (b"Bad Header Name: x\r\n\r\nx", b"malformed multipart"),
        # A TAB may be in a header value, but not in a name or file name.
        (b'Content-Disposition: form-data; name="a\tb"\r\n\r\nx', b"name or filename has"),
        # Control characters in any part header value: they would reach upload.content_type
        # and upload.headers, and break (a 500) whatever echoes them into a response header.
        (
            b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
            b"Content-Type: text/plain\x1b[31m\r\n\r\nx",
            b"control characters",
        ),
        (b'Content-Disposition: form-data; name="a"\r\nX-Note: a\x7fb\r\n\r\nx', b"control"),
        (b'Content-Disposition: form-data; name="a"\r\nX-Note: a\x0bb\r\n\r\nx', b"control"),
    ],
)
async def test_bad_part_headers_are_400(raw: bytes, reason: bytes) -> None:
    feeder = await post(FormApp().app, "/form", [multipart([raw])], multipart_headers())
    assert feeder.status == 400
    assert reason in feeder.body


async def test_tabs_and_latin1_in_part_header_values_are_fine() -> None:
    raw = (
        b'Content-Disposition: form-data; name="f";\tfilename="caf\xc3\xa9.txt"\r\n'
        b"Content-Type: text/plain;\tcharset=utf-8\r\n\r\nx"
    )
    feeder = await post(FormApp().app, "/form", [multipart([raw])], multipart_headers())
    assert feeder.status == 200
    assert result(feeder)["f"][0]["content_type"] == "text/plain;\tcharset=utf-8"


async def test_field_values_with_invalid_utf8_are_replaced() -> None:
    feeder = await post(
        FormApp().app, "/form", [multipart([part("a", b"\xff")])], multipart_headers()
    )
    assert result(feeder) == {"a": ["\ufffd"]}


async def test_form_is_kept_and_body_can_be_read_first() -> None:
    router = Router()
    seen: list[Any] = []

    @router.post("/")
    async def handler(conn: Connection) -> Any:
        raw = await conn.body()
        first = await conn.form()
        second = await conn.form()
        seen.append(first is second)
        return {"raw": len(raw), "a": first["a"]}

    body = multipart([part("a", b"1")])
    feeder = await post(aaf([router]), "/", [body], multipart_headers())
    assert result(feeder) == {"raw": len(body), "a": "1"}
    assert seen == [True]


async def test_multipart_truncated_body_is_400() -> None:
    body = multipart([part("a", b"x" * 100, filename="a")], close=False)
    feeder = await post(FormApp().app, "/form", [body], multipart_headers())
    assert feeder.status == 400
    assert b"closing boundary" in feeder.body


# ---------------------------------------------------------------------------- FormData
async def test_form_data_mapping() -> None:
    upload = UploadFile("f", "a")
    form = FormData([("a", "1"), ("a", "2"), ("f", upload)])
    assert form["a"] == "2"
    assert form.getlist("a") == ["1", "2"]
    assert list(form) == ["a", "f"]
    assert len(form) == 2
    assert "a" in form
    assert "zz" not in form
    assert form.__contains__(3) is False
    assert form.multi_items() == [("a", "1"), ("a", "2"), ("f", upload)]
    assert form.uploads() == [upload]
    assert form == FormData([("a", "1"), ("a", "2"), ("f", upload)])
    assert form != FormData([("a", "1")])
    assert form.__eq__(42) is NotImplemented
    assert "FormData" in repr(form)
    await form.close()
    assert upload.closed


# ---------------------------------------------------------------------------- limits per route
async def test_route_limits_override_app_limits() -> None:
    forms = FormApp(route_limits=Limits(max_parts=2))
    body = multipart([part("a", b"1"), part("b", b"2"), part("c", b"3")])
    assert (await post(forms.app, "/form", [body], multipart_headers())).status == 200
    feeder = await post(forms.app, "/limited", [body], multipart_headers())
    assert feeder.status == 413
    assert b"more than 2 parts" in feeder.body


async def test_limits_can_be_raised_per_app() -> None:
    field = b"v" * (600 * KiB)
    body = multipart([part("a", field)])
    assert (await post(FormApp().app, "/form", [body], multipart_headers())).status == 413
    raised = FormApp(limits=Limits(max_field_size=1024 * KiB))
    feeder = await post(raised.app, "/form", chunked(body), multipart_headers())
    assert feeder.status == 200
    assert len(result(feeder)["a"][0]) == len(field)


def test_limits_accessors_need_resolved_values() -> None:
    with pytest.raises(RuntimeError, match="unresolved"):
        _ = Limits().multipart


@pytest.mark.parametrize("value", [-1, 1.5, "10"])
def test_limits_refuse_values_that_are_not_non_negative_ints(value: Any) -> None:
    with pytest.raises(ValueError, match="non-negative int"):
        Limits(max_parts=value)


def test_resolved_limits_have_every_accessor() -> None:
    from aaf.limits import DEFAULT_LIMITS

    resolved = DEFAULT_LIMITS.merged(Limits(max_files=3))
    assert (resolved.files, resolved.parts, resolved.field) == (3, 1000, 512 * KiB)
    assert (resolved.part_headers, resolved.part_header_size) == (8, 4 * KiB)
    assert (resolved.form_fields, resolved.spool, resolved.multipart) == (1000, 1 << 20, 16 << 20)
    assert resolved.websocket_message == 1 << 20
    assert DEFAULT_LIMITS.merged(None) is DEFAULT_LIMITS


async def test_form_on_a_connection_without_an_app_uses_the_defaults() -> None:
    body = multipart([part("a", b"1")])
    messages = [{"type": "http.request", "body": body}]

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent")

    conn = Connection(scope_for("/", multipart_headers()), receive, send)
    form = await conn.form()
    assert form["a"] == "1"
    assert conn.limits.multipart == 16 * 1024 * 1024
    assert conn._on_finish is not None  # the cleanup is registered for whoever runs it
    await conn.run_on_finish()
