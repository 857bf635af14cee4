"""103 Early Hints over a real server: hypercorn advertises the extension on HTTP/2 (here
cleartext, with prior knowledge) and sends the 103 before the response; on HTTP/1.1 it does
not advertise it, so nothing is sent. (uvicorn, daphne and granian do not advertise it on
HTTP/1.1, the only protocol they serve here.)"""

from __future__ import annotations

import socket

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from tests.support.early_hints_app import STYLE_LINK
from tests.support.servers import serve

pytestmark = pytest.mark.integration
TARGET = "tests.support.early_hints_app:app"


def h2_get(base_url: str, path: str) -> list[h2.events.Event]:
    """One HTTP/2 GET over cleartext (prior knowledge); every event of its stream, bounded."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    events: list[h2.events.Event] = []
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        request = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", host)]
        connection.send_headers(stream, request, end_stream=True)
        sock.sendall(connection.data_to_send())
        for _ in range(100):  # a bounded read loop: the socket timeout bounds each read
            data = sock.recv(65536)
            if not data:
                break
            received = connection.receive_data(data)
            events += [e for e in received if getattr(e, "stream_id", None) == stream]
            sock.sendall(connection.data_to_send())
            if any(isinstance(e, h2.events.StreamEnded) for e in received):
                break
    return events


def test_hypercorn_sends_the_103_before_the_response_over_http2() -> None:
    with serve(TARGET, server="hypercorn") as base:
        events = h2_get(base, "/")
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["InformationalResponseReceived", "ResponseReceived"], kinds
    hint, response = events[0], events[1]
    assert isinstance(hint, h2.events.InformationalResponseReceived)
    assert isinstance(response, h2.events.ResponseReceived)
    assert (b":status", b"103") in (hint.headers or [])
    assert (b"link", STYLE_LINK.encode()) in (hint.headers or [])
    assert (b":status", b"200") in (response.headers or [])
    body = b"".join(e.data or b"" for e in events if isinstance(e, h2.events.DataReceived))
    assert body == b'{"early_hints_sent":true}'


def test_over_http1_hypercorn_gets_no_hints_and_the_response_is_whole() -> None:
    with serve(TARGET, server="hypercorn") as base:
        response = httpx.get(f"{base}/", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"early_hints_sent": False}
    assert response.headers["link"] == STYLE_LINK
