"""What a run loads only when a job needs it: the thread pools, the command machinery."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest
from sparkwing.runtime.lazypool import LazyThreadPool


def test_work_runs_in_named_threads_made_on_first_submit() -> None:
    pool = LazyThreadPool(2, thread_name_prefix="job")
    assert not pool.started
    names = [pool.submit(lambda: threading.current_thread().name).result() for _ in range(3)]
    assert pool.started and all(n.startswith("job") for n in names)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(print)


def test_shutdown_before_any_work_makes_nothing() -> None:
    pool = LazyThreadPool(2)
    pool.shutdown(wait=False, cancel_futures=True)
    assert not pool.started
    with pytest.raises(RuntimeError):
        pool.submit(print)


def test_asyncio_runs_blocking_calls_in_it() -> None:
    pool = LazyThreadPool(4, thread_name_prefix="hook")

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(
            loop.run_in_executor(pool, lambda: threading.current_thread().name)
            for _ in range(8))))

    assert all(n.startswith("hook") for n in asyncio.run(main()))
    pool.shutdown()


PROBE = """
import sys
sys.argv = ["sparkwing", "run", "{pipeline}"]
import os
real_exit = os._exit
def report(code):
    for name in ("concurrent.futures.thread", "sparkwing.runtime.command"):
        sys.stderr.write("LOADED " + name + "=" + str(name in sys.modules) + "\\n")
    sys.stderr.flush()
    real_exit(code)
os._exit = report
from sparkwing_cli.main import main
main()
"""


def _loaded(tmp_path, body: str) -> str:
    pipelines = tmp_path / ".sparkwing" / "pipelines"
    pipelines.mkdir(parents=True)
    (tmp_path / ".sparkwing" / "sparkwing.yaml").write_text(
        'pipelines:\n  - name: p\n    entrypoint: "pipelines.p:plan"\n')
    (pipelines / "p.py").write_text(
        "import sparkwing as sw\n\n"
        f"def plan(plan, inputs, run):\n    plan.job('a', {body})\n    plan.job('b', {body})\n")
    out = subprocess.run([sys.executable, "-c", PROBE.format(pipeline="p")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-800:]
    return out.stderr


@pytest.mark.parametrize(("body", "pool", "commands"), [
    ("lambda ctx: None", False, False),
    ("lambda ctx: print('hi')", True, False),
    ("sw.sh('true')", True, True),
])
def test_a_run_loads_pools_and_commands_when_a_job_needs_them(tmp_path, body: str, pool: bool,
                                                              commands: bool) -> None:
    err = _loaded(tmp_path, body)
    assert f"LOADED concurrent.futures.thread={pool}" in err
    assert f"LOADED sparkwing.runtime.command={commands}" in err
