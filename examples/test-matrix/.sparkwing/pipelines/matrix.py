"""Pipeline "matrix": the same tests over every (backend, hash seed) pair, then a report.

``plan.fan_out`` adds one job per variant; they run in parallel (up to the
CPU count) and the report job needs the whole group. Each variant job
returns what it ran as its output; the report reads them all.

Try:  sparkwing run matrix
      sparkwing run matrix --backends cents --seeds 0,1,2
      sparkwing pipeline explain --name matrix
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from typing import Any

import sparkwing as sw

BACKENDS = ("decimal", "cents")


@dataclass
class Inputs:
    """Flags of `sparkwing run matrix`."""

    backends: list[str] = sw.arg(default_factory=lambda: list(BACKENDS),
                                 help="arithmetic backends to test (comma-separated)")
    seeds: list[str] = sw.arg(default_factory=lambda: ["0", "1"],
                              help="PYTHONHASHSEED values to test under (comma-separated)")


def variant_job(backend: str, seed: str) -> Any:
    """The body of one matrix cell: run the suite with that backend and hash seed."""

    def run_tests(ctx: sw.Context) -> dict[str, str]:
        ctx.exec([sys.executable, "-m", "unittest", "discover", "-s", "tests"],
                 env={"MONEY_BACKEND": backend, "PYTHONHASHSEED": seed, "PYTHONPATH": "src"})
        return {"backend": backend, "seed": seed, "result": "passed"}

    return run_tests


def plan(plan: sw.Plan, inputs: Inputs, run: sw.RunContext) -> None:
    """Register one test job per variant and a report job after them."""
    unknown = sorted(set(inputs.backends) - set(BACKENDS))
    if unknown:
        raise sw.PlanError(f"--backends: unknown {', '.join(unknown)} "
                           f"(known: {', '.join(BACKENDS)})")
    cells = list(itertools.product(inputs.backends, inputs.seeds))
    tests = plan.fan_out(
        "tests", cells,
        lambda cell: (f"test-{cell[0]}-seed{cell[1]}", variant_job(*cell)),
    ).timeout("2m")

    def report(ctx: sw.Context) -> dict[str, Any]:
        results = [member.output.get(ctx) for member in tests]
        ctx.path("dist").mkdir(exist_ok=True)
        ctx.path("dist", "matrix.json").write_text(json.dumps(results, indent=2) + "\n")
        rows = "\n".join(f"| {r['backend']} | {r['seed']} | {r['result']} |" for r in results)
        ctx.summary("| backend | seed | result |\n|---|---|---|\n" + rows)
        ctx.info(f"{len(results)} variants passed")
        return {"variants": len(results), "report": "dist/matrix.json"}

    plan.job("report", report).needs(tests)
