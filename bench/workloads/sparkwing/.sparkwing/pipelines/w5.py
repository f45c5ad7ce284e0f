"""W5: one shell job printing BENCH_LINES lines of 80 bytes; each becomes a log record.

``BENCH_PY`` and ``BENCH_EMIT`` name the interpreter and ``emit_lines.py``;
the benchmark harness sets all three.
"""

import os
import shlex

import sparkwing as sw

PY = os.environ.get("BENCH_PY", "python3")
EMIT = os.environ.get("BENCH_EMIT", "emit_lines.py")
LINES = int(os.environ.get("BENCH_LINES", "200000"))


def plan(plan, inputs, run):
    """Register the one chatty job."""
    plan.job("out", sw.sh(f"{shlex.quote(PY)} {shlex.quote(EMIT)} {LINES}"))
