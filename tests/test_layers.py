"""The layering rule of docs/architecture.md: every import inside aaf points down the list.

The list is read from the ``layers`` block of docs/architecture.md, so the document and this
test cannot drift apart. Imports under ``TYPE_CHECKING`` and inside functions count too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"


def layer_order() -> list[str]:
    block = re.search(r"```layers\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/architecture.md lost its ```layers block"
    names: list[str] = []
    for line in block.group(1).splitlines():
        names += line.partition("#")[0].split()
    return names


def module_name(path: Path, source: Path = SOURCE) -> str:
    parts = list(path.relative_to(source).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path: Path, source: Path) -> str:
    name = module_name(path, source)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports_of(path: Path, modules: set[str], source: Path = SOURCE) -> set[str]:
    """The aaf modules ``path`` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_of(path, source).split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            named = {f"{target}.{alias.name}" for alias in node.names} & modules
            found |= named or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name in modules and name != module_name(path, source)}


def test_every_module_is_placed_in_a_layer() -> None:
    modules = {module_name(p) for p in (SOURCE / "aaf").rglob("*.py")}
    order = layer_order()
    assert len(order) == len(set(order)), "a module is listed twice in docs/architecture.md"
    missing = sorted(modules - set(order))
    assert not missing, f"add {missing} to the layers block of docs/architecture.md"
    gone = sorted(set(order) - modules)
    assert not gone, f"remove {gone} from the layers block of docs/architecture.md"


def test_imports_only_point_down() -> None:
    order = layer_order()
    rank = {name: index for index, name in enumerate(order)}
    paths = list((SOURCE / "aaf").rglob("*.py"))
    modules = {module_name(p) for p in paths}
    upward = [
        f"{module_name(p)} imports {target}"
        for p in paths
        for target in sorted(imports_of(p, modules))
        if rank.get(target, -1) >= rank.get(module_name(p), -1)
    ]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The rule must bite: a connection that imports the app, even only for type checking.
    package = tmp_path / "aaf"
    package.mkdir()
    module = package / "connection.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .app import App\n"
    )
    assert imports_of(module, {"aaf.connection", "aaf.app"}, tmp_path) == {"aaf.app"}
