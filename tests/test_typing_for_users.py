"""What `mypy --strict` tells a user of aaf: their usual code type-checks, and mistakes that
types can catch are caught (one mypy run over a small user module)."""

from __future__ import annotations

import os
from pathlib import Path

from mypy import api

USER_CODE = """
from aaf import Connection, HTTPError, JsonResponse, Middleware, Router, aaf
from aaf.middleware.cors import CORSMiddleware


async def not_found(conn: Connection, exc: HTTPError) -> JsonResponse:
    return JsonResponse({"missing": conn.path}, 404)


def bad_value(conn: Connection, exc: ValueError) -> JsonResponse:
    return JsonResponse({"error": str(exc)}, 400)


# A handlers dict built in a variable: keys of two kinds, handlers of two signatures.
handlers = {404: not_found, ValueError: bad_value}
router = Router()


@router.get("/")
async def index(conn: Connection) -> dict[str, int]:
    # conn.app is never None inside a handler: no Optional to narrow.
    return {"keys": len(conn.app.state), "limit": conn.app.limits_for(conn.route).body}


app = aaf(
    [router],
    exception_handlers=handlers,
    middleware=[Middleware(CORSMiddleware, allow_origins=["*"])],
)
typo = Middleware(CORSMiddleware, allow_origin=["*"])  # line 30: the one error expected
"""


def test_user_code_type_checks_and_middleware_options_are_checked(tmp_path: Path) -> None:
    module = tmp_path / "user_app.py"
    module.write_text(USER_CODE)
    stdout, stderr, _ = api.run(
        [str(module), "--strict", "--no-incremental", "--config-file", os.devnull]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, stdout + stderr
    assert "user_app.py:30:" in errors[0]
    assert 'Unexpected keyword argument "allow_origin"' in errors[0]
