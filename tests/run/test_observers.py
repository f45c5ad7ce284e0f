"""Plugins' observer hooks see every run and node, and a failing observer never fails a run."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import sparkwing
from sparkwing.plugins.manager import PluginHost
from sparkwing.testing.harness import Harness

PIPE = """
import sparkwing as sw
def plan(p, inputs, run):
    a = p.job("a", lambda ctx: 1)
    p.job("b", sw.sh("exit 1")).needs(a).optional()
    p.job("c", lambda ctx: 3).skip_if(lambda ctx: True)
"""


def _observer(seen: list[tuple[str, str, str]], fail: str = "") -> PluginHost:
    """A plugin host with one plugin implementing the four observer hooks."""
    module = ModuleType("observer")

    def note(name: str, run: Any, node: Any = None) -> None:
        seen.append((name, run.id, "" if node is None
                     else f"{node.node_id}:{node.status}:{node.outcome}"))
        if name == fail:
            raise RuntimeError("observer broke")

    def sparkwing_run_started(run: Any) -> None:
        note("sparkwing_run_started", run)

    def sparkwing_run_finished(run: Any) -> None:
        note("sparkwing_run_finished", run)

    def sparkwing_node_started(run: Any, node: Any) -> None:
        note("sparkwing_node_started", run, node)

    def sparkwing_node_finished(run: Any, node: Any) -> None:
        note("sparkwing_node_finished", run, node)

    for fn in (sparkwing_run_started, sparkwing_run_finished, sparkwing_node_started,
               sparkwing_node_finished):
        setattr(module, fn.__name__, sparkwing.hookimpl(fn))
    return PluginHost().load(entry_points=False, extra=(module,))


def test_observers_see_the_run_and_every_node(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("obs", PIPE)
    seen: list[tuple[str, str, str]] = []
    run = sparkwing_harness.run("obs", hooks=_observer(seen))
    assert run.status == "success"
    assert {s[1] for s in seen} == {run.id}
    calls = [(name, node) for name, _, node in seen]
    assert calls[0] == ("sparkwing_run_started", "")
    assert calls[-1] == ("sparkwing_run_finished", "")
    started = sorted(node for name, node in calls if name == "sparkwing_node_started")
    finished = sorted(node for name, node in calls if name == "sparkwing_node_finished")
    assert started == ["a:running:", "b:running:"]
    assert finished == ["a:done:success", "b:done:failed", "c:done:skipped"]


def test_a_failing_observer_costs_a_warning_not_the_run(
    sparkwing_harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", "1")  # the host raises: the run must not
    sparkwing_harness.pipeline("obs", PIPE)
    seen: list[tuple[str, str, str]] = []
    run = sparkwing_harness.run("obs", hooks=_observer(seen, fail="sparkwing_node_finished"))
    assert run.status == "success"
    assert run.outcomes == {"a": "success", "b": "failed", "c": "skipped"}
    warnings = [w for w in run.warnings if "node_finished hook failed" in w]
    assert len(warnings) == 3 and "observer broke" in warnings[0]
