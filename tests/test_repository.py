"""Repository promises: the README's two set-up commands, CI calling the test command, and no
machine-specific paths in committed files."""

from __future__ import annotations

import re
import subprocess
import tomllib

from .support.servers import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block is not None, "README must open with a bash block of set-up commands"
    assert text.index(block.group(0)) < text.index("\n## "), "the commands come first"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands_that_exist() -> None:
    commands = readme_commands()
    assert commands == ["./scripts/demo", "./scripts/test"]
    for command in commands:
        script = REPO / command
        assert script.is_file()
        assert script.stat().st_mode & 0o111, f"{command} must be executable"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "\n./scripts/test" in ci
    for package in ("redis-server", "postgresql", "chromium"):
        assert package in ci


# Built from pieces so this file does not match itself.
MACHINE_PATHS = re.compile("|".join(["/" + "work/", "/" + "root/", "/" + r"home/\w+/"]))


def test_no_machine_specific_paths_are_committed() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    offenders = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.suffix in (".png", ".ico"):
            continue
        text = path.read_text(errors="ignore")
        if MACHINE_PATHS.search(text):
            offenders.append(name)
    assert offenders == []


def extras_in(extras: dict[str, list[str]], name: str) -> set[str]:
    """``name`` and every extra it pulls in through ``aaf[...]`` requirements."""
    found = {name}
    for requirement in extras[name]:
        match = re.fullmatch(r"aaf\[([\w,-]+)\]", requirement.split(";")[0].strip())
        if match:
            for included in match.group(1).split(","):
                found |= extras_in(extras, included)
    return found


def test_the_dev_extra_includes_every_other_extra() -> None:
    # scripts/_venv.sh relies on it: a dev environment serves every script without reinstalling.
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras_in(extras, "dev") == set(extras)
    # The demo's own extras hold what it imports: the server, drivers, Redis, PyJWT.
    assert extras_in(extras, "examples") >= {"redis", "jwt"}
    assert "browser" in extras_in(extras, "test")


def test_a_server_that_cannot_start_reports_its_own_error() -> None:
    import pytest

    from .support.servers import serve

    with (
        pytest.raises(
            RuntimeError, match="serving no_such_module_xyz:app did not start"
        ) as failure,
        serve("no_such_module_xyz:app", timeout=20),
    ):
        pass
    assert "no_such_module_xyz" in str(failure.value).split("\n", 1)[1]
