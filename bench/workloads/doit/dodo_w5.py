"""W5 for doit: one cmd-action task whose 80-byte lines are redirected to its log file.

doit keeps no per-line records of its own; the shell redirect is how a doit
user would persist the output. ``BENCH_PY``, ``BENCH_EMIT``, ``BENCH_LINES``
and ``BENCH_LOG`` are set by the harness.
"""

import os
import shlex

PY = os.environ.get("BENCH_PY", "python3")
EMIT = os.environ.get("BENCH_EMIT", "emit_lines.py")
LINES = int(os.environ.get("BENCH_LINES", "200000"))
LOG = os.environ.get("BENCH_LOG", "out.log")


def task_out():
    """Run the line printer into the task's log file."""
    cmd = f"{shlex.quote(PY)} {shlex.quote(EMIT)} {LINES} > {shlex.quote(LOG)}"
    return {"actions": [cmd]}
