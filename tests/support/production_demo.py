"""The demo as ``docs/deployment.md`` runs it behind nginx: gunicorn with uvicorn workers,
aaf's proxy-headers middleware trusting the proxy on loopback, and aaf's access log (to
stderr) showing the client address the middleware found.

    gunicorn -k tests.support.production_demo.Worker tests.support.production_demo:app
"""

from __future__ import annotations

import logging
import sys
from typing import Any, ClassVar

from examples.demo.app import build_app, chat_secret_from_env
from examples.tasks import Settings
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

from aaf.middleware.accesslog import AccessLogMiddleware
from aaf.middleware.proxy import ProxyHeadersMiddleware

# nginx runs on this machine in the test; in production, the proxy's own address.
TRUSTED_PROXIES = ["127.0.0.1"]


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no types
    """A uvicorn worker that leaves ``X-Forwarded-For`` to aaf: one place decides."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "proxy_headers": False,
    }


def _access_log_to_stderr() -> None:
    access = logging.getLogger("aaf.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("aaf.access %(message)s"))
        access.addHandler(handler)
    access.setLevel(logging.INFO)


_access_log_to_stderr()
demo = build_app(Settings.from_env(), chat_secret=chat_secret_from_env())
app = ProxyHeadersMiddleware(AccessLogMiddleware(demo), trusted_proxies=TRUSTED_PROXIES)
