"""The `aaf` command: routes table, run (uvicorn), and clear errors for bad targets."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from aaf import cli

from .support.servers import REPO


def test_routes_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", "examples.hello.app:app"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["METHOD", "RULE", "NAME", "HANDLER"]
    rows = [line.split() for line in out[1:]]
    assert ["GET", "/", "hello", "examples.hello.app.hello"] in rows
    assert ["GET", "/hello/<name>", "hello", "examples.hello.app.hello"] in rows
    assert ["POST", "/echo", "echo", "examples.hello.app.echo"] in rows
    assert ["GET", "/tasks/<uuid:task_id>", "task", "examples.hello.app.task"] in rows


def test_routes_accepts_a_router_and_lists_mounts_and_websockets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    from aaf import Router

    router = Router()

    async def chat(conn: Any) -> None:
        return None

    router.add_route("/ws", chat, name="ws", websocket=True)
    router.add_route("/head-only", lambda conn: None, "head", ["HEAD"])

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        return None

    router.mount("/raw", raw, name="raw")
    module = types.ModuleType("fake_routes_module")
    module.router = router  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_routes_module", module)
    assert cli.main(["routes", "fake_routes_module:router"]) == 0
    out = capsys.readouterr().out
    assert "WEBSOCKET  /ws" in out
    assert "HEAD       /head-only" in out
    assert "MOUNT      /raw" in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no-colon", "expected 'module:attribute'"),
        ("missing_module_xyz:app", "cannot import module 'missing_module_xyz'"),
        ("examples.hello.app:nope", "has no attribute 'nope'"),
        ("examples.hello.app:router.routes", "not an aaf app or Router"),
    ],
)
def test_bad_targets_give_clear_errors(
    target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["routes", target]) == 2
    assert message in capsys.readouterr().err


def test_run_starts_uvicorn_with_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    assert cli.main(["run", "examples.hello.app:app", "--port", "9999", "--workers", "2"]) == 0
    args, kwargs = calls[0]
    assert args == ("examples.hello.app:app",)
    assert kwargs["port"] == 9999
    assert kwargs["host"] == "127.0.0.1"
    assert kwargs["workers"] == 2
    assert kwargs["reload"] is False
    assert kwargs["timeout_graceful_shutdown"] == 5.0
    assert kwargs["forwarded_allow_ips"] is None


def test_run_fails_fast_on_a_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "examples.hello.app:missing"]) == 2
    assert "has no attribute 'missing'" in capsys.readouterr().err


def test_the_console_script_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aaf.cli", "routes", "examples.hello.app:app"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "/count/<int:number>" in result.stdout


def test_run_serves_a_router_as_an_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from aaf import App

    # Set (then restored by monkeypatch) so the value aaf run writes does not outlive the test.
    monkeypatch.setenv(cli.ROUTER_TARGET_ENV, "stale:value")
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    assert cli.main(["run", "examples.hello.app:router"]) == 0
    args, kwargs = calls[0]
    assert args == ("aaf.cli:router_app",)
    assert kwargs["factory"] is True
    assert os.environ[cli.ROUTER_TARGET_ENV] == "examples.hello.app:router"
    # What uvicorn (or each of its workers) builds from the factory: aaf([router]).
    from examples.hello.app import router

    app = cli.router_app()
    assert isinstance(app, App)
    assert app.routers == [router]


def test_an_app_target_is_not_a_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.uvicorn_target("examples.hello.app:app") == ("examples.hello.app:app", False)


def test_router_app_without_the_environment_says_how_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(cli.ROUTER_TARGET_ENV, raising=False)
    with pytest.raises(cli.TargetError, match="aaf run"):
        cli.router_app()
    monkeypatch.setenv(cli.ROUTER_TARGET_ENV, "examples.hello.app:app")
    with pytest.raises(cli.TargetError, match="not a Router"):
        cli.router_app()


@pytest.mark.integration
def test_run_a_router_under_uvicorn() -> None:
    import httpx

    from .support.servers import serve

    with (
        serve("examples.hello.app:router", server="aaf") as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):
        response = client.get("/hello/ada")
    assert (response.status_code, response.text) == (200, "Hello, ada")
