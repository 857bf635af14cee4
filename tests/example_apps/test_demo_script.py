"""The README's first command: ``./scripts/demo`` serves the demo and says where."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from ..support.servers import IN_CI, REPO, free_port, stop, wait_for_port

pytestmark = pytest.mark.integration


def venv_is_current() -> bool:
    """True when scripts/_venv.sh would use .venv as it is (so the test installs nothing)."""
    pins = (REPO / "pyproject.toml").read_bytes() + (REPO / "constraints.txt").read_bytes()
    digest = hashlib.sha256(pins).hexdigest()[:16]
    stamp = REPO / ".venv" / ".aaf-stamp"
    have = stamp.read_text().strip() if stamp.is_file() else ""
    return have in (f"{digest}-dev", f"{digest}-server,examples")


def test_scripts_demo_serves_the_demo_and_prints_its_url(tmp_path: Path) -> None:
    if not venv_is_current():
        message = ".venv is missing or stale; ./scripts/test (re)builds it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "CHAT_JWT_SECRET", "PYTHONPATH", "DEMO_DEBUG")
    }
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
    )
    process = subprocess.Popen(
        [str(REPO / "scripts" / "demo")],
        cwd=tmp_path,  # the script finds the repository by itself
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            page = client.get("/")
            assert page.status_code == 200
            assert "<title>aaf demo" in page.text
            assert client.get("/tasks").json()["items"] == []
            created = client.post("/tasks", json={"title": "from the demo test"})
            assert created.status_code == 201
            assert client.get("/tasks").json()["items"] == [created.json()]
            # On loopback the script is a development server: the inspector is on, and the
            # API documents are served.
            assert client.get("/_aaf/").status_code == 200
            assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    finally:
        stop(process)
        assert process.stdout is not None
        first_line = process.stdout.readline().decode()
        process.stdout.close()
    assert first_line == f"aaf demo: http://127.0.0.1:{port}/\n"
    assert (tmp_path / "demo.db").is_file()  # DATABASE_URL was honoured
