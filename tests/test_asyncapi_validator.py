"""The served AsyncAPI document checked by the official tooling: npm's ``@asyncapi/parser``
(the AsyncAPI 3.0 JSON schema and its rules), run by ``tests/js/validate-asyncapi.mjs``.

CI installs it (``npm ci --prefix tests/js`` in .ci/run); locally, without node or the
installed package, these tests skip and say how to get them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aaf.testing import TestClient
from tests.support.servers import IN_CI, require_binary
from tests.support.typed_ws_app import app

pytestmark = pytest.mark.integration

JS = Path(__file__).resolve().parent / "js"
SCRIPT = JS / "validate-asyncapi.mjs"


def validate(document: Any) -> tuple[int, list[dict[str, str]]]:
    """The validator's exit code and diagnostics for ``document``."""
    node = require_binary("node", hint="apt-get install nodejs npm")
    if not (JS / "node_modules" / "@asyncapi" / "parser").is_dir():
        message = "@asyncapi/parser is not installed (npm ci --prefix tests/js)"
        if IN_CI:
            pytest.fail(f"{message}; CI must install it (.ci/run)")
        pytest.skip(message)
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(document).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    diagnostics: list[dict[str, str]] = json.loads(done.stdout)["diagnostics"]
    return done.returncode, diagnostics


def errors(diagnostics: list[dict[str, str]]) -> list[dict[str, str]]:
    return [d for d in diagnostics if d["severity"] == "error"]


def served_document() -> Any:
    with TestClient(app) as client:
        response = client.get("/asyncapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_served_document_is_valid_asyncapi_3() -> None:
    code, diagnostics = validate(served_document())
    assert errors(diagnostics) == []
    assert code == 0


def test_the_validator_reports_errors() -> None:
    # Without this, a validator that printed nothing would pass the test above.
    broken = served_document()
    del broken["info"]["version"]
    broken["operations"]["echo.send"]["messages"] = [{"$ref": "#/channels/chat/messages/Presence"}]
    code, diagnostics = validate(broken)
    assert code == 1
    found = {(d["code"], d["path"]) for d in errors(diagnostics)}
    assert (
        "asyncapi3-operation-messages-from-referred-channel",
        "operations/echo.send/messages/0",
    ) in found
    assert any(path == "info" for _, path in found)
