"""Background tasks: after the response, in order, errors logged, dropped on failure, drained."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, cast

import pytest

from aaf import Connection, HTTPError, Router, aaf
from aaf.background import BackgroundRunner, BackgroundTask
from aaf.lifespan import LifespanClient
from aaf.testing import TestClient
from tests.conftest import ASGIRecorder, http_scope
from tests.support.ws import drive, ws_scope

Message = dict[str, Any]


def app_with_tasks(log: list[Any], **options: Any) -> Any:
    router = Router()

    async def notify(recorder: ASGIRecorder | None, name: str, *, suffix: str = "") -> None:
        # What the client had received when the task ran.
        last = recorder.sent[-1] if recorder is not None and recorder.sent else {}
        done = last.get("type") == "http.response.body" and not last.get("more_body", False)
        log.append((name + suffix, "after response" if done else "?"))

    def sync_job(name: str) -> None:
        log.append((name, threading.current_thread() is not threading.main_thread()))

    @router.post("/signup")
    async def signup(conn: Connection) -> dict[str, str]:
        recorder = conn.scope.get("recorder")
        conn.add_background(notify, recorder, "welcome", suffix="-mail")
        conn.add_background(sync_job, "sync")
        conn.add_background(notify, recorder, "audit")
        return {"status": "ok"}

    @router.post("/failing")
    async def failing(conn: Connection) -> str:
        def broken() -> None:
            raise ValueError("smtp down")

        conn.add_background(broken)
        conn.add_background(sync_job, "still runs")
        return "ok"

    @router.post("/raises")
    async def raises(conn: Connection) -> None:
        conn.add_background(sync_job, "must not run")
        raise HTTPError(409, "taken")

    @router.post("/crashes")
    async def crashes(conn: Connection) -> None:
        conn.add_background(sync_job, "must not run either")
        raise RuntimeError("bug")

    @router.post("/slow")
    async def slow(conn: Connection) -> str:
        conn.add_background(options["slow"])
        return "accepted"

    return aaf(router, background_timeout=options.get("timeout", 10.0))


async def test_tasks_run_after_the_response_in_order_sync_ones_in_threads() -> None:
    log: list[Any] = []
    recorder = ASGIRecorder()
    await aaf_call(app_with_tasks(log), "/signup", recorder)
    assert recorder.body == b'{"status":"ok"}'
    assert log == [("welcome-mail", "after response"), ("sync", True), ("audit", "after response")]


async def aaf_call(app: Any, path: str, recorder: ASGIRecorder) -> None:
    scope = http_scope(path, method="POST", recorder=recorder)
    await app(scope, recorder.receive, recorder.send)


def test_the_test_client_returns_after_the_tasks_ran() -> None:
    log: list[Any] = []
    with TestClient(app_with_tasks(log)) as client:
        assert client.post("/signup").json() == {"status": "ok"}
        assert [name for name, _ in log] == ["welcome-mail", "sync", "audit"]


async def test_task_errors_are_logged_with_the_route_and_do_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[Any] = []
    recorder = ASGIRecorder()
    with caplog.at_level(logging.ERROR, logger="aaf.background"):
        await aaf_call(app_with_tasks(log), "/failing", recorder)
    assert recorder.status == 200
    assert recorder.body == b"ok"
    assert log == [("still runs", True)]
    [record] = caplog.records
    assert record.getMessage() == (
        "background task app_with_tasks.<locals>.failing.<locals>.broken for "
        "POST '/failing' (failing) failed"
    )
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "smtp down"


@pytest.mark.parametrize(("path", "status"), [("/raises", 409), ("/crashes", 500)])
async def test_tasks_of_a_failed_handler_are_dropped(
    path: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[Any] = []
    recorder = ASGIRecorder()
    with caplog.at_level(logging.WARNING, logger="aaf.error"):
        await aaf_call(app_with_tasks(log), path, recorder)
    assert recorder.status == status
    assert log == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"dropping 1 background task(s) of POST {path!r} ({path[1:]}): the handler raised "
        + ("HTTPError" if status == 409 else "RuntimeError")
    ]


async def test_shutdown_waits_for_running_tasks() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow() -> None:
        await release.wait()
        finished.append("slow")

    app = app_with_tasks([], slow=slow)
    lifespan = LifespanClient("test", app)
    assert await lifespan.startup({})
    recorder = ASGIRecorder()
    request = asyncio.ensure_future(aaf_call(app, "/slow", recorder))
    await asyncio.sleep(0.01)
    assert recorder.body == b"accepted"  # the client has its answer...
    assert app.background.pending == 1  # ...while the task still runs
    shutdown = asyncio.ensure_future(lifespan.shutdown())
    await asyncio.sleep(0.01)
    assert not shutdown.done()
    release.set()
    await asyncio.wait_for(shutdown, 1)
    await asyncio.wait_for(request, 1)
    assert finished == ["slow"]
    assert app.background.pending == 0


async def test_shutdown_cancels_tasks_still_running_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    app = app_with_tasks([], slow=stuck, timeout=0.05)
    lifespan = LifespanClient("test", app)
    assert await lifespan.startup({})
    request = asyncio.ensure_future(aaf_call(app, "/slow", ASGIRecorder()))
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="aaf.background"):
        await asyncio.wait_for(lifespan.shutdown(), 2)
    assert cancelled.is_set()
    assert "cancelling 1 background task batch(es) still running after 0.05s" in caplog.text
    await asyncio.wait_for(request, 1)  # the request ends normally, not with a cancellation


async def test_work_goes_on_when_the_server_cancels_the_request() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow() -> None:
        await release.wait()
        finished.append("slow")

    app = app_with_tasks([], slow=slow)
    request = asyncio.ensure_future(aaf_call(app, "/slow", ASGIRecorder()))
    await asyncio.sleep(0.01)
    request.cancel()
    await asyncio.wait({request})
    assert app.background.pending == 1
    release.set()
    await asyncio.wait_for(app.background.drain(), 1)
    assert finished == ["slow"]


async def test_websocket_tasks_run_after_the_socket_closed() -> None:
    router = Router()
    log: list[str] = []

    @router.websocket("/ws")
    async def ws(conn: Connection) -> None:
        await conn.accept()
        conn.add_background(lambda: log.append("after close"))

    driver = await drive(aaf(router), ws_scope("/ws"))
    assert driver.types[-1] == "websocket.close"
    assert log == ["after close"]


async def test_tasks_on_a_connection_without_an_app_run_on_finish() -> None:
    log: list[str] = []
    recorder = ASGIRecorder()
    conn = Connection(http_scope(), recorder.receive, cast(Any, recorder.send))

    class Notifier:
        async def __call__(self, text: str) -> None:
            log.append(text)

    conn.add_background(Notifier(), "async callable object")
    await conn.run_on_finish()
    assert log == ["async callable object"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="needs a function to call"):
        BackgroundTask("not callable", (), {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="background_timeout must be >= 0"):
        BackgroundRunner(-1)
    assert repr(BackgroundTask(print, (), {})) == "<BackgroundTask print>"
    assert BackgroundRunner().pending == 0
