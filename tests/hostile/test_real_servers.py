"""The body protections hold behind real ASGI servers, over loopback sockets."""

from __future__ import annotations

import contextlib
import socket
import time

import httpx
import pytest

from tests.support.servers import serve

pytestmark = pytest.mark.integration
SERVERS = ["uvicorn", "hypercorn"]
TARGET = "tests.hostile.served_app:app"


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("server", SERVERS)
def test_forms_and_refusals_over_the_wire(server: str) -> None:
    with serve(TARGET, server=server) as url, httpx.Client(base_url=url, timeout=10) as client:
        files = {"up": ("../../etc/passwd", b"data", "text/plain")}
        response = client.post("/form", data={"a": "1"}, files=files)
        assert response.status_code == 200
        assert response.json() == {"a": ["1"], "up": ["passwd"]}
        response = client.post(
            "/form",
            content=b"--b\r\nBad Header: x\r\n\r\n",
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 400
        response = client.post("/body", content=b"x" * (1024 * 1024 + 1))
        assert response.status_code == 413
        assert client.get("/ping").text == "pong"


@pytest.mark.parametrize("server", SERVERS)
def test_huge_content_length_is_refused_without_waiting_for_the_body(server: str) -> None:
    with serve(TARGET, server=server) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\nabc"
            )
            assert read_status(sock) == 413


@pytest.mark.parametrize("server", SERVERS)
def test_endless_chunked_body_is_cut_off(server: str) -> None:
    with serve(TARGET, server=server) as url:
        port = int(url.rsplit(":", 1)[1])
        chunk = b"x" * 65536
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            sock.setblocking(False)
            deadline = time.monotonic() + 20
            response = b""
            while time.monotonic() < deadline and b"\r\n" not in response:
                with contextlib.suppress(BlockingIOError):
                    response += sock.recv(4096)
                try:
                    if sent < 256 * 1024 * 1024:
                        sent += sock.send(framed)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.001)
            assert response.startswith(b"HTTP/1.1 413"), response[:100]
        # The server answered long before the client was done (kernel buffers aside).
        assert sent < 64 * 1024 * 1024
