"""examples/demo: one app serving the page, the tasks API, the chat and the feed."""

from __future__ import annotations

import pytest
from examples.demo import app as demo_module
from examples.demo.app import STATIC, build_app, chat_secret_from_env
from examples.tasks import Settings

from aaf import App
from aaf.testing import AsyncTestClient, WebSocketDenied

from ..support.servers import free_port


@pytest.fixture
async def client() -> AsyncTestClient:
    return AsyncTestClient(build_app(Settings(database_url="sqlite:///:memory:")))


async def test_the_page_and_its_files_are_served(client: AsyncTestClient) -> None:
    async with client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.content == (STATIC / "index.html").read_bytes()
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        for name, media_type in (("app.js", "text/javascript"), ("style.css", "text/css")):
            response = await client.get(f"/static/{name}")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith(media_type)
            assert response.content == (STATIC / name).read_bytes()
        assert (await client.get("/static/../app.py")).status_code == 404
        assert (await client.get("/static/nothing.js")).status_code == 404


async def test_the_page_talks_to_the_routes_the_app_serves(client: AsyncTestClient) -> None:
    script = "".join(path.read_text() for path in sorted(STATIC.glob("*.js")))  # its modules
    for used in ('"/tasks"', "/chat/", '"/feed"', '"created", "updated", "deleted"', '"reset"'):
        assert used in script
    async with client:
        assert (await client.get("/tasks")).json()["items"] == []
        async with client.websocket_connect("/chat/lobby?user=ada", timeout=5) as ws:
            assert (await ws.receive_json())["type"] == "user_joined"
        async with client.stream("GET", "/feed") as feed:
            assert feed.headers["content-type"] == "text/event-stream"


def test_the_chat_secret_comes_from_the_environment() -> None:
    assert chat_secret_from_env({}) is None
    assert chat_secret_from_env({"CHAT_JWT_SECRET": "  "}) is None
    assert chat_secret_from_env({"CHAT_JWT_SECRET": " s3cret "}) == "s3cret"


async def test_with_a_secret_the_chat_needs_a_token() -> None:
    secret = "x" * 32
    app = build_app(Settings(database_url="sqlite:///:memory:"), chat_secret=secret)
    async with AsyncTestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/chat/lobby?user=ada", timeout=5):
                pass
        assert denied.value.status_code == 401


def test_the_module_level_app_reads_the_environment() -> None:
    assert isinstance(demo_module.app, App)


async def test_startup_fails_clearly_when_redis_cannot_be_reached() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = build_app(Settings(database_url="sqlite:///:memory:", redis_url=closed))
    with pytest.raises(Exception, match="cannot reach Redis"):
        async with AsyncTestClient(app):
            pass


async def test_the_demo_is_ready_once_started_with_its_database_checked(
    client: AsyncTestClient,
) -> None:
    unstarted = AsyncTestClient(build_app(Settings(database_url="sqlite:///:memory:")))
    not_open = await unstarted.get("/readyz")  # no lifespan ran: the database is not open
    assert not_open.status_code == 503
    assert not_open.json()["checks"] == {"database": "failed"}
    async with client:
        assert (await client.get("/livez")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}
