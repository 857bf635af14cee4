"""The lifespan state under a real server, which always brings its own ``scope["state"]``:
app.state seeds it, and what the lifespan yields reaches app.state."""

from __future__ import annotations

import httpx
import pytest

from tests.support.servers import serve

pytestmark = pytest.mark.integration


def test_state_flows_both_ways_under_uvicorn() -> None:
    with serve("tests.support.lifespan_app:app", server="uvicorn") as url:
        response = httpx.get(url + "/state", timeout=10)
    assert response.status_code == 200
    expected = {
        "config": "from import",  # app.state at import time reached conn.state
        "pool": "open",  # so did what a startup hook put there
        "db": "connected",  # what the lifespan yielded
        "overridden": "by the lifespan",  # wins over app.state
    }
    assert response.json() == {"conn_state": expected, "app_state": expected}
