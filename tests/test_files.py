"""FileResponse: headers, validators, conditional requests, HEAD, pathsend, disposition."""

from __future__ import annotations

import logging
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from aaf import Connection, Router, aaf
from aaf._types import Message
from aaf.conditional import (
    content_disposition,
    evaluate_preconditions,
    guess_media_type,
    if_range_holds,
    parse_http_date,
)
from aaf.files import FileResponse
from aaf.testing import TestClient
from tests.conftest import ASGIRecorder, call, http_scope

CONTENT = bytes(range(256)) * 4  # 1024 bytes, every byte value


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(CONTENT)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    return path


def file_app(path: Path, **options: Any) -> Any:
    router = Router()

    @router.route("/file", methods=["GET", "POST"])
    async def serve(conn: Connection) -> FileResponse:
        return FileResponse(path, **options)

    return aaf([router])


def test_whole_file_headers_and_body(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        response = client.get("/file")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "1024"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    st = data_file.stat()
    assert response.headers["etag"] == f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def test_etag_is_stable_and_changes_with_the_file(data_file: Path) -> None:
    app = file_app(data_file)
    with TestClient(app) as client:
        first = client.get("/file").headers["etag"]
        assert client.get("/file").headers["etag"] == first
        with TestClient(file_app(data_file)) as other_worker:
            assert other_worker.get("/file").headers["etag"] == first
        data_file.write_bytes(CONTENT + b"more")
        assert client.get("/file").headers["etag"] != first


def test_head_sends_the_same_headers_and_no_body(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        get = client.get("/file")
        head = client.head("/file")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == "1024"
    assert head.headers == get.headers


def test_missing_file_is_a_404(tmp_path: Path) -> None:
    with TestClient(file_app(tmp_path / "nope.txt")) as client:
        response = client.get("/file")
        directory = TestClient(file_app(tmp_path)).get("/file")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
    assert directory.status_code == 404


async def test_missing_file_as_asgi_app_is_a_plain_404(tmp_path: Path) -> None:
    recorder = await call(FileResponse(tmp_path / "nope.txt"), http_scope())
    assert recorder.status == 404
    assert recorder.body == b"Not Found"
    assert recorder.header(b"content-length") == b"9"


async def test_as_asgi_app_serves_the_file(data_file: Path) -> None:
    recorder = await call(FileResponse(data_file), http_scope())
    assert recorder.status == 200
    assert recorder.body == CONTENT


async def test_emit_sends_the_whole_file_with_extra_headers(data_file: Path) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await FileResponse(data_file).emit(http_scope(), send, [(b"x-extra", b"1")])
    assert (b"x-extra", b"1") in sent[0]["headers"]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == CONTENT
    sent.clear()
    await FileResponse(data_file).emit(http_scope(method="HEAD"), send)
    assert sent[1]["body"] == b""


def test_connection_headers_and_await_style(data_file: Path) -> None:
    router = Router()

    @router.get("/file")
    async def serve(conn: Connection) -> None:
        conn.put_resp_cookie("seen", "1")
        await FileResponse(data_file, status_code=conn)

    with TestClient(aaf([router])) as client:
        response = client.get("/file")
    assert response.content == CONTENT
    assert response.headers["set-cookie"].startswith("seen=1")


def test_media_types() -> None:
    assert guess_media_type("a.html") == "text/html"
    assert guess_media_type("a.json") == "application/json"
    assert guess_media_type("a.unknown-ext") == "application/octet-stream"
    # A compressed file is the archive, not the content type it wraps.
    assert guess_media_type("logo.svgz") == "application/gzip"
    assert guess_media_type("x.tar.gz") == "application/gzip"


def test_explicit_media_type_and_user_headers(data_file: Path) -> None:
    app = file_app(
        data_file, media_type="application/x-custom", headers={"cache-control": "max-age=60"}
    )
    with TestClient(app) as client:
        response = client.get("/file")
    assert response.headers["content-type"] == "application/x-custom"
    assert response.headers["cache-control"] == "max-age=60"


def test_media_type_comes_from_the_download_name(data_file: Path) -> None:
    with TestClient(file_app(data_file, filename="report.pdf")) as client:
        response = client.get("/file")
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="report.pdf"'


def test_status_other_than_200_skips_validators(data_file: Path) -> None:
    app = file_app(data_file, status_code=404)
    with TestClient(app) as client:
        response = client.get("/file", headers={"range": "bytes=0-1", "if-none-match": "*"})
    assert response.status_code == 404
    assert response.content == CONTENT
    assert "etag" not in response.headers
    assert "accept-ranges" not in response.headers


def test_chunk_size_must_be_positive(data_file: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        FileResponse(data_file, chunk_size=0)


# ---------------------------------------------------------------------------- disposition
def test_content_disposition_ascii_and_escaping() -> None:
    assert content_disposition("a.txt") == 'attachment; filename="a.txt"'
    assert content_disposition('say "hi"\\.txt', "inline") == (
        'inline; filename="say \\"hi\\"\\\\.txt"'
    )


def test_content_disposition_non_ascii_uses_filename_star() -> None:
    value = content_disposition("naïve résumé €.pdf")
    assert value == (
        'attachment; filename="na_ve r_sum_ _.pdf"; '
        "filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9%20%E2%82%AC.pdf"
    )
    value.encode("ascii")  # the header is pure ASCII


def test_content_disposition_never_carries_control_characters() -> None:
    value = content_disposition("evil\r\nSet-Cookie: x=1.txt")
    assert "\r" not in value
    assert "\n" not in value
    assert "filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20x%3D1.txt" in value


def test_content_disposition_type_is_checked() -> None:
    with pytest.raises(ValueError, match="'attachment' or 'inline'"):
        content_disposition("a.txt", "form-data")


def test_non_ascii_download_name_over_http(data_file: Path) -> None:
    with TestClient(file_app(data_file, filename="данные.txt")) as client:
        response = client.get("/file")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"______.txt\"; filename*=UTF-8''"
        "%D0%B4%D0%B0%D0%BD%D0%BD%D1%8B%D0%B5.txt"
    )


# ---------------------------------------------------------------------------- conditionals
def test_if_none_match_gives_304_with_validators(data_file: Path) -> None:
    app = file_app(data_file, headers={"cache-control": "no-cache"})
    with TestClient(app) as client:
        etag = client.get("/file").headers["etag"]
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            response = client.get("/file", headers={"if-none-match": header})
            assert response.status_code == 304, header
            assert response.content == b""
            assert response.headers["etag"] == etag
            assert response.headers["cache-control"] == "no-cache"
            assert "content-length" not in response.headers
            assert "content-type" not in response.headers
        assert client.get("/file", headers={"if-none-match": '"other"'}).status_code == 200
        assert client.head("/file", headers={"if-none-match": etag}).status_code == 304


def test_if_none_match_on_post_is_412(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        etag = client.get("/file").headers["etag"]
        response = client.post("/file", headers={"if-none-match": etag})
    assert response.status_code == 412
    assert response.content == b"Precondition Failed"


def test_if_modified_since(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        modified = client.get("/file").headers["last-modified"]
        later = formatdate(1_800_000_000, usegmt=True)
        earlier = formatdate(1_600_000_000, usegmt=True)
        assert client.get("/file", headers={"if-modified-since": modified}).status_code == 304
        assert client.get("/file", headers={"if-modified-since": later}).status_code == 304
        assert client.get("/file", headers={"if-modified-since": earlier}).status_code == 200
        assert client.get("/file", headers={"if-modified-since": "not a date"}).status_code == 200
        assert client.get("/file", headers={"if-modified-since": "x" * 100}).status_code == 200
        # If-None-Match present: If-Modified-Since is not even looked at (RFC 9110 13.2.2).
        both = {"if-none-match": '"other"', "if-modified-since": later}
        assert client.get("/file", headers=both).status_code == 200
        # Only GET and HEAD use If-Modified-Since.
        assert client.post("/file", headers={"if-modified-since": later}).status_code == 200


def test_if_match(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        etag = client.get("/file").headers["etag"]
        assert client.get("/file", headers={"if-match": etag}).status_code == 200
        assert client.get("/file", headers={"if-match": f'"a", {etag}'}).status_code == 200
        assert client.get("/file", headers={"if-match": "*"}).status_code == 200
        failed = client.get("/file", headers={"if-match": '"other"'})
        assert failed.status_code == 412
        assert failed.content == b"Precondition Failed"
        assert failed.headers["content-type"] == "text/plain; charset=utf-8"
        # If-Match uses the strong comparison: a weak tag never matches.
        assert client.get("/file", headers={"if-match": f"W/{etag}"}).status_code == 412


def test_if_unmodified_since(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        modified = client.get("/file").headers["last-modified"]
        earlier = formatdate(1_600_000_000, usegmt=True)
        assert client.get("/file", headers={"if-unmodified-since": modified}).status_code == 200
        assert client.get("/file", headers={"if-unmodified-since": earlier}).status_code == 412
        assert client.get("/file", headers={"if-unmodified-since": "garbage"}).status_code == 200
        # If-Match present: If-Unmodified-Since is ignored.
        etag = client.get("/file").headers["etag"]
        both = {"if-match": etag, "if-unmodified-since": earlier}
        assert client.get("/file", headers=both).status_code == 200


def test_repeated_if_none_match_headers_are_joined(data_file: Path) -> None:
    with TestClient(file_app(data_file)) as client:
        etag = client.get("/file").headers["etag"]
        response = client.get("/file", headers=[("if-none-match", '"a"'), ("if-none-match", etag)])
    assert response.status_code == 304


def test_evaluate_preconditions_order() -> None:
    etag = '"abc"'
    assert evaluate_preconditions("GET", {}, etag, 100) is None
    assert (
        evaluate_preconditions("GET", {"if-match": '"x"', "if-none-match": etag}, etag, 100) == 412
    )
    assert evaluate_preconditions("DELETE", {"if-none-match": "*"}, etag, 100) == 412
    assert evaluate_preconditions("GET", {"if-none-match": 'W/"abc"'}, etag, 100) == 304


def test_http_dates_and_if_range_as_plain_functions() -> None:
    date = "Tue, 14 Nov 2023 22:13:20 GMT"
    assert parse_http_date(date) == 1_700_000_000
    assert parse_http_date("yesterday") is None
    assert parse_http_date(date + " " * 60) is None  # too long to be a date: never parsed
    assert if_range_holds('"abc"', '"abc"', 0)
    assert not if_range_holds('W/"abc"', '"abc"', 0)  # a weak tag never matches If-Range
    assert if_range_holds(f" {date}", '"abc"', 1_700_000_000)
    assert not if_range_holds(date, '"abc"', 1_700_000_001)  # a date must match exactly


# ---------------------------------------------------------------------------- pathsend & streaming
async def test_pathsend_is_used_when_the_server_offers_it(data_file: Path) -> None:
    scope = http_scope("/file", extensions={"http.response.pathsend": {}})
    recorder = await call(file_app(data_file), scope)
    assert [m["type"] for m in recorder.sent] == ["http.response.start", "http.response.pathsend"]
    assert recorder.sent[1]["path"] == str(data_file)
    assert os.path.isabs(recorder.sent[1]["path"])
    assert recorder.header(b"content-length") == b"1024"


async def test_pathsend_with_a_relative_path_sends_an_absolute_one(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(data_file.parent)
    scope = http_scope("/file", extensions={"http.response.pathsend": {}})
    recorder = await call(file_app(Path("data.txt")), scope)
    assert recorder.sent[1]["path"] == str(data_file)


async def test_pathsend_is_not_used_for_ranges_or_head(data_file: Path) -> None:
    extensions: dict[str, Any] = {"http.response.pathsend": {}}
    ranged = http_scope("/file", headers=[(b"range", b"bytes=0-9")], extensions=extensions)
    recorder = await call(file_app(data_file), ranged)
    assert recorder.status == 206
    assert recorder.body == CONTENT[:10]
    assert all(m["type"] != "http.response.pathsend" for m in recorder.sent)
    head = await call(file_app(data_file), http_scope("/file", "HEAD", extensions=extensions))
    assert [m["type"] for m in head.sent] == ["http.response.start", "http.response.body"]
    assert head.body == b""


def test_pathsend_through_the_test_client(data_file: Path) -> None:
    app = file_app(data_file)

    async def with_pathsend(scope: Any, receive: Any, send: Any) -> None:
        scope["extensions"] = {"http.response.pathsend": {}}
        await app(scope, receive, send)

    with TestClient(with_pathsend) as client:
        assert client.get("/file").content == CONTENT


async def test_large_files_stream_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = os.urandom(10_000)
    path.write_bytes(content)
    recorder = await call(file_app(path, chunk_size=1024), http_scope("/file"))
    bodies = [m["body"] for m in recorder.sent[1:]]
    assert b"".join(bodies) == content
    assert max(len(b) for b in bodies) == 1024
    assert len(bodies) == 11  # ten chunks and the closing message
    assert recorder.sent[-1].get("more_body", False) is False
    assert all(m["more_body"] for m in recorder.sent[1:-1])


async def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    recorder = await call(file_app(path), http_scope("/file"))
    assert recorder.status == 200
    assert recorder.header(b"content-length") == b"0"
    assert recorder.body == b""
    ranged = await call(file_app(path), http_scope("/file", headers=[(b"range", b"bytes=0-")]))
    assert ranged.status == 200  # an empty file has no satisfiable range; the whole (empty) file


async def test_a_file_that_shrinks_is_cut_short_not_completed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shrinks.bin"
    path.write_bytes(b"x" * 5000)
    stat_before = path.stat()
    path.write_bytes(b"x" * 3000)
    app = file_app(path, stat_result=stat_before, chunk_size=1024)
    with caplog.at_level(logging.ERROR, "aaf.error"):
        recorder = await call(app, http_scope("/file"))
    assert recorder.header(b"content-length") == b"5000"
    assert all(m.get("more_body", False) for m in recorder.sent[1:])  # never finished
    assert "got shorter" in caplog.text


async def test_a_small_file_that_shrinks_is_a_500_before_anything_is_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shrinks.txt"
    path.write_bytes(b"x" * 500)
    stat_before = path.stat()
    path.write_bytes(b"x" * 10)
    with caplog.at_level(logging.ERROR, "aaf.error"):
        recorder = await call(file_app(path, stat_result=stat_before), http_scope("/file"))
    assert recorder.status == 500
    assert "got shorter" in caplog.text


async def test_a_file_removed_after_stat_is_a_404(tmp_path: Path) -> None:
    path = tmp_path / "gone.bin"
    path.write_bytes(b"x" * 5000)
    stat_before = path.stat()
    path.unlink()
    recorder = await call(
        file_app(path, stat_result=stat_before, chunk_size=1024), http_scope("/file")
    )
    assert recorder.status == 404


@pytest.mark.parametrize("as_asgi_app", [False, True])
async def test_streaming_stops_when_the_client_leaves(tmp_path: Path, as_asgi_app: bool) -> None:
    # uvicorn drops sends silently after a disconnect; the file must not be read to the end.
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(64 * 1024))
    app: Any = (
        FileResponse(path, chunk_size=1024) if as_asgi_app else file_app(path, chunk_size=1024)
    )
    recorder = ASGIRecorder(client_stays=False)
    await app(http_scope("/file"), recorder.receive, recorder.send)
    bodies = [m for m in recorder.sent if m["type"] == "http.response.body"]
    assert recorder.status == 200
    assert len(bodies) < 64  # stopped long before the 64 chunks of the file
