"""Box slots through real ``sparkwing run`` processes sharing one ``SPARKWING_HOME``."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from sparkwing.orchestrator.boxslots import box_slot_state
from sparkwing.testing.procs import wait_for

BoxEnv = Any
WAITING = "waiting for box slot ("


def waiters(box: BoxEnv) -> int:
    return box_slot_state(box.home).waiters


def holders(box: BoxEnv) -> int:
    return box_slot_state(box.home).holders


def until(box: BoxEnv, pred: Any, timeout: float = 60) -> None:
    """wait_for *pred*; on a timeout, say what the started processes did."""
    try:
        wait_for(pred, timeout=timeout)
    except AssertionError:
        done = {p.pid: (p.returncode, p.stderr.read()) for p in box.procs if p.poll() is not None}
        raise AssertionError(
            f"timed out: started={sorted(box.started())} state={box_slot_state(box.home)} "
            f"exited={done}"
        ) from None


def finish(proc: Any) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    """The largest number of intervals open at one instant."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                   key=lambda x: (x[0], x[1]))
    best = cur = 0
    for _, d in edges:
        cur += d
        best = max(best, cur)
    return best


def test_cap_of_two_with_five_runs(box: BoxEnv) -> None:
    tags = [f"p{i}" for i in range(5)]
    procs = {t: box.start(t, "--sw-box-slots", "2") for t in tags}
    until(box, lambda: len(box.started()) == 2 and waiters(box) == 3)
    first = box.started()
    assert holders(box) == 2
    # free one slot: exactly one more run starts, the cap still holds
    one = sorted(first)[0]
    box.release(one)
    until(box, lambda: one in box.ended() and len(box.started()) == 3 and waiters(box) == 2)
    assert len(box.started()) == 3 and holders(box) == 2
    box.release()
    results = {t: finish(p) for t, p in procs.items()}
    assert all(code == 0 for code, _, _ in results.values()), results
    assert box.started() == box.ended() == set(tags)
    spans = [(box.stamp(t, "start"), box.stamp(t, "end")) for t in tags]
    assert max_overlap(spans) <= 2
    # the runs that had to wait said so on stderr, once at first
    waited = {t for t in tags if t not in first}
    for t in waited:
        lines = [ln for ln in results[t][2].splitlines() if ln.startswith(WAITING)]
        assert lines, results[t][2]
        assert lines[0].endswith("Raise the cap with --sw-box-slots N or fail fast with "
                                 "--sw-no-wait."), lines[0]
        assert "max 2" in lines[0]
    for t in first:
        assert WAITING not in results[t][2]
    # nothing left behind
    assert box.slot_files("holder-") == [] and box.slot_files("ticket-") == []


def test_no_wait_fails_at_once_with_one_line(box: BoxEnv) -> None:
    holder = box.start("h", "--sw-box-slots", "1")
    until(box, lambda: "h" in box.started())
    r = box.run("run", "gated", "--sw-box-slots", "1", "--sw-no-wait")
    assert r.returncode == 1, r.stderr
    assert r.stderr.splitlines() == [
        "error: box slots full (max=1); pass --sw-box-slots N to raise, "
        "or drop --sw-no-wait to queue instead"
    ]
    assert "sync" not in box.started()
    assert box.slot_files("ticket-") == []
    # the environment variables work the same way
    r = box.run("run", "gated", env={"SPARKWING_BOX_SLOTS": "1", "SPARKWING_BOX_NO_WAIT": "1"})
    assert r.returncode == 1 and "box slots full (max=1)" in r.stderr
    box.release()
    assert finish(holder)[0] == 0


def test_sigkilled_holder_frees_its_slot(box: BoxEnv) -> None:
    holder = box.start("h", "--sw-box-slots", "1")
    until(box, lambda: "h" in box.started())
    waiter = box.start("w", "--sw-box-slots", "1")
    until(box, lambda: waiters(box) == 1)
    assert "w" not in box.started()
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    until(box, lambda: "w" in box.started())
    # the dead holder's file was cleaned up; only the waiter's own holder file remains
    assert len(box.slot_files("holder-")) == 1
    assert f"pid{holder.pid}-" not in "".join(box.slot_files("holder-"))
    box.release()
    code, _, err = finish(waiter)
    assert code == 0, err
    assert WAITING in err


def test_waiters_are_served_in_arrival_order(box: BoxEnv) -> None:
    holder = box.start("h", "--sw-box-slots", "1")
    until(box, lambda: "h" in box.started())
    order = ["w1", "w2", "w3", "w4"]
    procs = []
    for n, tag in enumerate(order, start=1):
        procs.append(box.start(tag, "--sw-box-slots", "1"))
        until(box, lambda n=n: waiters(box) == n)
    box.release()
    assert finish(holder)[0] == 0
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0, err
    starts = sorted(order, key=lambda t: box.stamp(t, "start"))
    assert starts == order
    # with one slot the runs never overlapped
    spans = [(box.stamp(t, "start"), box.stamp(t, "end")) for t in ["h", *order]]
    assert max_overlap(spans) == 1


def test_dead_waiter_does_not_block_the_line(box: BoxEnv) -> None:
    holder = box.start("h", "--sw-box-slots", "1")
    until(box, lambda: "h" in box.started())
    doomed = box.start("dead", "--sw-box-slots", "1")
    until(box, lambda: waiters(box) == 1)
    later = box.start("later", "--sw-box-slots", "1")
    until(box, lambda: waiters(box) == 2)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=60)
    box.release("h")
    until(box, lambda: "later" in box.started())
    assert "dead" not in box.started()
    box.release()
    assert finish(holder)[0] == 0 and finish(later)[0] == 0
    assert box.slot_files("ticket-") == []


@pytest.mark.parametrize("inherited", [signal.SIG_DFL, signal.SIG_IGN], ids=["terminal",
                                                                              "background"])
def test_ctrl_c_while_waiting_exits_130_and_leaves_no_ticket(box: BoxEnv,
                                                            inherited: signal.Handlers) -> None:
    holder = box.start("h", "--sw-box-slots", "1")
    until(box, lambda: "h" in box.started())
    # A run started in a script's background inherits SIGINT ignored; the run itself answers
    # Ctrl-C anyway (the orchestrator installs its own handler), so its wait does too.
    waiter = box.start("w", "--sw-box-slots", "1", sigint=inherited)
    until(box, lambda: waiters(box) == 1)
    waiter.send_signal(signal.SIGINT)
    code, _, err = finish(waiter)
    assert code == 130, err
    assert err.splitlines()[-1] == "error: interrupted while waiting for a box slot"
    assert "Traceback" not in err
    assert box.slot_files("ticket-") == [] and waiters(box) == 0
    assert "w" not in box.started()
    box.release()
    assert finish(holder)[0] == 0


def test_sigterm_while_waiting_exits_130_and_leaves_no_ticket(box: BoxEnv) -> None:
    holder = box.start("h", "--sw-box-slots", "1")
    until(box, lambda: "h" in box.started())
    waiter = box.start("w", "--sw-box-slots", "1")
    until(box, lambda: waiters(box) == 1)
    waiter.send_signal(signal.SIGTERM)
    code, _, err = finish(waiter)
    assert code == 130, err
    assert err.splitlines()[-1] == "error: terminated (SIGTERM) while waiting for a box slot"
    assert box.slot_files("ticket-") == []
    box.release()
    assert finish(holder)[0] == 0


def test_flag_overrides_environment_and_off_disables(box: BoxEnv) -> None:
    holder = box.start("h", env={"SPARKWING_BOX_SLOTS": "1"})
    until(box, lambda: "h" in box.started() and holders(box) == 1)
    box.release("sync")
    for off in ("off", "none", "disable", "disabled", "0", "-3"):
        r = box.run("run", "gated", "--sw-box-slots", off,
                    env={"SPARKWING_BOX_SLOTS": "1", "SPARKWING_BOX_NO_WAIT": "1"})
        assert r.returncode == 0, (off, r.stderr)
    r = box.run("run", "gated", env={"SPARKWING_BOX_SLOTS": "OFF", "SPARKWING_BOX_NO_WAIT": "1"})
    assert r.returncode == 0, r.stderr
    # a higher cap from the flag lets this run in beside the holder
    r = box.run("run", "gated", "--sw-box-slots", "2", "--sw-no-wait",
                env={"SPARKWING_BOX_SLOTS": "1"})
    assert r.returncode == 0, r.stderr
    box.release()
    assert finish(holder)[0] == 0


def test_default_is_off(box: BoxEnv) -> None:
    box.release()
    r = box.run("run", "gated")
    assert r.returncode == 0, r.stderr
    assert not (box.home / "box-slots").exists()


def test_junk_values_are_one_line_config_errors(box: BoxEnv) -> None:
    r = box.run("run", "gated", "--sw-box-slots", "lots")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: --sw-box-slots: 'lots' is not a number of box slots "
        "(use a positive integer, or off/none/0 to disable)"
    ]
    r = box.run("run", "gated", env={"SPARKWING_BOX_SLOTS": "2x"})
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: SPARKWING_BOX_SLOTS: '2x' is not a number of box slots "
        "(use a positive integer, or off/none/0 to disable)"
    ]
    r = box.run("run", "gated", "--sw-box-slots")
    assert r.returncode == 2 and "--sw-box-slots needs a value" in r.stderr
    assert box.started() == set()
