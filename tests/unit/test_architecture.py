"""The layering rules, checked on the source: the engine's imports form no cycle and never reach Qt or a front end.

Every `import` statement counts, also those inside functions (imported on first use) and under
`if TYPE_CHECKING:`, since a cycle there still ties the modules together for a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "recovery_console"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
QT = ("PySide6", "qasync", "shiboken6")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imports(module: str) -> set[str]:
    """Every module name `module` imports (absolute names; `from a import b` gives a.b when b is a module)."""
    tree = ast.parse(MODULES[module].read_text("utf-8"), filename=str(MODULES[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module} uses a relative import"
            base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


GRAPH = {module: {name for name in _imports(module) if name in MODULES} for module in MODULES}


def _in(prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in MODULES if any(m == p or m.startswith(p + ".") for p in prefixes)]


ENGINE = _in((f"{PACKAGE}.engine",))
CORE = _in((f"{PACKAGE}.engine", f"{PACKAGE}.errors", f"{PACKAGE}.models"))


def _cycles(nodes: list[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself), via Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    inside = set(nodes)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node] & inside):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in GRAPH[node]:
                found.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def test_the_walk_finds_the_engine_and_its_imports() -> None:
    """A guard on the checker itself: it sees the modules and the edges it is meant to judge."""
    assert f"{PACKAGE}.engine.console" in ENGINE and f"{PACKAGE}.engine.archive.pgarchive" in ENGINE
    assert f"{PACKAGE}.errors" in GRAPH[f"{PACKAGE}.engine.console"]
    assert f"{PACKAGE}.engine.archive.pgarchive" in GRAPH[f"{PACKAGE}.engine.container.verify"]
    assert f"{PACKAGE}.engine.container.verify" in GRAPH[f"{PACKAGE}.engine.restore"]


def test_the_engine_import_graph_has_no_cycle() -> None:
    assert _cycles(ENGINE) == []


def test_the_checker_would_see_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = f"{PACKAGE}.engine.container.format", f"{PACKAGE}.engine.container.reader"
    monkeypatch.setitem(GRAPH, a, GRAPH[a] | {b})
    assert [a, b] in _cycles(ENGINE)


@pytest.mark.parametrize("module", CORE)
def test_engine_errors_and_models_never_import_qt(module: str) -> None:
    qt = sorted(name for name in _imports(module) if name.split(".")[0] in QT)
    assert qt == [], f"{module} imports {qt}"


@pytest.mark.parametrize("module", _in((f"{PACKAGE}.errors", f"{PACKAGE}.models")))
def test_models_and_errors_import_nothing_from_the_engine(module: str) -> None:
    engine = sorted(name for name in GRAPH[module] if name.startswith(f"{PACKAGE}.engine"))
    assert engine == [], f"{module} imports {engine}"


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_imports_no_front_end(module: str) -> None:
    front = sorted(name for name in _imports(module)
                   if name.startswith((f"{PACKAGE}.cli", f"{PACKAGE}.ui")))
    assert front == [], f"{module} imports {front}"
