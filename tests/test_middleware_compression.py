"""CompressionMiddleware: negotiation, whole and streamed bodies, what is left alone."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from aaf import HttpResponse, JsonResponse, Middleware, Router, StreamingResponse, aaf
from aaf._types import Message
from aaf.files import FileResponse
from aaf.middleware import compression
from aaf.middleware.compression import CompressionMiddleware, available_encodings, choose_encoding
from aaf.testing import TestClient
from tests.conftest import call, http_scope

TEXT = "All work and no play makes Jack a dull boy. " * 100  # 4500 bytes, very compressible


def decoder(coding: str) -> Callable[[bytes], bytes]:
    """An incremental decoder: feed it the encoded chunks in order."""
    if coding == "gzip":
        gz = zlib.decompressobj(31)
        return gz.decompress
    if coding == "br":
        return brotli.Decompressor().process  # type: ignore[no-any-return]
    zs = zstandard.ZstdDecompressor().decompressobj()
    return zs.decompress


def app_with(handler_response: Callable[[], Any], **options: Any) -> Any:
    router = Router()

    @router.get("/")
    async def index(conn: Any) -> Any:
        return handler_response()

    return aaf([router], middleware=[Middleware(CompressionMiddleware, **options)])


def encoded_get(app: Any, accept: str | None, method: str = "GET") -> Any:
    """(status, headers, raw body bytes) as they left the app."""
    headers = [(b"host", b"test")]
    if accept is not None:
        headers.append((b"accept-encoding", accept.encode()))
    return call(app, http_scope("/", method, headers=headers))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
async def test_whole_bodies_are_compressed(coding: str) -> None:
    app = app_with(lambda: HttpResponse(TEXT, headers={"etag": '"v1"', "accept-ranges": "bytes"}))
    recorder = await encoded_get(app, coding)
    assert recorder.header(b"accept-ranges") is None
    assert recorder.header(b"content-encoding") == coding.encode()
    assert recorder.header(b"vary") == b"Accept-Encoding"
    assert int(recorder.header_once(b"content-length")) == len(recorder.body) < len(TEXT)
    assert recorder.header(b"etag") == b'W/"v1"'  # the encoded bytes are another representation
    assert decoder(coding)(recorder.body) == TEXT.encode()


def test_the_test_client_decodes_what_it_negotiated() -> None:
    app = app_with(lambda: JsonResponse({"text": TEXT}))
    with TestClient(app) as client:
        for accept, coding in (("gzip", "gzip"), ("br", "br"), ("zstd", "zstd")):
            response = client.get("/", headers={"accept-encoding": accept})
            assert response.headers["content-encoding"] == coding
            assert response.json() == {"text": TEXT}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate, br, zstd", "zstd"),  # equal weights: the server's order
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0", None),
        ("identity", None),
        ("*", "zstd"),
        ("*;q=0.1, zstd;q=0", "br"),
        ("gzip;q=0.001, br;q=0.002", "br"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=2", None),  # not a qvalue: treated as refused
        ("gzip;q=abc", None),
        ("gzip;q=0.0001", None),
        ("br;level=1;q=0.5, gzip;q=0.4", "br"),
        ("", None),
        (" , ;q=1", None),
    ],
)
def test_choose_encoding(accept: str, expected: str | None) -> None:
    assert choose_encoding(accept, ("zstd", "br", "gzip")) == expected


async def test_no_acceptable_encoding_still_says_vary() -> None:
    app = app_with(lambda: HttpResponse(TEXT))
    for accept in (None, "identity", "gzip;q=0"):
        recorder = await encoded_get(app, accept)
        assert recorder.header(b"content-encoding") is None
        assert recorder.header(b"vary") == b"Accept-Encoding"
        assert recorder.body == TEXT.encode()


async def test_small_bodies_are_left_alone() -> None:
    app = app_with(lambda: HttpResponse("tiny"), minimum_size=500)
    recorder = await encoded_get(app, "gzip")
    assert recorder.header(b"content-encoding") is None
    assert recorder.header(b"vary") == b"Accept-Encoding"
    assert recorder.body == b"tiny"


async def test_bodies_that_do_not_shrink_are_sent_as_they_are() -> None:
    noise = os.urandom(4000)
    app = app_with(lambda: HttpResponse(noise, media_type="text/plain"))
    recorder = await encoded_get(app, "gzip")
    assert recorder.header(b"content-encoding") is None
    assert recorder.header(b"content-length") == b"4000"
    assert recorder.body == noise


@pytest.mark.parametrize(
    "response",
    [
        lambda: HttpResponse(TEXT.encode(), media_type="image/png"),
        lambda: HttpResponse(TEXT, headers={"content-encoding": "br"}),
        lambda: HttpResponse(TEXT, headers={"cache-control": "public, no-transform"}),
        lambda: HttpResponse(TEXT, status_code=206, headers={"content-range": "bytes 0-1/9"}),
        lambda: HttpResponse(b"", status_code=204),
        lambda: HttpResponse(b"", status_code=304),
        lambda: HttpResponse(TEXT, headers={"content-type": "application/octet-stream"}),
    ],
)
async def test_responses_left_untouched(response: Callable[[], HttpResponse]) -> None:
    expected = response()
    recorder = await encoded_get(app_with(response), "gzip")
    assert recorder.status == expected.status_code
    assert recorder.header(b"vary") is None
    assert recorder.header(b"content-encoding") in (None, b"br")
    assert recorder.body == expected.body


async def test_identity_content_encoding_is_not_an_encoding() -> None:
    app = app_with(lambda: HttpResponse(TEXT, headers={"content-encoding": "identity"}))
    recorder = await encoded_get(app, "gzip")
    assert recorder.header(b"content-encoding") == b"gzip"


async def test_head_requests_are_not_compressed() -> None:
    recorder = await encoded_get(app_with(lambda: HttpResponse(TEXT)), "gzip", "HEAD")
    assert recorder.header(b"content-encoding") is None
    assert recorder.header(b"vary") == b"Accept-Encoding"
    assert recorder.header(b"content-length") == str(len(TEXT)).encode()


async def test_content_types_option() -> None:
    app = app_with(lambda: HttpResponse(TEXT, media_type="application/x-custom"))
    recorder = await encoded_get(app, "gzip")
    assert recorder.header(b"content-encoding") is None
    app = app_with(
        lambda: HttpResponse(TEXT, media_type="application/x-custom"),
        content_types=["application/x-custom"],
    )
    recorder = await encoded_get(app, "gzip")
    assert recorder.header(b"content-encoding") == b"gzip"
    app = app_with(
        lambda: HttpResponse(TEXT, media_type="application/vnd.thing+json"),
        content_types=["application/*+json"],
    )
    assert (await encoded_get(app, "gzip")).header(b"content-encoding") == b"gzip"


# ---------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
async def test_streamed_chunks_are_flushed_one_by_one(coding: str) -> None:
    """Each chunk the app sends comes out at once, decodable on its own: nothing is held."""
    chunks = [b"data: first event\n\n", b"data: second\n\n", b"data: " + b"x" * 3000 + b"\n\n"]
    out: list[Message] = []

    async def send(message: Message) -> None:
        out.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    decode = decoder(coding)
    decoded_so_far = b""

    def bodies() -> list[Message]:
        return [m for m in out if m["type"] == "http.response.body"]

    async def sse_app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal decoded_so_far
        headers = [(b"content-type", b"text/event-stream"), (b"content-length", b"99999")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # The middleware forwarded this chunk right away, and it decodes completely.
            assert len(bodies()) == index + 1
            decoded_so_far += decode(out[-1]["body"])
            assert decoded_so_far.endswith(chunk)
            await send({"type": "http.response.body", "body": b"", "more_body": True})
            assert len(bodies()) == index + 1  # an empty chunk produces nothing
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    middleware = CompressionMiddleware(sse_app)
    scope = http_scope("/", headers=[(b"accept-encoding", coding.encode())])
    await middleware(scope, receive, send)
    start = out[0]
    headers = dict(start["headers"])
    assert headers[b"content-encoding"] == coding.encode()
    assert b"content-length" not in headers  # the encoded length is not known up front
    assert out[-1]["more_body"] is False
    decoded_so_far += decode(out[-1]["body"])
    assert decoded_so_far == b"".join(chunks)


def test_streaming_response_through_the_client() -> None:
    async def lines() -> AsyncIterator[str]:
        for i in range(50):
            yield f"line {i} " + "padding " * 20 + "\n"

    app = app_with(lambda: StreamingResponse(lines(), media_type="text/plain"))
    with TestClient(app) as client:
        response = client.get("/", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "".join(f"line {i} " + "padding " * 20 + "\n" for i in range(50))


async def test_a_streamed_body_whose_first_message_is_the_last() -> None:
    async def one(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": TEXT.encode()})

    recorder = await call(
        CompressionMiddleware(one), http_scope("/", headers=[(b"accept-encoding", b"gzip")])
    )
    assert recorder.header(b"content-encoding") == b"gzip"
    assert gzip.decompress(recorder.body) == TEXT.encode()


async def test_a_small_body_without_content_length_is_left_alone() -> None:
    async def small(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"short"})

    recorder = await call(
        CompressionMiddleware(small), http_scope("/", headers=[(b"accept-encoding", b"gzip")])
    )
    assert recorder.header(b"content-encoding") is None
    assert recorder.header(b"vary") == b"Accept-Encoding"
    assert recorder.body == b"short"


async def test_pathsend_goes_out_untouched(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(TEXT)
    router = Router()

    @router.get("/")
    async def index(conn: Any) -> FileResponse:
        return FileResponse(path)

    app = aaf([router], middleware=[Middleware(CompressionMiddleware)])
    scope = http_scope(
        "/", headers=[(b"accept-encoding", b"gzip")], extensions={"http.response.pathsend": {}}
    )
    recorder = await call(app, scope)
    assert [m["type"] for m in recorder.sent] == ["http.response.start", "http.response.pathsend"]
    assert recorder.header(b"content-encoding") is None
    assert recorder.header(b"content-length") == str(len(TEXT)).encode()


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await call(CompressionMiddleware(inner), {"type": "lifespan"})
    assert seen == ["lifespan"]


# ---------------------------------------------------------------------------- configuration
def test_encodings_option_and_unknown_encodings() -> None:
    app = app_with(lambda: HttpResponse(TEXT), encodings=["gzip"])
    with TestClient(app) as client:
        assert (
            client.get("/", headers={"accept-encoding": "br, zstd, gzip"}).headers[
                "content-encoding"
            ]
            == "gzip"
        )
    with pytest.raises(ValueError, match="'lzma' is not available"):
        CompressionMiddleware(app, encodings=["lzma"])


def test_missing_optional_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "_brotli", None)
    monkeypatch.setattr(compression, "_zstd", None)
    assert available_encodings() == ("gzip",)
    with pytest.raises(ValueError, match=r"install brotli \(aaf's 'compression' extra\)"):
        CompressionMiddleware(app_with(lambda: HttpResponse("x")), encodings=["br"])
    assert compression._optional("no_such_module_for_aaf") is None


def test_negotiation_cache_is_bounded() -> None:
    middleware = CompressionMiddleware(app_with(lambda: HttpResponse("x")))
    for i in range(400):
        assert middleware.encoding_for(b"gzip;q=0.%d" % (i % 10 + 1) + b", x%d" % i) == "gzip"
        middleware.compressible(b"text/x-%d" % i)
    assert len(middleware._choices) <= 256
    fresh = CompressionMiddleware(app_with(lambda: HttpResponse("x")))
    assert fresh.encoding_for(b"br") == "br"
    assert fresh._choices == {b"br": "br"}
    fresh._choices[b"br"] = "gzip"
    assert fresh.encoding_for(b"br") == "gzip"  # answered from the cache
    assert len(middleware._compressible) <= 256
