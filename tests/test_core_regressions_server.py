"""Regressions of the core redesign under real uvicorn, with both of its HTTP parsers (h11 and
httptools), over raw loopback sockets: what the server actually puts on the wire.

Item 1: a body sent where none may go (204, 304, HEAD) makes these servers drop the connection,
so the next pipelined request is never answered. Item 2: exactly one Content-Type line.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.servers import REPO, free_port, repo_env, run_process, server_command

pytestmark = pytest.mark.integration
TARGET = "tests.support.core_app:app"
READ_TIMEOUT = 10.0


@pytest.fixture(scope="module", params=["h11", "httptools"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A uvicorn serving the core app with the HTTP implementation ``request.param``."""
    number = free_port()
    command = [*server_command("uvicorn", TARGET, number), "--http", request.param]
    env = repo_env()
    with run_process(command, number, f"uvicorn --http {request.param}", cwd=REPO, env=env):
        yield number


class Response:
    def __init__(self, status: int, header_lines: list[bytes], body: bytes) -> None:
        self.status = status
        self.header_lines = header_lines
        self.body = body

    def values(self, name: bytes) -> list[bytes]:
        """Every value of header ``name`` as it came over the wire, repeated lines kept."""
        found = []
        for line in self.header_lines:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                found.append(value.strip())
        return found


class WireReader:
    """Reads HTTP/1.1 responses off a socket; every wait is bounded by the socket timeout."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.deadline = time.monotonic() + READ_TIMEOUT

    def _more(self, seen: list[Response]) -> None:
        if time.monotonic() > self.deadline:
            raise AssertionError(f"no complete response within {READ_TIMEOUT}s: {self.buffer!r}")
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            chunk = b""
        if not chunk:
            raise AssertionError(
                f"the server closed the connection after {len(seen)} response(s) "
                f"(statuses {[r.status for r in seen]}); left over: {self.buffer[:200]!r}"
            )
        self.buffer += chunk

    def _take(self, size: int, seen: list[Response]) -> bytes:
        while len(self.buffer) < size:
            self._more(seen)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self, seen: list[Response]) -> bytes:
        while b"\r\n" not in self.buffer:
            self._more(seen)
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def responses(self, head_flags: list[bool]) -> list[Response]:
        """One response per request sent; ``head_flags[i]``: request i was a HEAD."""
        seen: list[Response] = []
        for head in head_flags:
            status = int(self._line(seen).split(b" ", 2)[1])
            lines: list[bytes] = []
            while line := self._line(seen):
                lines.append(line)
            response = Response(status, lines, b"")
            if not head and status not in (204, 304):
                response.body = self._body(response, seen)
            seen.append(response)
        return seen

    def _body(self, response: Response, seen: list[Response]) -> bytes:
        if response.values(b"transfer-encoding") == [b"chunked"]:
            body = b""
            while size := int(self._line(seen).split(b";")[0], 16):
                body += self._take(size, seen)
                self._take(2, seen)
            self._line(seen)  # the empty trailer section
            return body
        return self._take(int(response.values(b"content-length")[0]), seen)


def exchange(port: int, requests: list[tuple[str, str]]) -> list[Response]:
    """Send ``requests`` (method, path) pipelined on one connection; read every response."""
    wire = b"".join(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for method, path in requests
    )
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(wire)
        return WireReader(sock).responses([method == "HEAD" for method, _ in requests])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/imperative/204", 204),
        ("GET", "/imperative/304", 304),
        ("GET", "/stream/204", 204),
        ("GET", "/stream/304", 304),
        ("GET", "/file/204", 204),
        ("GET", "/file/304", 304),
        ("HEAD", "/stream/200", 200),
        ("HEAD", "/file/200", 200),
    ],
)
def test_a_pipelined_request_after_a_no_body_answer_is_answered(
    port: int, method: str, path: str, status: int
) -> None:
    """Item 1: after an answer that may carry no body (the app tried to send one), the next
    request pipelined on the same connection is still answered."""
    first, second = exchange(port, [(method, path), ("GET", "/ok")])
    assert first.status == status
    assert first.body == b""
    assert second.status == 200
    assert second.body == b"ok"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/problem", b"application/problem+json"), ("/csv", b"text/csv")],
)
def test_exactly_one_content_type_line_on_the_wire(
    port: int, path: str, content_type: bytes
) -> None:
    """Item 2: a type put on the connection, or set through resp.headers, is the one
    Content-Type line the server sends."""
    (response,) = exchange(port, [("GET", path)])
    assert response.values(b"content-type") == [content_type]
