"""Static files over a real socket: uvicorn (chunked reads) and granian (pathsend) to curl."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import require_binary, serve

pytestmark = pytest.mark.integration

CONTENT = os.urandom(300_000)  # several read chunks


def curl(url: str, *args: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request made by curl."""
    binary = require_binary("curl", hint="apt-get install curl")
    result = subprocess.run(
        [binary, "--silent", "--show-error", "--max-time", "20", "--dump-header", "-", *args, url],
        capture_output=True,
        timeout=30,
        check=True,
    )
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("static")
    (directory / "data.bin").write_bytes(CONTENT)
    (tmp_path_factory.getbasetemp() / "secret.txt").write_text("SECRET")
    return directory


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_range_request_gets_exactly_those_bytes(static_dir: Path, server: str) -> None:
    with serve(
        "tests.support.static_app:app", server=server, env={"AAF_STATIC_DIR": str(static_dir)}
    ) as url:
        status, headers, body = curl(url + "/static/data.bin", "--header", "Range: bytes=0-99")
        assert status == 206
        assert headers["content-range"] == f"bytes 0-99/{len(CONTENT)}"
        assert headers["content-length"] == "100"
        assert body == CONTENT[:100]

        status, headers, body = curl(url + "/static/data.bin")
        assert status == 200
        assert body == CONTENT  # whole file: chunked reads (uvicorn) or pathsend (granian)
        etag = headers["etag"]

        status, _, body = curl(url + "/static/data.bin", "--header", f"If-None-Match: {etag}")
        assert status == 304
        assert body == b""

        status, headers, body = curl(url + "/download", "--header", "Range: bytes=-10")
        assert status == 206
        assert body == CONTENT[-10:]
        assert "filename*=UTF-8''donn%C3%A9es.bin" in headers["content-disposition"]


def test_traversal_over_a_real_socket(static_dir: Path) -> None:
    with serve("tests.support.static_app:app", env={"AAF_STATIC_DIR": str(static_dir)}) as url:
        for path in (
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/..%5csecret.txt",
        ):
            status, _, body = curl(url + path, "--path-as-is")
            assert status == 404, path
            assert b"SECRET" not in body
