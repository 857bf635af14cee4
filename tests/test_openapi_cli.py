"""``aaf openapi module:app``: the document as stable JSON, for CI diffs and code generators."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from aaf import App, Router, cli
from aaf.connection import Connection
from aaf.openapi import encode_document, openapi_document, openapi_router
from aaf.params import Query
from aaf.testing import TestClient

from .support.servers import REPO, repo_env


def make_app() -> App:
    router = Router(tags=["things"])

    async def things(conn: Connection, limit: Query[int] = 10) -> list[str]:
        """List the things."""
        return []

    router.add_route("/things", things)
    return App([router, openapi_router(title="Things", version="4.2", description="d")])


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("fake_openapi_module")
    module.app = make_app()  # type: ignore[attr-defined]
    module.router = Router()  # type: ignore[attr-defined]
    module.other = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_openapi_module", module)
    return "fake_openapi_module"


def test_writes_the_served_document(target: str, tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    assert cli.main(["openapi", f"{target}:app", "--output", str(output)]) == 0
    written = output.read_bytes()
    document = json.loads(written)
    validate(document)
    # The app's openapi_router() settings are used: the file is what the app serves.
    assert document["info"] == {"title": "Things", "version": "4.2", "description": "d"}
    app = sys.modules[target].app
    with TestClient(app) as client:
        served = client.get("/openapi.json").json()
    assert document == served
    # Stable bytes: sorted keys, two-space indent, a final newline.
    assert written == encode_document(served, indent=2) + b"\n"
    assert list(document) == sorted(document)
    assert written.startswith(b'{\n  "components"')
    # Run twice, same bytes.
    assert cli.main(["openapi", f"{target}:app", "-o", str(output)]) == 0
    assert output.read_bytes() == written


def test_prints_to_stdout_and_takes_title_and_version(
    target: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli.main(["openapi", f"{target}:app", "--title", "T", "--api-version", "9"]) == 0
    document = json.loads(capsysbinary.readouterr().out)
    assert document["info"]["title"] == "T"
    assert document["info"]["version"] == "9"
    assert "/things" in document["paths"]


def test_a_router_gets_the_defaults(
    target: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli.main(["openapi", f"{target}:router"]) == 0
    document: dict[str, Any] = json.loads(capsysbinary.readouterr().out)
    assert document["info"] == {"title": "aaf", "version": "0.1.0"}
    assert document["paths"] == {}
    assert document == openapi_document(Router())


def test_check_mode_for_ci(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = tmp_path / "openapi.json"
    assert cli.main(["openapi", f"{target}:app", "--check", str(committed)]) == 1  # missing
    assert f"--output {committed}" in capsys.readouterr().err
    assert cli.main(["openapi", f"{target}:app", "-o", str(committed)]) == 0
    assert cli.main(["openapi", f"{target}:app", "--check", str(committed)]) == 0
    committed.write_bytes(committed.read_bytes().replace(b"4.2", b"4.1"))
    assert cli.main(["openapi", f"{target}:app", "--check", str(committed)]) == 1
    assert "is not the app's OpenAPI document" in capsys.readouterr().err


def test_not_an_app(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["openapi", f"{target}:other"]) == 2
    assert "is a int, not an aaf app or Router" in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path: Path) -> None:
    """``python -m aaf.cli openapi`` in a fresh process, on the example app."""
    output = tmp_path / "hello.json"
    done = subprocess.run(
        [sys.executable, "-m", "aaf.cli", "openapi", "examples.hello.app:app", "-o", str(output)],
        cwd=REPO,
        env=repo_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    document = json.loads(output.read_text())
    validate(document)
    assert "/hello/{name}" in document["paths"]
