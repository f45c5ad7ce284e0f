"""W4: 100 independent shell jobs running ``true`` (the benchmark passes --sw-workers 2)."""

import sparkwing as sw


def plan(plan, inputs, run):
    """Register the 100 shell jobs."""
    for i in range(100):
        plan.job(f"s{i}", sw.sh("true"))
