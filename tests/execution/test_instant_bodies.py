"""Sync bodies that cannot block run inline; every other sync body still gets a thread."""

from __future__ import annotations

import functools
import threading

from sparkwing.execution.instant import runs_instantly
from sparkwing.testing.harness import Harness

LIMIT = 7


def _constant(ctx: object) -> int:
    return 3


def _literal(ctx: object) -> dict[str, object]:
    return {"a": [1, 2], "b": (LIMIT, None)}


def _calls(ctx: object) -> None:
    print("x")


def _loops(ctx: object) -> int:
    n = 0
    while n < LIMIT:
        n = n + 1
    return n


def _attribute(ctx: object) -> object:
    return ctx.inputs  # type: ignore[attr-defined]


def _item(ctx: object) -> object:
    return ctx[0]  # type: ignore[index]


def _imports(ctx: object) -> object:
    import json

    return json


def _unpacks(ctx: object) -> list[object]:
    return [*ctx]  # type: ignore[misc]


def _set_of(ctx: object) -> set[object]:
    return {ctx}


class _Callable:
    def __call__(self, ctx: object) -> None:
        return None

    def method(self, ctx: object) -> None:
        return None


def test_code_that_only_loads_builds_and_returns_runs_instantly() -> None:
    assert runs_instantly(lambda ctx: None)
    assert runs_instantly(_constant)
    assert runs_instantly(_literal)


def test_code_that_could_run_user_code_or_wait_does_not() -> None:
    for fn in (_calls, _loops, _attribute, _item, _imports, _unpacks, _set_of):
        assert not runs_instantly(fn), fn.__name__


def test_only_plain_functions_qualify() -> None:
    assert not runs_instantly(_Callable())
    assert not runs_instantly(_Callable().method)
    assert not runs_instantly(functools.partial(_constant))
    assert not runs_instantly(print)


def test_blocking_bodies_still_run_side_by_side(sparkwing_harness: Harness) -> None:
    # Both bodies wait for each other: run one after the other on the loop, they would time out.
    barrier = threading.Barrier(2, timeout=20)

    def meet(ctx: object) -> str:
        barrier.wait()
        return "met"

    def build(plan: object, inputs: object, run: object) -> None:
        plan.job("a", meet)  # type: ignore[attr-defined]
        plan.job("b", meet)  # type: ignore[attr-defined]
        plan.job("instant", lambda ctx: {"n": 1})  # type: ignore[attr-defined]

    run = sparkwing_harness.run_plan(build, workers=3)
    assert run.status == "success", run.run.error
    assert run.node("a").output == "met" and run.node("b").output == "met"
    assert run.node("instant").output == {"n": 1}
    assert [r["msg"] for r in run.logs["instant"]] == [
        "job instant started", "job instant succeeded"]
