"""``aaf trace``: one exchange run in-process, every ASGI message printed in order."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aaf import cli, trace

from .support.servers import REPO

APPS = "tests.support.trace_apps"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """``aaf trace ARGV``: the exit code, the printed lines and what went to stderr."""
    code = cli.main(["trace", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def index_of(lines: list[str], *words: str, start: int = 0) -> int:
    """The first line at or after ``start`` holding all ``words``; fails the test if none."""
    for number in range(start, len(lines)):
        if all(word in lines[number] for word in words):
            return number
    raise AssertionError(f"no line with {words} after line {start} in:\n" + "\n".join(lines))


def event_lines(lines: list[str]) -> list[tuple[str, str]]:
    """(kind, dir) of every event line: the lines that start with a time offset."""
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "ms":
            found.append((parts[2], parts[3]))
    return found


# ---------------------------------------------------------------- raw apps
def test_raw_hello_shows_the_scope_the_messages_and_the_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, _ = run(capsys, "examples.raw.hello:app", "GET", "/greet?x=1")
    assert code == 0
    scope = index_of(lines, "http", "scope", "GET /greet")
    # Readable scope: one key per line, bytes as bytes literals, headers one per line.
    assert index_of(lines, "raw_path: b'/greet'", start=scope)
    assert index_of(lines, "query_string: b'x=1'", start=scope)
    headers = index_of(lines, "headers:", start=scope)
    assert "b'host': b'127.0.0.1:8000'" in lines[headers + 1]
    start = index_of(lines, "http", "send", "http.response.start status=200", start=scope)
    assert "b'content-length': b'12'" in lines[start + 2]
    body = index_of(lines, "send", "http.response.body body=b'Hello, world' (12 bytes)")
    assert scope < start < body < index_of(lines, "http", "return")
    assert lines[-1].startswith("-- completed: 200, 12 body bytes, ")
    # The raw app declines the lifespan by raising: shown, then the trace goes on without it.
    assert index_of(lines, "lifespan", "raise", "serves HTTP only") < scope
    assert index_of(lines, "lifespan", "note", "no lifespan") < scope


def test_raw_echo_shows_the_request_body_received_before_the_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, _ = run(
        capsys, "examples.raw.echo:app", "PUT", "/", "-d", "hello", "-H", "X-Trace: yes"
    )
    assert code == 0
    assert index_of(lines, "http", "scope", "PUT /")
    assert index_of(lines, "b'x-trace': b'yes'")
    received = index_of(lines, "http", "receive", "http.request body=b'hello' (5 bytes)")
    assert "more_body=False" in lines[received]
    answer = index_of(lines, "send", "body=b'hello' (5 bytes)", start=received)
    assert received < answer
    assert lines[-1].startswith("-- completed: 200, 5 body bytes")


def test_a_body_from_a_file_and_post_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "body.bin").write_bytes(b"from a file")
    code, lines, _ = run(capsys, "examples.raw.echo:app", "/", "-d", f"@{tmp_path / 'body.bin'}")
    assert code == 0
    assert index_of(lines, "scope", "POST /")
    assert index_of(lines, "receive", "body=b'from a file' (11 bytes)")


def test_raw_stream_shows_every_chunk_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "examples.raw.stream:app", "/")
    assert code == 0
    chunks = [index_of(lines, "send", f"body=b'chunk {n}\\n'", "more_body=True") for n in range(5)]
    assert chunks == sorted(chunks)
    last = index_of(lines, "send", "body=b'' (0 bytes) more_body=False")
    assert chunks[-1] < last
    assert lines[-1].startswith("-- completed: 200, 40 body bytes")


def test_long_bodies_are_cut_and_counted_and_any_status_completes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, _ = run(capsys, f"{APPS}:big_body", "/")
    assert code == 0  # a 404 is a completed exchange
    body = lines[index_of(lines, "send", "http.response.body")]
    assert f"body=b'{'x' * 200}'... (1000 bytes, first 200 shown)" in body
    code, lines, _ = run(capsys, f"{APPS}:big_body", "/", "--max-shown", "3")
    assert "body=b'xxx'... (1000 bytes, first 3 shown)" in lines[index_of(lines, "body=")]
    assert lines[-1].startswith("-- completed: 404, 1000 body bytes")


# ---------------------------------------------------------------- framework apps
def test_an_aaf_app_runs_its_lifespan_around_the_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, _ = run(capsys, "examples.hello.app:app", "GET", "/hello/ada")
    assert code == 0
    order = [
        index_of(lines, "lifespan", "scope"),
        index_of(lines, "lifespan", "receive", "lifespan.startup"),
        index_of(lines, "lifespan", "send", "lifespan.startup.complete"),
        index_of(lines, "http", "scope", "GET /hello/ada"),
        index_of(lines, "http", "send", "status=200"),
        index_of(lines, "http", "send", "body=b'Hello, ada'"),
        index_of(lines, "lifespan", "receive", "lifespan.shutdown"),
        index_of(lines, "lifespan", "send", "lifespan.shutdown.complete"),
    ]
    assert order == sorted(order)
    assert lines[-1].startswith("-- completed: 200, 10 body bytes")


def test_a_starlette_app(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:starlette_app", "GET", "/hi?name=ada")
    assert code == 0
    assert index_of(lines, "lifespan", "send", "lifespan.startup.complete")
    assert index_of(lines, "send", "body=b'starlette says hi to ada'")
    assert lines[-1].startswith("-- completed: 200, 24 body bytes")


def test_a_router_is_served_as_aaf_run_does(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "examples.hello.app:router", "/hello/bo")
    assert code == 0
    assert "is a Router: serving aaf([router])" in lines[0]
    assert lines[-1].startswith("-- completed: 200, 9 body bytes")


# ---------------------------------------------------------------- WebSockets
def test_a_websocket_echo_with_two_stdin_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\nthere\n"))
    code, lines, _ = run(capsys, f"{APPS}:ws_app", "/echo", "--ws")
    assert code == 0
    order = [
        index_of(lines, "websocket", "scope", "GET /echo"),
        index_of(lines, "websocket", "receive", "websocket.connect"),
        index_of(lines, "websocket", "send", "websocket.accept"),
        index_of(lines, "websocket", "receive", "text='hi' (2 chars)"),
        index_of(lines, "websocket", "send", "text='echo: hi'"),
        index_of(lines, "websocket", "receive", "text='there'"),
        index_of(lines, "websocket", "send", "text='echo: there'"),
        index_of(lines, "websocket", "receive", "websocket.disconnect code=1000"),
        index_of(lines, "websocket", "return"),
        index_of(lines, "lifespan", "receive", "lifespan.shutdown"),
    ]
    assert order == sorted(order)
    assert lines[-1].startswith(
        "-- completed: 2 frames sent to the app, 2 received from it, closed by the client (1000)"
    )


def test_a_websocket_with_empty_stdin_connects_and_disconnects(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, lines, _ = run(capsys, f"{APPS}:ws_app", "GET", "/echo", "--ws")
    assert code == 0
    websocket = [d for kind, d in event_lines(lines) if kind == "websocket"]
    assert websocket == ["scope", "receive", "send", "receive", "return"]
    assert lines[-1].startswith("-- completed: 0 frames sent to the app, 0 received from it")


def test_a_websocket_script_stops_when_the_app_closes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "frames.txt"
    script.write_text("ada\nnever sent\n")
    code, lines, _ = run(capsys, f"{APPS}:ws_router", "/bye", "--ws", "--script", str(script))
    assert code == 0
    assert index_of(lines, "send", "text='bye ada'") < index_of(lines, "send", "code=4000")
    assert not [line for line in lines if "never sent" in line]
    assert index_of(lines, "note", "the app closed")
    assert "1 frame sent to the app, 1 received from it, closed by the app with 4000" in lines[-1]


def test_a_denied_websocket_is_a_completed_exchange(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, lines, _ = run(capsys, f"{APPS}:ws_app", "/nowhere", "--ws")
    assert code == 0
    # aaf answers an unknown WebSocket path with a 404 through the denial-response extension.
    assert index_of(lines, "websocket", "send", "websocket.http.response.start status=404")
    assert lines[-1].startswith("-- completed: handshake denied with 404")


def test_a_websocket_app_that_stops_reading_times_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("anyone?\n"))
    code, lines, _ = run(capsys, f"{APPS}:ws_app", "/deaf", "--ws", "--timeout", "0.2")
    assert code == 1
    assert index_of(lines, "websocket", "send", "websocket.accept")
    assert "did not answer or read the next message within 0.2s" in lines[-1]
    assert "--timeout" in lines[-1]


# ---------------------------------------------------------------- --json
def test_json_is_one_valid_object_per_line_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "examples.raw.echo:app", "/", "-d", "a\x00\n\xff'", "--json")
    assert code == 0
    events = [json.loads(line) for line in lines]  # every line is JSON
    times = [event["t"] for event in events]
    assert times == sorted(times)
    http = [event["dir"] for event in events if event["kind"] == "http"]
    assert http == ["scope", "receive", "send", "send", "return"]
    scope = next(e["scope"] for e in events if e["kind"] == "http" and e["dir"] == "scope")
    assert scope["method"] == "POST"
    assert scope["raw_path"] == {"bytes": "/", "length": 1, "truncated": False}
    received = next(e["message"] for e in events if e["dir"] == "receive")
    sent = received["body"]
    # Escaped bytes: readable, and decoded back exactly.
    restored = sent["bytes"].encode("ascii").decode("unicode_escape").encode("latin-1")
    assert restored == "a\x00\n\xff'".encode()
    end = events[-1]
    assert (end["dir"], end["outcome"], end["status"], end["body_bytes"]) == (
        "end",
        "completed",
        200,
        len(restored),
    )


def test_json_reports_the_error_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:raising", "/", "--json")
    assert code == 1
    events = [json.loads(line) for line in lines]
    raised = next(e for e in events if e["dir"] == "raise" and e["kind"] == "http")
    assert raised["error"]["type"] == "ValueError"
    assert events[-1]["outcome"] == "failed"
    assert "boom in the middle" in events[-1]["error"]["traceback"]


def test_the_console_command_traces(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aaf.cli", "trace", "examples.raw.hello:app", "GET", "/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert index_of(lines, "http", "scope", "GET /") < index_of(lines, "status=200")
    assert lines[-1].startswith("-- completed: 200, 12 body bytes")


def test_the_command_line_works_without_httpx_except_for_trace() -> None:
    # httpx is the 'testing' extra: 'aaf run' must not need it, 'aaf trace' asks for it.
    script = (
        "import sys; sys.modules['httpx'] = None\n"
        "from aaf import cli\n"
        "assert 'aaf.trace' not in sys.modules\n"
        "assert cli.main(['routes', 'examples.hello.app:app']) == 0\n"
        "sys.exit(cli.main(['trace', 'examples.raw.hello:app', '/']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "aaf: error: aaf trace needs httpx: pip install 'aaf[testing]'" in result.stderr


# ---------------------------------------------------------------- failures of the app
def test_an_app_that_raises_fails_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:raising", "/")
    assert code == 1
    assert index_of(lines, "http", "raise", "ValueError: boom") > index_of(lines, "status=200")
    end = index_of(lines, "-- failed: the app raised ValueError: boom in the middle")
    assert "(status 200 sent, 0 body bytes)" in lines[end]
    assert lines[end + 1] == "Traceback (most recent call last):"
    assert index_of(lines, 'raise ValueError("boom', start=end)


def test_an_app_that_never_answers_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:silent", "/", "--timeout", "0.2")
    assert code == 1
    assert "no complete response within 0.2s (no response started)" in lines[-1]
    assert "--timeout" in lines[-1]
    # The client went away, and the app saw it.
    assert index_of(lines, "http", "receive", "http.disconnect")


def test_an_app_that_returns_without_answering_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:no_response", "/")
    assert code == 1
    failure = "\n".join(lines[index_of(lines, "-- failed:") :])
    assert "[no-response]: the app returned without starting a response" in failure


def test_a_protocol_violation_is_the_error_the_app_got(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, _ = run(capsys, f"{APPS}:body_first", "/")
    assert code == 1
    sent = index_of(lines, "http", "send", "http.response.body body=b'too early'")
    assert index_of(lines, "http", "raise", "ASGIProtocolError", start=sent)
    assert lines[index_of(lines, "-- failed: the app raised ASGIProtocolError")]


def test_a_failing_startup_stops_before_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:failing_startup", "/echo")
    assert code == 1
    assert index_of(lines, "lifespan", "send", "lifespan.startup.failed")
    assert not [kind for kind, _ in event_lines(lines) if kind in ("http", "websocket")]
    assert lines[-1].startswith(
        "-- failed: lifespan startup failed: ConnectionError: database unreachable. "
        "The app refused to start: fix its startup"
    )


def test_a_failing_shutdown_fails_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, f"{APPS}:failing_shutdown", "/nowhere")
    assert code == 1
    assert index_of(lines, "http", "send", "status=404") < index_of(
        lines, "lifespan.shutdown.failed"
    )
    assert "lifespan shutdown failed" in lines[-1]
    assert "OSError: could not flush the cache" in lines[-1]


def test_a_sync_callable_found_only_when_called_is_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def sync(scope: Any, receive: Any, send: Any) -> None:
        return None

    app, _ = trace.as_asgi_app(functools.partial(sync), "m:app")  # not judged before the call
    options = trace.TraceOptions(method="GET", url="/")
    assert trace.run_trace(app, options) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert "returned NoneType instead of an awaitable" in last
    assert "async def app(scope, receive, send)" in last


# ---------------------------------------------------------------- errors in the target
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing_module_xyz:app", "cannot import module 'missing_module_xyz'"),
        (f"{APPS}:nope", f"module '{APPS}' has no attribute 'nope'"),
        (f"{APPS}:not_callable", "is of type int, not an ASGI app: point at the async callable"),
        (f"{APPS}:sync_app", "is a plain (sync) function: an ASGI app is 'async def app("),
        (f"{APPS}:two_arguments", "takes (scope, receive), but an ASGI app is called as app("),
        (f"{APPS}:asgi2_style", "looks like an ASGI 2 app(scope)"),
        (f"{APPS}:AppClass", "is the class AppClass, not an app: create the app in your module"),
    ],
)
def test_bad_targets_say_the_fix(
    target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, err = run(capsys, target, "/")
    assert code == 2
    assert lines == []
    assert err.startswith("aaf: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/", "-H", "no colon"], "-H expects 'name: value'"),
        (["/", "-d", "@/nonexistent/body.bin"], "cannot read the body file '/nonexistent/body"),
        (["/", "--ws", "-d", "x"], "with --ws, give the frames on stdin or --script"),
        (["POST", "/", "--ws"], "a WebSocket handshake is a GET, not POST"),
        (["/", "--ws", "--script", "/nonexistent/frames"], "cannot read the --script file"),
    ],
)
def test_bad_options_say_the_fix(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "examples.raw.echo:app", *argv)
    assert code == 2
    assert message in err


def test_async_callables_of_every_shape_are_accepted() -> None:
    async def endpoint(scope: Any, receive: Any, send: Any, extra: int = 0) -> None:
        return None

    class Instance:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            return None

    for app in (endpoint, functools.partial(endpoint, extra=1), Instance()):
        assert trace.as_asgi_app(app, "m:app") == (app, "")


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("examples.raw.hello:app", ["GET", "/"]),
        ("examples.raw.echo:app", ["POST", "/", "-d", "ping"]),
        ("examples.raw.stream:app", ["GET", "/"]),
        ("examples.raw.long_job:app", ["GET", "/status"]),
        ("examples.raw.printer:app", ["GET", "/anything?x=1"]),
        ("examples.raw.mounted:app", ["GET", "/hello/"]),
        ("examples.demo.app:app", ["GET", "/tasks"]),
    ],
)
def test_every_seed_raw_app_and_the_demo_trace_as_json(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    target: str,
    argv: list[str],
) -> None:
    # The demo's lifespan opens its database: a throwaway SQLite file, in-memory events.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tasks.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    code, lines, err = run(capsys, target, *argv, "--json")
    assert code == 0, err
    # The printer app prints too (its own lines are not JSON objects).
    events = [json.loads(line) for line in lines if line.startswith("{")]
    sent = [
        e["message"]["type"]
        for e in events
        if e.get("dir") == "send" and "message" in e and e["message"]["type"].startswith("http.")
    ]
    assert sent[0] == "http.response.start", events
    assert sent[-1] in ("http.response.body", "http.response.pathsend"), sent
    assert any(e.get("kind") == "http" and e.get("dir") == "scope" for e in events), events
