"""The shape of sparkwing-core's code: no import cycles, no mixins.

Imports are read from the sources with ``ast`` (nothing is imported), at
module level and inside ``if TYPE_CHECKING:`` blocks; imports inside
functions are deliberate lazy loads and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sparkwing

ROOT = Path(sparkwing.__file__).resolve().parent


def _modules() -> dict[str, tuple[Path, bool]]:
    out: dict[str, tuple[Path, bool]] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


def _target(module: str, is_pkg: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements of a module outside functions (``if``/``try`` blocks included)."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        out.append(stmt)
        if isinstance(stmt, ast.ClassDef):
            out.extend(_top_level(stmt.body))
        for field in ("body", "orelse", "finalbody"):
            if not isinstance(stmt, ast.ClassDef) and isinstance(getattr(stmt, field, None), list):
                out.extend(_top_level(getattr(stmt, field)))
        for handler in getattr(stmt, "handlers", []):
            out.extend(_top_level(handler.body))
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the sparkwing modules it imports (module level and TYPE_CHECKING)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, (path, is_pkg) in modules.items():
        deps: set[str] = set()
        for stmt in _top_level(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(stmt, ast.Import):
                deps.update(a.name for a in stmt.names if a.name in modules)
            elif isinstance(stmt, ast.ImportFrom):
                target = _target(module, is_pkg, stmt.level, stmt.module)
                for alias in stmt.names:
                    full = f"{target}.{alias.name}"
                    if full in modules:
                        deps.add(full)
                    elif target in modules:
                        deps.add(target)
        deps.discard(module)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "sparkwing.orchestrator.engine" in graph
    assert "sparkwing.orchestrator.journal" in graph["sparkwing.orchestrator.engine"]
    assert "sparkwing.dsl.refs" in graph["sparkwing.runtime.context"]  # a TYPE_CHECKING import


def test_cycle_detection_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_sparkwing_core() -> None:
    assert cycles(import_graph()) == []


def test_no_mixins_in_sparkwing_core() -> None:
    mixins = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Mixin"):
                mixins.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}")
    assert mixins == []
