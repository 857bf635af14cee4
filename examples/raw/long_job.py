"""A long job that stops as soon as its client disconnects.  ``aaf run examples.raw.long_job:app``

``GET /`` streams one progress line per step for ``STEPS * STEP_SECONDS`` seconds.
``GET /status`` reports how many jobs are running, finished and cancelled (in this process).

Servers do not stop an app when its client leaves: they deliver ``http.disconnect`` to
``receive()`` and usually drop later ``send()`` calls without an error. So the job runs as a task
while the app waits on ``receive()``; whichever ends first decides. Without the watcher, an
abandoned job would keep working to the end for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass

from .asgi_types import Receive, Scope, Send, only_http, route_path

STEPS = 100
STEP_SECONDS = 0.1


@dataclass
class JobStats:
    running: int = 0
    finished: int = 0
    cancelled: int = 0


STATS = JobStats()


async def run_job(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    for step in range(STEPS):
        await send({"type": "http.response.body", "body": b"step %d\n" % step, "more_body": True})
        await asyncio.sleep(STEP_SECONDS)  # the work of one step
    await send({"type": "http.response.body", "body": b"done\n", "more_body": False})


async def wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()  # request body messages come first; skip them
        if message["type"] == "http.disconnect":
            return


async def send_status(send: Send) -> None:
    body = json.dumps(asdict(STATS)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    only_http(scope)
    if route_path(scope) == "/status":
        await send_status(send)
        return
    STATS.running += 1
    job = asyncio.create_task(run_job(send))
    watcher = asyncio.create_task(wait_for_disconnect(receive))
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        STATS.running -= 1
        # Whatever is still pending lost the race (or the app itself is being cancelled).
        for task in (job, watcher):
            task.cancel()
        for task in (job, watcher):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if job.cancelled():
        STATS.cancelled += 1
    else:
        STATS.finished += 1
