"""The package's shape: no import cycles between ivrsync's modules, nor between its parts.

Every import counts, wherever it is written: at module level, inside a function (imported
late to save start-up time, it is still a dependency), under `if TYPE_CHECKING:` (the design
depends on the type all the same), and a registry entry naming a module by string
(`"ivrsync.cli.plan:plan"`, as the command table and entry points do). A cycle means two
modules each need a piece of the other: that piece belongs in a third module both import.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import ivrsync

PACKAGE_DIR = Path(ivrsync.__file__).parent
# "module:attribute", the form of entry points and of the CLI's lazy command table.
_MODULE_REFERENCE = re.compile(r"(ivrsync(?:\.\w+)+):\w+")


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package by dotted name, with its file and whether it is a package."""
    modules = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


def _imported(node: ast.AST, package: str, modules: dict[str, tuple[Path, bool]]) -> list[str]:
    """The ivrsync modules one node imports: `from pkg import module` is the module itself."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        return [
            f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
            for alias in node.names
        ]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        match = _MODULE_REFERENCE.fullmatch(node.value)
        return [match.group(1)] if match else []
    return []


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """module -> the ivrsync modules it imports (itself excluded); read once per session."""
    modules = _modules()
    graph: dict[str, frozenset[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = frozenset(
            target
            for node in ast.walk(tree)
            for target in _imported(node, package, modules)
            if target in modules and target != name
        )
    return graph


def part_graph() -> dict[str, set[str]]:
    """The graph between the package's parts: a subpackage or a top-level module each."""

    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        graph.setdefault(part(module), set()).update(
            part(target) for target in targets if part(target) != part(module)
        )
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One shortest cycle through each module that is on any, as a path a -> b -> a.

    Found by a breadth-first search back to the start from each module, so every cycle
    reported is one a reader can follow edge by edge; each set of modules is reported once.
    """
    found: dict[frozenset[str], list[str]] = {}
    for start in sorted(graph):
        parents: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in parents:
            next_frontier = []
            for module in frontier:
                for target in sorted(graph[module]):
                    if target not in parents:
                        parents[target] = module
                        next_frontier.append(target)
            frontier = next_frontier
        if start in parents:
            path = [start]
            while len(path) == 1 or path[-1] != start:
                path.append(parents[path[-1]])
            path.reverse()
            found.setdefault(frozenset(path), path)
    return list(found.values())


def test_the_package_has_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (move what both sides need to a module both import):\n" + (
        "\n".join(" -> ".join(cycle) for cycle in found)
    )


def test_the_package_parts_have_no_import_cycles() -> None:
    """A part is a layer (the manifest, the state, the providers): layers depend one way."""
    found = cycles(part_graph())
    assert not found, "import cycles between parts:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_walker_sees_every_kind_of_import() -> None:
    """The graph is only as good as its parser: each form of import yields its edge."""
    graph = import_graph()
    # module level, absolute: `from ivrsync.state.model import ...`
    assert "ivrsync.state.model" in graph["ivrsync.state.store"]
    # inside a function: `from ivrsync.cli.app import run` in main()
    assert "ivrsync.cli.app" in graph["ivrsync.cli.main"]
    # `from package import module` is the module: `from ivrsync.providers import huawei_aicc`
    assert "ivrsync.providers.huawei_aicc" in graph["ivrsync.providers"]
    # a registry entry naming a command module by string
    assert "ivrsync.cli.plan" in graph["ivrsync.cli.app"]
    # relative imports, resolved from the importing module's package
    modules = _modules()
    relative = ast.parse("from ..state import model\nfrom . import output").body
    assert _imported(relative[0], "ivrsync.cli", modules) == ["ivrsync.state.model"]
    assert _imported(relative[1], "ivrsync.cli", modules) == ["ivrsync.cli.output"]


def test_cycles_are_named_as_paths() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d2"], "d2": ["d"], "e": []}
    assert cycles(graph) == [["a", "b", "c", "a"], ["d", "d2", "d"]]
