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


# Where a module outside providers/ and emulator/ may still name a provider, and why. Keep it
# short: each entry is knowledge that belongs behind the provider protocol, not yet moved.
PROVIDER_NAMES_ALLOWED: dict[str, str] = {}
# Texts that may name a provider wherever they are, and why; matched exactly, so nothing else
# slips by.
PROVIDER_TEXTS_ALLOWED = {
    # Example addresses in help and messages: `aicc` and `ccc` there are provider *names* a
    # manifest chose (as in the docs), not types.
    "aicc.welcome.en_US": "an example address",
    "'ccc.*'": "an example glob",
}
# Words of a type name that are ordinary words of code too, and name no provider alone: the
# type name itself, and its other words, still count.
COMMON_WORDS = {
    # amazon-connect: `sqlite3.connect`, `socket.connect`; "amazon" still counts.
    "connect": "a verb of every database and socket API",
}
_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")


def _provider_words() -> re.Pattern[str]:
    """Each registered type name, and each of its words (`huawei`, `aicc`), as a word of an
    identifier or a text: `is_huawei_native`, `HuaweiEmulator` and "Huawei's" all match."""
    from ivrsync.providers import PROVIDER_TYPES

    words = {
        word
        for name in PROVIDER_TYPES
        for word in [name, *name.split("-")]
        if word not in COMMON_WORDS
    }
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z])({alternatives})(?![a-z])", re.IGNORECASE)


def _code_texts(tree: ast.AST) -> Iterable[tuple[int, str]]:
    """The identifiers, imported modules and string literals of a module, with their lines;
    docstrings (and comments, which ast drops) are left out: they may say which provider's
    behaviour the code answers, the code itself may not."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.alias):
            yield line, node.name
        elif isinstance(node, ast.ImportFrom):
            yield line, node.module or ""
        elif isinstance(node, ast.keyword | ast.arg):
            yield line, (node.arg or "")


def provider_mentions(source: str, path: str = "<source>") -> list[str]:
    """`line: text` for each identifier or string in `source` that names a provider."""
    words = _provider_words()
    found = []
    for line, text in _code_texts(ast.parse(source, path)):
        checked = text
        for allowed in PROVIDER_TEXTS_ALLOWED:
            checked = checked.replace(allowed, "")
        if words.search(_CAMEL_HUMP.sub(r"\1_\2", checked)):  # HuaweiThing: Huawei_Thing
            found.append(f"{line}: {text[:80]!r}")
    return sorted(set(found))


def test_no_module_outside_providers_and_emulator_names_a_provider() -> None:
    """The core is provider-agnostic: what a provider is, does or is called comes from its
    module through the registry (`ivrsync.providers.PROVIDER_TYPES`)."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR).as_posix()
        if relative.split("/")[0] in {"providers", "emulator"}:
            continue
        if relative in PROVIDER_NAMES_ALLOWED:
            continue
        found += [f"ivrsync/{relative}:{m}" for m in provider_mentions(path.read_text("utf-8"))]
    assert not found, "provider knowledge outside providers/ (ask the registry):\n" + (
        "\n".join(found)
    )


def test_the_provider_grep_sees_identifiers_and_messages() -> None:
    source = (
        '"""Huawei reviews uploads (a docstring may say so)."""\n'
        "from ivrsync.providers import huawei_aicc\n"
        "def f(info):\n"
        "    return info.is_huawei_native\n"
        "class TencentThing: ...\n"
        "TYPE = 'tencent-ccc'\n"
        'message = "apply looks Tencent ones up"\n'
        "example = 'e.g. aicc.welcome.en_US'\n"
    )
    assert provider_mentions(source) == [
        "2: 'huawei_aicc'",
        "4: 'is_huawei_native'",
        "5: 'TencentThing'",
        "6: 'tencent-ccc'",
        "7: 'apply looks Tencent ones up'",
    ]
    # An ordinary word of a type name alone is no mention; the name and its other words are.
    common = "db = sqlite3.connect(path)\nkind = 'amazon-connect'\nclass AmazonPrompt: ...\n"
    assert provider_mentions(common) == ["2: 'amazon-connect'", "3: 'AmazonPrompt'"]


def test_every_allowed_provider_mention_is_still_there() -> None:
    """An allow-list entry whose module no longer names a provider is removed, not kept."""
    for relative in PROVIDER_NAMES_ALLOWED:
        source = (PACKAGE_DIR / relative).read_text("utf-8")
        assert provider_mentions(source), f"{relative} names no provider: drop it from the list"


# The modules that open the state and take its lock (the store; ApplySession, which holds the
# lock for apply, import and refresh): only operations (ivrsync/operations/) and the workflows
# they call reach them, so every command takes and releases the lock the same way.
_STATE_STORE_MODULES = {
    "ivrsync.state.store",
    "ivrsync.state.backends",
    "ivrsync.state.s3",
    "ivrsync.apply.workflow",
}


def _cli_modules() -> list[str]:
    return sorted(m for m in import_graph() if m.startswith("ivrsync.cli."))


def test_no_cli_module_opens_or_locks_the_state() -> None:
    """A command parses, calls an operation, renders, picks an exit code: it never holds the
    state (its store, its lock) itself."""
    found = [
        f"{module} imports {target}"
        for module in _cli_modules()
        for target in sorted(import_graph()[module] & _STATE_STORE_MODULES)
    ]
    for path in sorted((PACKAGE_DIR / "cli").rglob("*.py")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if "StateStore" in line:
                found.append(f"ivrsync/cli/{path.name}:{number}: {line.strip()}")
    assert not found, "the CLI touches the state; call an ivrsync.operations function:\n" + (
        "\n".join(found)
    )


def test_operations_and_views_never_print() -> None:
    """Operations return data and views return text: only the CLI writes (ivrsync/cli/output.py),
    so every command's output goes through one place that redacts secrets."""
    found = []
    for part in ("operations", "views"):
        for path in sorted((PACKAGE_DIR / part).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"), str(path))
            for line, text in _code_texts(tree):
                if text in {"print", "echo", "secho", "stdout", "stderr", "click"}:
                    found.append(f"ivrsync/{part}/{path.name}:{line}: {text}")
    assert not found, "printing outside the CLI:\n" + "\n".join(found)
