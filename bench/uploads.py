"""Multipart upload throughput, in-process: aaf's ``conn.form()`` against Starlette's.

A 10 MiB file (plus one small field) is sent as ``multipart/form-data`` in 64 KiB chunks, the
way an ASGI server hands a body over, straight into each app (no network). Each app parses the
form, checks the upload's size and answers. Prints MiB/s (median of the rounds) for each
framework and the ratio aaf / Starlette measured in the same run.

    python bench/uploads.py              # 10 MiB, 9 rounds
    python bench/uploads.py --quick      # 3 rounds
    python bench/uploads.py --size-mib 4 --chunk-kib 16
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aaf import Limits, Router, aaf
from aaf.connection import Connection
from aaf.forms import UploadFile
from aaf.limits import MiB

BOUNDARY = "----aafbenchboundary7MA4YWxkTrZu0gW"
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def build_body(size: int) -> bytes:
    # Not a repeated byte: a realistic mix, with CR/LF pairs the parser must look at.
    block = bytes(range(256)) * 4 + b"\r\n-"
    data = (block * (size // len(block) + 1))[:size]
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="title"\r\n\r\n'
            "benchmark upload\r\n"
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="upload.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def aaf_app(size: int) -> ASGIApp:
    """Answers the uploaded file's size (-1 if the part was not a file)."""
    router = Router()

    @router.post("/upload")
    async def upload(conn: Connection) -> dict[str, int]:
        file = (await conn.form())["file"]
        return {"size": file.size if isinstance(file, UploadFile) else -1}

    # The stream limit is raised so that --size-mib can go past the 16 MiB default.
    return aaf([router], limits=Limits(max_multipart_size=size + MiB))


def starlette_app(size: int) -> ASGIApp | None:
    try:
        from starlette.applications import Starlette
        from starlette.datastructures import UploadFile as StarletteUpload
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError as exc:
        print(f"  (starlette skipped: {exc})", file=sys.stderr)
        return None

    async def upload(request: Request) -> JSONResponse:
        form = await request.form()
        try:
            file = form["file"]
            return JSONResponse({"size": file.size if isinstance(file, StarletteUpload) else -1})
        finally:
            await form.close()

    app: ASGIApp = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
    return app


def scope(length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(length).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def one_upload(app: ASGIApp, chunks: list[bytes], length: int) -> tuple[int, bytes]:
    index = 0
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        nonlocal index
        if index >= len(chunks):
            return {"type": "http.disconnect"}
        chunk = chunks[index]
        index += 1
        return {"type": "http.request", "body": chunk, "more_body": index < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body += message.get("body", b"")

    await app(scope(length), receive, send)
    return status, body


async def measure(app: ASGIApp, chunks: list[bytes], length: int, size: int, rounds: int) -> float:
    """Median seconds for one whole upload, after a checked warm-up run."""
    status, body = await one_upload(app, chunks, length)
    if status != 200 or body.replace(b" ", b"") != b'{"size":%d}' % size:
        raise SystemExit(f"the app answered {status} {body[:200]!r}; expected the upload size")
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        await one_upload(app, chunks, length)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def run(size: int, chunk: int, rounds: int) -> None:
    body = build_body(size)
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    mib = size / MiB
    results: dict[str, float] = {}
    apps: dict[str, ASGIApp | None] = {"aaf": aaf_app(size), "starlette": starlette_app(size)}
    for name, app in apps.items():
        if app is not None:
            results[name] = mib / await measure(app, chunks, len(body), size, rounds)
    print(
        f"\nMultipart upload, in-process: one {mib:g} MiB file in {chunk // 1024} KiB chunks "
        f"(median of {rounds} rounds)"
    )
    for name, rate in results.items():
        print(f"  {name:<10} {rate:8.1f} MiB/s")
    if "starlette" in results:
        print(f"  aaf / starlette: {results['aaf'] / results['starlette']:.2f}x (higher is better)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--size-mib", type=float, default=10)
    parser.add_argument("--chunk-kib", type=int, default=64)
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    asyncio.run(run(int(args.size_mib * MiB), args.chunk_kib * 1024, rounds))


if __name__ == "__main__":
    main()
