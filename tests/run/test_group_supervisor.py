"""The group supervisor (``runtime/supervisor.py``): when the process that registered groups
dies with SIGKILL, every group still registered is killed (all of its processes) and the
groups it released are left alone; SIGINT/SIGHUP do not stop the supervisor early. A real
child Python process, real ``sleep`` process groups, found by unique arguments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sparkwing.testing.procs import pids_with_arg, unique_sleep, wait_for


def _ignores(pid: int, *signals: int) -> bool:
    """Whether process *pid* ignores every one of *signals* (its ``SigIgn`` mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return all(mask & (1 << (s - 1)) for s in signals)
    return False


def test_registered_groups_die_with_their_owner_and_released_ones_do_not(
        reaper: list[str]) -> None:
    first, second, kept, third, inner = (unique_sleep() for _ in range(5))
    reaper.extend([first, second, kept, third, inner])
    script = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        from sparkwing.runtime.supervisor import SUPERVISOR

        def group(*argv):
            p = subprocess.Popen(list(argv), start_new_session=True, stdout=subprocess.DEVNULL)
            SUPERVISOR.watch(p.pid)
            return p

        a = group("sleep", "{first}")
        k = group("sleep", "{kept}")
        b = group("sh", "-c", "sleep {inner} & sleep {second}; wait")
        c = group("sleep", "{third}")
        SUPERVISOR.release(k.pid)  # a group in the middle of the registered ones
        print(SUPERVISOR.pid, flush=True)
        sys.stdin.readline()  # the test saw the supervisor ignore SIGINT and SIGHUP
        os.kill(SUPERVISOR.pid, signal.SIGINT)
        os.kill(SUPERVISOR.pid, signal.SIGHUP)
        print("signalled", flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdin is not None
        supervisor = int(owner.stdout.readline())
        wait_for(lambda: _ignores(supervisor, signal.SIGINT, signal.SIGHUP), timeout=60)
        owner.stdin.write("go\n")
        owner.stdin.flush()
        assert owner.stdout.readline() == "signalled\n"
        wait_for(lambda: all(pids_with_arg(a) for a in (first, second, kept, third, inner)),
                 timeout=60)
        os.kill(supervisor, 0)  # SIGINT and SIGHUP did not end it
        owner.kill()
        owner.wait(timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.communicate()
    wait_for(lambda: not any(pids_with_arg(a) for a in (first, second, third, inner)),
             timeout=30)
    assert pids_with_arg(kept), "a released group was killed"
