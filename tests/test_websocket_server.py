"""WebSockets under a real uvicorn over a loopback socket (the ``websockets`` package as client)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.support.servers import serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("tests.support.realtime_app:app") as url:
        yield url.replace("http://", "ws://")


async def test_echo_with_subprotocol_over_a_real_socket(base_url: str) -> None:
    async with connect(
        f"{base_url}/echo/lobby", subprotocols=[Subprotocol("echo")], proxy=None
    ) as ws:
        assert ws.subprotocol == "echo"
        await ws.send("hello")
        assert await ws.recv() == "lobby: hello"
        await ws.send("again")
        assert await ws.recv() == "lobby: again"


async def test_denial_is_a_real_http_response(base_url: str) -> None:
    with pytest.raises(InvalidStatus) as denied:
        async with connect(f"{base_url}/private", proxy=None):
            pass
    assert denied.value.response.status_code == 401
    async with connect(
        f"{base_url}/private", additional_headers={"authorization": "Bearer ok"}, proxy=None
    ) as ws:
        assert await ws.recv() == "welcome"


async def test_unknown_path_is_refused_before_the_handshake(base_url: str) -> None:
    with pytest.raises(InvalidStatus) as denied:
        async with connect(f"{base_url}/nowhere", proxy=None):
            pass
    assert denied.value.response.status_code == 404
    assert denied.value.response.body == b"Not Found"
