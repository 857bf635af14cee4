"""``aaf asyncapi module:app``: the AsyncAPI document as stable JSON, for CI diffs and client
generators (the same command machinery as ``aaf openapi``)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aaf import App, Connection, Router, cli
from aaf.asyncapi import asyncapi_document, asyncapi_router, find_asyncapi_options
from aaf.openapi import encode_document
from aaf.testing import TestClient

from .support.servers import REPO, repo_env

MODULE = "fake_asyncapi_module"


class Say(msgspec.Struct):
    text: str


def make_app() -> App:
    router = Router()

    @router.websocket("/rooms/<room>", receives=Say, sends=Say)
    async def room(conn: Connection, room: str) -> None:
        """Talk in a room."""
        await conn.accept()

    @router.get("/page")
    async def page(conn: Connection) -> str:
        return "page"

    served = asyncapi_router(
        title="Rooms", version="2.1", description="d", servers={"prod": "wss://rooms.example"}
    )
    return App([router, served])


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType(MODULE)
    module.app = make_app()  # type: ignore[attr-defined]
    module.http_only = App([Router()])  # type: ignore[attr-defined]
    module.bare_router = Router()  # type: ignore[attr-defined]
    module.other = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    return MODULE


def test_writes_the_served_document(target: str, tmp_path: Path) -> None:
    output = tmp_path / "asyncapi.json"
    assert cli.main(["asyncapi", f"{target}:app", "--output", str(output)]) == 0
    written = output.read_bytes()
    document = json.loads(written)
    # The app's asyncapi_router() settings are used: the file is what the app serves.
    assert document["info"] == {"title": "Rooms", "version": "2.1", "description": "d"}
    assert document["servers"] == {"prod": {"host": "rooms.example", "protocol": "wss"}}
    assert document["channels"]["room"]["address"] == "/rooms/{room}"
    assert sorted(document["operations"]) == ["room.receive", "room.send"]
    with TestClient(sys.modules[target].app) as client:
        served = client.get("/asyncapi.json").json()
    assert document == served
    # Stable bytes: sorted keys at every level, two-space indent, a final newline.
    assert written == encode_document(served, indent=2) + b"\n"
    assert written.startswith(b'{\n  "asyncapi": "3.0.0",\n  "channels"')
    assert list(document["components"]) == sorted(document["components"])
    assert cli.main(["asyncapi", f"{target}:app", "-o", str(output)]) == 0
    assert output.read_bytes() == written


def test_prints_to_stdout_and_takes_title_and_version(
    target: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli.main(["asyncapi", f"{target}:app", "--title", "T", "--api-version", "9"]) == 0
    document = json.loads(capsysbinary.readouterr().out)
    assert document["info"] == {"title": "T", "version": "9", "description": "d"}
    assert "room" in document["channels"]


def test_the_router_options_are_found() -> None:
    options = find_asyncapi_options(make_app())
    assert options is not None
    assert (options.title, options.version, options.description) == ("Rooms", "2.1", "d")
    assert find_asyncapi_options(Router()) is None


@pytest.mark.parametrize("attribute", ["http_only", "bare_router"])
def test_a_target_without_websocket_routes(
    target: str, attribute: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli.main(["asyncapi", f"{target}:{attribute}"]) == 0
    document: dict[str, Any] = json.loads(capsysbinary.readouterr().out)
    assert document["info"] == {"title": "aaf", "version": "0.1.0"}
    assert document["channels"] == {}
    assert document["operations"] == {}
    assert "servers" not in document  # no request, so no server to name
    assert document == asyncapi_document(Router(), title="aaf", version="0.1.0")


def test_check_mode_for_ci(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = tmp_path / "asyncapi.json"
    assert cli.main(["asyncapi", f"{target}:app", "--check", str(committed)]) == 1  # missing
    assert f"aaf asyncapi {target}:app --output {committed}" in capsys.readouterr().err
    assert cli.main(["asyncapi", f"{target}:app", "-o", str(committed)]) == 0
    assert cli.main(["asyncapi", f"{target}:app", "--check", str(committed)]) == 0
    assert capsys.readouterr().err == ""
    committed.write_bytes(committed.read_bytes().replace(b"2.1", b"2.0"))
    assert cli.main(["asyncapi", f"{target}:app", "--check", str(committed)]) == 1
    assert "is not the app's AsyncAPI document" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("other", "'fake_asyncapi_module:other' is a int, not an aaf app or Router"),
        ("missing", "module 'fake_asyncapi_module' has no attribute 'missing'"),
    ],
)
def test_a_bad_target_says_why(
    target: str, name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["asyncapi", f"{target}:{name}"]) == 2
    assert f"aaf: error: {message}" in capsys.readouterr().err


def test_a_target_without_attribute_says_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["asyncapi", "myapp"]) == 2
    assert "expected 'module:attribute' such as 'myapp:app'" in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path: Path) -> None:
    """``python -m aaf.cli asyncapi`` in a fresh process, on the demo app (its chat)."""
    output = tmp_path / "demo.json"
    done = subprocess.run(
        [sys.executable, "-m", "aaf.cli", "asyncapi", "examples.demo.app:app", "-o", output],
        cwd=REPO,
        env=repo_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    document = json.loads(output.read_text())
    assert document["asyncapi"] == "3.0.0"
    # The title is the demo's asyncapi_router's, found through the routers it includes.
    assert document["info"]["title"].endswith(" chat")
    assert document["channels"]["chat"]["address"] == "/chat/{room}"
