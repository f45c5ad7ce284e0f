"""Event kinds are named once, in ``sparkwing.events``: the sources and the web UI use the names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sparkwing import events
from sparkwing.storage.records import NODE_OUTCOMES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["sparkwing-core/src", "sparkwing-cli/src", "sparkwing-server/src",
           "plugins/sparkwing-sqlite/src"]
STATIC = ROOT / "sparkwing-server/src/sparkwing_server/localws/static"

#: Kinds whose text is also an ordinary word of the code, with what else it names.
SHARED_WORDS = {
    "retry": "the `runs retry` verb, the dashboard's retry feature and the retry trigger source",
    "cancel_requested": "the flag of the controller's claim heartbeat answers (queue_api, "
                        "queueclient): whether the claimed work was asked to stop",
}


def _python_files() -> list[Path]:
    files = []
    for src in SOURCES:
        for path in sorted((ROOT / src).rglob("*.py")):
            if path.name == "events.py" and path.parent.name == "sparkwing":
                continue
            files.append(path)
    return files


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def kind_literals(source: str, kinds: set[str]) -> list[tuple[int, str]]:
    """``(line, text)`` of every string literal in *source* equal to one of *kinds*."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and node.value in kinds and id(node) not in skip):
            found.append((node.lineno, node.value))
    return sorted(found)


def kinds_built(source: str, kinds: set[str]) -> list[tuple[int, str]]:
    """``(line, f-string)`` of every f-string in *source* that can spell one of *kinds*.

    Each ``{...}`` part stands for any word (``f"node_{outcome}"`` spells
    ``node_failed``); f-strings with fewer than two letters of their own are
    left alone (``f"{a}_{b}"`` says nothing).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        text = "".join(v.value for v in node.values
                       if isinstance(v, ast.Constant) and isinstance(v.value, str))
        if len(re.sub(r"[^a-z]", "", text)) < 2:
            continue
        pattern = re.compile("".join(
            re.escape(v.value) if isinstance(v, ast.Constant) and isinstance(v.value, str)
            else "[a-z_-]+" for v in node.values))
        if any(pattern.fullmatch(k) for k in kinds):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_every_kind_belongs_to_one_family_and_is_unique_in_it() -> None:
    families = events.kinds_by_stream()
    assert set(families) == {"state", "log", "stream"}
    names = [name for fam in families.values() for name in fam]
    assert sorted(names) == sorted(events.all_kinds())
    assert all(name.startswith("LOG_") for name in families["log"])
    assert all(name.startswith("STREAM_") for name in families["stream"])
    for family, kinds in families.items():
        values = list(kinds.values())
        assert len(values) == len(set(values)), f"two {family} constants share a value"
        assert all(re.fullmatch(r"[a-z][a-z_]*", v) for v in values), values
    assert set(families["state"].values()) == events.STATE_KINDS
    assert set(families["log"].values()) == events.LOG_KINDS


def test_the_scan_finds_kind_literals() -> None:
    # the check below must be able to fail
    source = 'def f(state):\n    """node_started"""\n    state.append_event("r", "node_started", {})\n'
    assert kind_literals(source, {"node_started"}) == [(3, "node_started")]


def test_the_scan_finds_kinds_built_from_parts() -> None:
    source = 'kind = f"node_{outcome}"\nmsg = f"run {run_id} of {pipeline}"\nkey = f"{a}_{b}"\n'
    assert kinds_built(source, {"node_failed", "run_started"}) == [(1, "f'node_{outcome}'")]


def test_no_event_kind_is_written_out_in_the_python_sources() -> None:
    kinds = set(events.all_kinds().values()) - set(SHARED_WORDS)
    offenders = []
    for path in _python_files():
        source = path.read_text(encoding="utf-8")
        for line, text in kind_literals(source, kinds) + kinds_built(source, kinds):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert not offenders, "use the constants of sparkwing.events:\n" + "\n".join(offenders)


def test_every_node_outcome_has_its_settled_event() -> None:
    settled = {outcome: events.node_settled(outcome) for outcome in NODE_OUTCOMES}
    assert set(settled.values()) <= events.STATE_KINDS
    assert len(set(settled.values())) == len(NODE_OUTCOMES)
    assert settled["failed"] == events.NODE_FAILED
    with pytest.raises(KeyError):
        events.node_settled("running")


def _scripts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(STATIC.glob("*.js"))}


def test_the_web_ui_names_only_kinds_the_server_defines() -> None:
    defined = events.all_kinds()
    used = {name for text in _scripts().values() for name in re.findall(r"\bEV\.([A-Z_]+)", text)}
    assert used, "the scripts read no kinds from kinds.js"
    assert used <= set(defined), f"unknown kind names in the scripts: {used - set(defined)}"


def test_the_web_ui_writes_out_no_kind() -> None:
    kinds = set(events.all_kinds().values()) - set(SHARED_WORDS)
    offenders = [
        f"{name}: {m.group(2)!r}"
        for name, text in _scripts().items()
        for m in re.finditer(r"([\"'`])([a-z_]+)\1", text)
        if m.group(2) in kinds
    ]
    assert not offenders, "read kinds from kinds.js (EV.NAME):\n" + "\n".join(offenders)
