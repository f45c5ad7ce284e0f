"""W1-W5 as Prefect 3 flows and tasks, on the default ephemeral local server (SQLite).

    python flows.py w2

W5 logs each output line through the task's run logger, which ships it to
the server as a log row (``BENCH_LINES`` lines; the harness defaults to
20,000 for Prefect because 200,000 takes minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

PY = os.environ.get("BENCH_PY", sys.executable)
EMIT = os.environ.get("BENCH_EMIT", "emit_lines.py")
LINES = int(os.environ.get("BENCH_LINES", "20000"))


@task
def hello() -> None:
    """Print hello."""
    print("hello")


@task
def noop(*_: object) -> None:
    """Do nothing (W2, W3)."""
    return None


@task
def true_cmd() -> None:
    """Run ``true`` through the shell (W4)."""
    subprocess.run("true", shell=True, check=True)


@task
def chatty() -> int:
    """Run the line printer and log every line (W5)."""
    logger = get_run_logger()
    proc = subprocess.Popen([PY, EMIT, str(LINES)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    n = 0
    for line in proc.stdout:
        logger.info(line.rstrip("\n"))
        n += 1
    if proc.wait() != 0:
        raise RuntimeError(f"command failed with {proc.returncode}")
    return n


@flow
def w1() -> None:
    """One task printing hello."""
    hello()


@flow
def w2() -> None:
    """500 independent tasks submitted at once, then a join waiting for all."""
    futures = [noop.submit() for _ in range(500)]
    noop.submit(wait_for=futures).result()


@flow
def w3() -> None:
    """A chain of 200 tasks, each taking the previous one's result."""
    prev = None
    for _ in range(200):
        prev = noop(prev)


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def w4() -> None:
    """100 shell tasks, two at a time."""
    futures = [true_cmd.submit() for _ in range(100)]
    for f in futures:
        f.result()


@flow
def w5() -> None:
    """One task logging every line of a chatty command."""
    chatty()


if __name__ == "__main__":
    {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5}[sys.argv[1]]()
