"""Every code sample in README.md and docs/ runs.

A page's ```python blocks run top to bottom in one namespace, as a reader meets them: a block may
use what an earlier block on the same page defined. The namespace starts with what every how-to
builds on (``PAGE_GIVEN``, stated on docs/index.md): ``router = Router()`` and
``app = aaf([router])``. A block with top-level ``await`` / ``async with`` runs in an event loop.

- ```python``` blocks are executed; every ``app`` a block binds must be an ASGI app, and the
  requests a page shows are made by the page itself (blocks with ``TestClient`` and ``assert``).
- ```python fragment``` blocks only have to compile. They are counted against
  ``MAX_FRAGMENTS`` (0: a fragment is a sample nobody runs).
- ```python seed:<name>``` blocks (docs/seed.md) run here too; tests/test_seed.py checks them.
- ```bash``` / ```console``` blocks are not run, but every ``aaf ...`` command line in them names
  a real subcommand and, when it is not a synopsis with ``[options]``, parses.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import inspect
import logging
import re
import shlex
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aaf.cli import build_parser
from aaf.middleware.passwords import hash_password

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"^```(?P<lang>[\w-]*)[ \t]*(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S
)
PAGE_GIVEN = "from aaf import Router, aaf\n\nrouter = Router()\napp = aaf([router])\n"
#: The reader's own values a page's samples name without defining them (keys, an app of
#: theirs): given here, so the samples stay short and still run.
PLACEHOLDERS = {
    "docs/batteries.md": textwrap.dedent(
        """
        import flask
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        NEW_KEY = "a-new-secret-of-32-characters-or-more"
        OLD_KEY = "the-old-secret-of-32-characters-too"
        PUBLIC_KEY = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        flask_app = flask.Flask("legacy")
        items = ["milk", "bread"]
        """
    ),
}
#: The environment variables a page's samples read (secrets kept out of the code).
ENVIRONMENT = {
    "BILLING_KEY": "billing-key-from-the-environment",
    "REPORTING_KEY": "reporting-key-from-the-environment",
    "SESSION_KEY": "a-session-secret-of-32-characters-or-more",
}
#: Samples that only compile. None today: every sample runs (issue 14); raise it only with a
#: reason in the page next to the sample.
MAX_FRAGMENTS = 0
SHELL_LANGS = {"bash", "console", "sh", "shell"}
# A flag of compile(): the code object is a coroutine to await (the asyncio REPL's trick).
_CO_COROUTINE = inspect.CO_COROUTINE


@dataclass(frozen=True)
class Sample:
    page: str
    line: int
    lang: str
    info: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_fragment(self) -> bool:
        return self.info.split()[:1] == ["fragment"]


def doc_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def page_name(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def samples_of(page: Path) -> list[Sample]:
    text = page.read_text(encoding="utf-8")
    name = page_name(page)
    return [
        Sample(
            name,
            text.count("\n", 0, found.start()) + 1,
            found["lang"],
            found["info"].strip(),
            found["code"],
        )
        for found in BLOCK.finditer(text)
    ]


def python_samples(page: Path) -> list[Sample]:
    return [sample for sample in samples_of(page) if sample.lang == "python"]


def all_samples() -> Iterator[Sample]:
    for page in doc_pages():
        yield from samples_of(page)


def compile_sample(sample: Sample) -> types.CodeType:
    # dont_inherit: a sample runs as its own module, without this file's __future__ imports.
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code: types.CodeType = compile(
        sample.code, sample.where, "exec", flags=flags, dont_inherit=True
    )
    return code


def run_sample(sample: Sample, namespace: dict[str, Any]) -> None:
    code = compile_sample(sample)
    if code.co_flags & _CO_COROUTINE:
        # Top-level await: the block is the body of a coroutine over the page's namespace.
        asyncio.run(types.FunctionType(code, namespace)())
    else:
        exec(code, namespace)  # noqa: S102 - the project's own documentation


def is_asgi_app(app: object) -> bool:
    """An ASGI 3 callable: ``async def app(scope, receive, send)``, or an object with one."""
    target = app if inspect.isfunction(app) else getattr(app, "__call__", None)  # noqa: B004
    if not inspect.iscoroutinefunction(target):
        return False
    assert target is not None
    params = list(inspect.signature(target).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 3 or any(p.kind is p.VAR_POSITIONAL for p in params)


def run_page(page: Path) -> int:
    """Run every python sample of a page in order; returns how many ran."""
    namespace: dict[str, Any] = {"__name__": f"docs_sample_{page.stem.replace('-', '_')}"}
    exec(PAGE_GIVEN, namespace)  # noqa: S102 - the documented starting point
    exec(PLACEHOLDERS.get(page_name(page), ""), namespace)  # noqa: S102 - see PLACEHOLDERS
    ran = 0
    for sample in python_samples(page):
        if sample.is_fragment:
            continue
        before = namespace.get("app")
        try:
            run_sample(sample, namespace)
        except Exception as exc:
            raise AssertionError(
                f"{sample.where}: the sample fails with {type(exc).__name__}: {exc}. Fix the "
                "sample (or, if it cannot run on its own, mark it ```python fragment)"
            ) from exc
        app = namespace.get("app")
        if app is not before and not is_asgi_app(app):
            raise AssertionError(f"{sample.where}: `app` is not an ASGI app: {app!r}")
        ran += 1
    return ran


def pages_with_python() -> list[Path]:
    return [page for page in doc_pages() if python_samples(page)]


#: The folders a reader's project has beside the app (static files, a site, templates).
PROJECT_DIRS = ("static", "site", "templates", "reports", "uploads")


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Samples may write files (uploads, a database): never into the checkout.
    for folder in PROJECT_DIRS:
        (tmp_path / folder).mkdir()
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ADA_PASSWORD_HASH", hash_password("correct horse battery staple"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.usefixtures("in_tmp_dir")
@pytest.mark.parametrize(
    "page", pages_with_python(), ids=lambda page: page.relative_to(REPO).as_posix()
)
def test_every_python_sample_of_the_page_runs(page: Path) -> None:
    with logging_left_as_it_was():
        assert run_page(page) > 0 or all(s.is_fragment for s in python_samples(page))


@contextlib.contextmanager
def logging_left_as_it_was() -> Iterator[None]:
    """A page may configure logging (docs/deployment.md does, for the ``aaf`` logger); the
    rest of the suite must see the loggers as they were (caplog relies on propagation)."""
    loggers = [logging.getLogger(name) for name in ("", *logging.root.manager.loggerDict)]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    try:
        yield
    finally:
        for lg, level, handlers, propagate, disabled in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.disabled = disabled


def test_fragments_compile_and_stay_rare() -> None:
    fragments = [s for s in all_samples() if s.lang == "python" and s.is_fragment]
    for fragment in fragments:
        compile_sample(fragment)  # a fragment is still valid Python
    where = ", ".join(f.where for f in fragments)
    assert len(fragments) <= MAX_FRAGMENTS, f"{len(fragments)} fragments ({where})"


def test_python_blocks_have_a_known_info_string() -> None:
    for sample in all_samples():
        if sample.lang != "python" or not sample.info:
            continue
        kind = sample.info.split()[0]
        assert kind == "fragment" or kind.startswith("seed:"), (
            f"{sample.where}: unknown info string {sample.info!r}: use ```python, "
            "```python fragment or ```python seed:<name>"
        )


def test_the_pages_have_samples_that_run() -> None:
    # Guards the extraction itself: a broken regex would make every test above vacuous.
    runnable = [s for s in all_samples() if s.lang == "python" and not s.is_fragment]
    assert len(runnable) > 30
    assert {s.page for s in runnable} >= {"README.md", "docs/tutorial.md", "docs/seed.md"}


# ---------------------------------------------------------------- shell lines
def aaf_command_lines() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for sample in all_samples():
        if sample.lang not in SHELL_LANGS:
            continue
        for offset, raw in enumerate(sample.code.splitlines(), start=1):
            line = raw.strip().removeprefix("$ ")
            continued = line.endswith("\\")  # only the first line: a synopsis, not parsed
            words = shlex.split(line.removesuffix("\\"), comments=True)
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                words.pop(0)  # VAR=value before the command
            if words[-1:] == ["&"]:
                words.pop()  # run in the background: the shell's, not the command's
            if words[:1] == ["aaf"]:
                if continued:
                    words.append("[...]")
                found.append((f"{sample.page}:{sample.line + offset}", words[1:]))
    return found


def test_the_shell_samples_use_real_aaf_subcommands() -> None:
    lines = aaf_command_lines()
    assert lines, "no `aaf ...` line found in any shell block: is the extraction broken?"
    parser = build_parser()
    subcommands = {
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    for where, args in lines:
        assert args, f"{where}: `aaf` without a command"
        assert args[0] in subcommands, f"{where}: `aaf {shlex.join(args)}`: no such command"
        if any("[" in arg or arg == "..." for arg in args):
            continue  # a synopsis, not a command to run
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: `aaf {shlex.join(args)}` does not parse")
