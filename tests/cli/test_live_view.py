"""The live view on a terminal shows each running job's newest output line."""

from __future__ import annotations

import io
import re
import time
from collections import deque
from types import SimpleNamespace

from sparkwing.orchestrator.graph import NodeState
from sparkwing.orchestrator.reporting import PrettyReporter

from .conftest import CliEnv, on_a_terminal


def _running(node_id: str, lines: list[str]) -> NodeState:
    st = NodeState(node_id)
    st.status, st.started, st.attempt = "running", time.time(), 1
    st.output_tail = deque(lines, maxlen=20)
    return st


def _draw(states: dict[str, NodeState], columns: int) -> list[str]:
    out = io.StringIO()
    rep = PrettyReporter(out, color=False, live=True, columns=columns)
    rep.run_started(SimpleNamespace(pipeline="p", id="run-x"), None, states)  # type: ignore[arg-type]
    rep.tick(states)
    text = re.sub(r"\x1b\[\d*[FJ]", "", out.getvalue())  # the redraw's own cursor moves
    return [line for line in text.splitlines() if line.startswith("  ")]


def test_the_newest_line_is_shown_safe_and_cut_to_the_width() -> None:
    states = {
        "build": _running("build", ["compiling", "linking \x1b]0;pwned\x07step 3/4\x1b[2J\tdone?"]),
        "quiet": _running("quiet", []),
        "long": _running("long", ["x" * 500]),
    }
    lines = _draw(states, columns=60)
    build = next(line for line in lines if "build" in line)
    assert build.endswith("linking step 3/4 done?")
    assert "pwned" not in build and "\x1b" not in build and "compiling" not in build
    quiet = next(line for line in lines if "quiet" in line)
    assert len(quiet.split()) == 3  # spinner, id, duration: nothing after it
    long = next(line for line in lines if "long" in line)
    assert len(long) <= 60 and long.endswith("…")


def test_a_finished_job_shows_no_output_line() -> None:
    st = _running("build", ["compiling"])
    st.status, st.outcome, st.output_tail = "done", "success", None
    assert "compiling" not in "\n".join(_draw({"build": st}, columns=80))


def test_a_real_run_shows_the_running_jobs_last_line(clienv: CliEnv) -> None:
    clienv.add_pipeline("liveview", '''
        import sys, time
        import sparkwing as sw

        def plan(plan, inputs, run):
            plan.job("build", sw.sh("echo fetching; echo compiling module seven; sleep 2"))
    ''')
    out = on_a_terminal(clienv, "run", "liveview")
    frames = [line for line in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out))
              if "build" in line]
    assert any("compiling module seven" in line for line in frames), repr(out[-3000:])
    assert not any("fetching" in line for line in frames)
    assert "success" in out or "✓" in out


def test_lines_without_a_note_end_at_the_duration() -> None:
    done = _running("build", [])
    done.status, done.outcome, done.finished, done.output_tail = "done", "success", time.time(), None
    out = io.StringIO()
    rep = PrettyReporter(out, color=True, live=False, columns=80)
    rep.run_finished(SimpleNamespace(pipeline="p", id="run-x", status="success", error="",
                                     started_at=None, finished_at=None),  # type: ignore[arg-type]
                     {"build": done, "quiet": _running("quiet", [])})
    lines = [line for line in out.getvalue().splitlines() if "build" in line or "quiet" in line]
    assert len(lines) == 2
    for line in lines:
        assert line == line.rstrip() and line.endswith(("ms", "s", "m"))
