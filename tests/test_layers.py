"""The shape of the code: layers import only downwards, plugins import only the SDK, no
import cycles, and docs/architecture.md's module map says the same as this table.

Every import counts (module level, inside functions, under TYPE_CHECKING): a lazy
import that goes up a layer is still a dependency going the wrong way.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# lowest first; a module may import its own layer and the ones before it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("sdk", ("ao.sdk",)),
    ("store", ("ao.store",)),
    ("registry", ("ao.registry",)),
    ("config", ("ao.config",)),
    ("fix", ("ao.fix",)),
    ("session", ("ao.session",)),
    ("notify", ("ao.notify",)),
    ("lifecycle", ("ao.lifecycle",)),
    ("api", ("ao.api", "ao.selftest")),
    ("front-ends", ("ao.cli", "ao.web", "ao.mcp", "ao.completion", "ao.__main__")),
]
# old module paths third-party plugins may still use: aliases of the SDK for one release
DEPRECATED = {
    "ao.contracts", "ao.errors", "ao.proc", "ao.gitref", "ao.textsafe", "ao.agentkit",
    "ao.redact", "ao.forge", "ao.httpcache", "ao.paths",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def imports(path: Path, *, typing_only: bool = True) -> Iterator[tuple[int, str]]:
    """(line, module) for every ``ao`` module ``path`` imports, anywhere in the file;
    without ``typing_only``, those under ``if TYPE_CHECKING:`` (never run) are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    skipped: set[int] = set()
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ao":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.split(".")[0] != "ao":
                continue
            for alias in node.names:
                # `from ao.store import events` imports the module ao.store.events
                candidate = f"{base}.{alias.name}"
                found = _exists(candidate)
                yield node.lineno, candidate if found else base


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def core_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "ao").rglob("*.py") if "__pycache__" not in p.parts)


def test_every_core_module_has_a_layer() -> None:
    unplaced = [
        module_name(p)
        for p in core_modules()
        if layer_of(module_name(p)) is None and module_name(p) not in DEPRECATED | {"ao"}
    ]
    assert unplaced == []


def test_imports_only_go_down() -> None:
    wrong = []
    for path in core_modules():
        me = module_name(path)
        mine = layer_of(me)
        for line, target in imports(path):
            if target in DEPRECATED:
                if me not in DEPRECATED:
                    wrong.append(f"{me}:{line} imports the deprecated alias {target}")
                continue
            theirs = layer_of(target)
            if mine is None or target == "ao":
                continue
            if theirs is None or theirs > mine:
                wrong.append(f"{me}:{line} ({LAYERS[mine][0]}) imports {target} (above)")
    assert wrong == []


def test_plugins_import_only_the_sdk() -> None:
    wrong = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for line, target in imports(path):
            if target != "ao" and not target.startswith("ao.sdk"):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    """No group of modules imports each other at run time (annotations may refer up)."""
    graph: dict[str, set[str]] = {}
    for path in core_modules():
        graph[module_name(path)] = {t for _, t in imports(path, typing_only=False) if t != "ao"}
    cycles = _strongly_connected(graph)
    assert cycles == [], cycles


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan: every group of modules that import each other (directly or not)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_architecture_doc_lists_the_same_layers() -> None:
    """docs/architecture.md's module map names the layers' folders in this order."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_/.]+)` \|", section, flags=re.M)
    expected = [p.replace(".", "/") for _, prefixes in LAYERS for p in prefixes]
    assert documented == expected, documented


def test_deprecated_aliases_still_work_and_warn() -> None:
    import importlib
    import sys
    import warnings

    for name in sorted(DEPRECATED):
        sys.modules.pop(name, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(name)
        assert any(issubclass(w.category, DeprecationWarning) for w in caught), name
        assert dir(module)
    from ao.contracts import Agent  # type: ignore[attr-defined]
    from ao.sdk.contracts import Agent as Same

    assert Agent is Same


def test_every_lazy_import_says_why() -> None:
    """Imports belong at module level; one inside a function is there to keep a command
    fast (``ao --help``, ``ao list`` never load pydantic, yaml or spawn) and says so in a
    ``# lazy: …`` comment on it or above its block."""
    silent = []
    for path in core_modules():
        if module_name(path) in DEPRECATED:
            continue
        lines = path.read_text(encoding="utf-8").split("\n")
        tree = ast.parse("\n".join(lines))
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for child in node.body
            for n in ast.walk(child)
        }
        silent.extend(
            f"{module_name(path)}:{node.lineno}"
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(fn)
            if isinstance(node, ast.Import | ast.ImportFrom)
            and id(node) not in typing_only
            and not _says_why(lines, node.lineno)
        )
    assert silent == []


def _says_why(lines: list[str], lineno: int) -> bool:
    """A ``# lazy`` comment on the import's line or above it, over the imports of its block."""
    if "# lazy" in lines[lineno - 1]:
        return True
    i = lineno - 2
    while i >= 0:
        text = lines[i].strip()
        if text.startswith("# lazy"):
            return True
        if text.startswith(("from ", "import ", "#")) or text in ("", ")") or text.endswith(","):
            i -= 1
            continue
        return False
    return False
