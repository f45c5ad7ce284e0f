"""Guardrails: every hook is documented with its real signature, and tested by a plugin.

* each hook specification has a docstring and a ``### name`` section in
  ``docs/plugins.md`` whose first Python block defines the hook with the
  specification's parameters, annotations (resolved to the same objects)
  and return type;
* each hook is implemented by a plugin inside some test function under
  ``tests/plugin_system/`` (a ``def sparkwing_x``, a ``sparkwing_x=``
  keyword, an assignment to ``.sparkwing_x``, or plugin source text
  defining it), so no hook ships without a test of its own.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from sparkwing.plugins import PROJECT, hookspecs

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "plugins.md"


def _hookspecs() -> dict[str, Any]:
    return {
        name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{PROJECT}_spec")
    }


def _sections() -> dict[str, str]:
    """``### sparkwing_x`` heading -> the text up to the next heading."""
    text = DOC.read_text()
    parts = re.split(r"^(#{1,3} .*)$", text, flags=re.MULTILINE)
    out: dict[str, str] = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        m = re.fullmatch(r"### (sparkwing_\w+)\s*", heading)
        if m:
            out[m.group(1)] = body
    return out


def _spec_namespace() -> dict[str, Any]:
    """The names hookspecs.py imports for its annotations (its ``if TYPE_CHECKING:`` block)."""
    tree = ast.parse(Path(hookspecs.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If)
                 and ast.unparse(n.test) == "TYPE_CHECKING")
    namespace: dict[str, Any] = {"__package__": "sparkwing.plugins", "__name__": "sparkwing.x"}
    exec(compile(ast.Module(body=block.body, type_ignores=[]), "hookspecs", "exec"), namespace)
    return namespace


def _resolve(annotation: str, namespace: dict[str, Any]) -> Any:
    return eval(annotation, namespace)


def _doc_signature(name: str) -> tuple[list[tuple[str, Any]], str, dict[str, Any], str]:
    """Parameters (name, resolved annotation), the return annotation, namespace, decorator."""
    body = _sections()[name]
    block = re.search(r"```python\n(.*?)```", body, flags=re.DOTALL)
    assert block, f"docs/plugins.md: section {name} has no ```python block"
    tree = ast.parse(block.group(1))
    namespace: dict[str, Any] = {}
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    exec(compile(ast.Module(body=imports, type_ignores=[]), "doc", "exec"), namespace)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    assert fn is not None, f"docs/plugins.md: the first block of {name} does not define it"
    params = [(a.arg, _resolve(ast.unparse(a.annotation), namespace) if a.annotation else None)
              for a in fn.args.args]
    returns = ast.unparse(fn.returns) if fn.returns else ""
    decorator = ast.unparse(fn.decorator_list[0]) if fn.decorator_list else ""
    return params, returns, namespace, decorator


def test_there_are_hookspecs_to_check() -> None:
    assert {"sparkwing_register_backends", "sparkwing_register_executors",
            "sparkwing_register_triggers", "sparkwing_node_finished"} <= set(_hookspecs())


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hookspec_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(_hookspecs()[name]) or ""
    assert len(doc.split()) >= 5, f"hookspec {name} needs a real docstring"


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hookspec_has_a_section_in_the_plugin_guide(name: str) -> None:
    assert name in _sections(), f"docs/plugins.md needs a '### {name}' section"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert set(_sections()) - set(_hookspecs()) == set()


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_the_documented_signature_is_the_specification(name: str) -> None:
    spec = _hookspecs()[name]
    namespace = _spec_namespace()
    annotations = dict(spec.__annotations__)
    expected = [(p, _resolve(annotations[p], namespace))
                for p in inspect.signature(spec).parameters]
    params, returns, _, decorator = _doc_signature(name)
    assert params == expected, f"docs/plugins.md {name}: {params} != spec {expected}"
    assert returns == annotations["return"] == "None"
    assert decorator == "sparkwing.hookimpl"


def test_the_signature_check_can_fail() -> None:
    """A documented annotation resolving to another object than the spec's is caught."""
    from sparkwing.storage.records import Node, Run

    namespace = _spec_namespace()
    assert _resolve("Run", namespace) is Run and _resolve("Node", namespace) is Node
    assert _resolve("Node", namespace) is not _resolve("Run", namespace)


def test_every_hook_follows_the_naming_rule() -> None:
    assert all(name.startswith("sparkwing_") for name in _hookspecs())


# -- every hook has a test of its own ----------------------------------------------------


def _implemented_in(fn: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> set[str]:
    """Hook names a plugin implements inside the test function *fn*."""
    found: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            found.add(node.name)
        elif isinstance(node, ast.keyword) and node.arg in names:
            found.add(node.arg)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and node.attr in names:
            found.add(node.attr)
    return found


def _source_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level string constants (plugin sources written into test sites)."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def hooks_with_tests(root: Path = HERE) -> dict[str, list[str]]:
    """Hook name -> ``file::test`` functions whose plugin implements it."""
    names = set(_hookspecs())
    out: dict[str, list[str]] = {n: [] for n in names}
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        constants = _source_constants(tree)
        functions = {fn.name: fn for fn in ast.walk(tree)
                     if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)}
        for fn in functions.values():
            if not fn.name.startswith("test_"):
                continue
            # The test itself, and the fixtures of this module it takes as arguments.
            scanned = [fn, *(functions[a.arg] for a in fn.args.args
                             if a.arg in functions and not a.arg.startswith("test_"))]
            found: set[str] = set()
            for part in scanned:
                found |= _implemented_in(part, names)
                used = {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
                for const, text in constants.items():
                    if const in used:
                        found |= {n for n in names
                                  if re.search(rf"^def {n}\(", text, re.MULTILINE)}
            for hook in found:
                out[hook].append(f"{path.relative_to(root)}::{fn.name}")
    return out


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_every_hook_is_implemented_by_a_plugin_in_some_test(name: str) -> None:
    assert hooks_with_tests()[name], (
        f"no test under tests/plugin_system/ implements {name}; add one that registers a "
        "plugin implementing it and checks what sparkwing does with it"
    )


def test_the_coverage_scan_can_fail(tmp_path: Path) -> None:
    (tmp_path / "test_some.py").write_text(
        "SOURCE = '''\ndef sparkwing_run_started(run):\n    pass\n'''\n\n"
        "def test_uses_source():\n    install(SOURCE)\n\n"
        "def test_keyword():\n    plugin_module('x', sparkwing_node_started=print)\n\n"
        "def helper():\n    def sparkwing_node_finished(run, node):\n        pass\n\n"
        "def observed(tmp_path):\n    plugin.sparkwing_run_finished = print\n\n"
        "def test_through_a_fixture(observed):\n    assert observed\n"
    )
    found = {hook: tests for hook, tests in hooks_with_tests(tmp_path).items() if tests}
    assert found == {
        "sparkwing_run_started": ["test_some.py::test_uses_source"],
        "sparkwing_node_started": ["test_some.py::test_keyword"],
        "sparkwing_run_finished": ["test_some.py::test_through_a_fixture"],
    }
