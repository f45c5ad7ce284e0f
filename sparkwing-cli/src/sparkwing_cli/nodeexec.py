"""``sparkwing node exec``: run one attempt of one node of a recorded run (no click, for speed).

Out-of-process executors start one such process per attempt (the
``process`` executor, a Kubernetes pod, a remote runner), so its start-up
is part of every job's cost.
"""

from __future__ import annotations

import sys
from typing import Any

from sparkwing.errors import UsageError

NODE_EXEC_HELP = """Usage: sparkwing node exec --run RUN --node NODE [--attempt N] [options]

  Run one attempt of one node of a recorded run in this process and record
  its result as an attempt_finished event on the run's event stream. This is
  the entry out-of-process executors call (the process executor, a pod, a
  remote runner); it needs only the stores and the checked-out code, and
  runs in the project root. Exit status: 0 the attempt succeeded, 1 it did
  not, 2 usage or configuration error.

Options:
  --run RUN                  the run (required)
  --node NODE                the node: a job, or a member of a dynamic fan-out (required)
  --attempt N                the attempt number (default 1)
  --log-to store|stdout      write log records to the log store (default), or print them
                             as JSON lines on stdout for the caller to forward
  --profile NAME             where the run is recorded (default: as `sparkwing run`
                             resolves it; the run's own profile is used when it differs)
  --timeout SECONDS          fail the attempt after this long (default: the job's timeout)
  --no-progress-timeout SECONDS
                             fail the attempt after this long without a log record
  -C, --sw-cd DIR            run as if started in DIR
  --watch-parent             end this attempt's processes and exit 3 (recording nothing)
                             once the process that started it is gone (runners use it)
  --code-from-controller     fetch the run's commit from the controller of its profile
                             (token scope code.read) into a temporary directory and run
                             there, not in the project at hand (the k8s executor's pods)

Secret inputs, stored redacted on the run, are read from the environment
variable SPARKWING_SECRET_INPUTS (a JSON object by flag).
"""

_VALUED = {"--run", "--node", "--attempt", "--log-to", "--profile", "--timeout",
           "--no-progress-timeout", "--result-fd", "-C", "--sw-cd"}
_SWITCHES = {"--watch-parent", "--code-from-controller"}


def parse(argv: list[str]) -> Any:
    """Turn ``node exec`` arguments into a :class:`~sparkwing.orchestrator.node_exec.NodeExecRequest`.

    Returns ``None`` for ``--help``.
    """
    from pathlib import Path

    from sparkwing.orchestrator.node_exec import NodeExecRequest

    values: dict[str, str] = {}
    switches: set[str] = set()
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok in ("-h", "--help"):
            return None
        if tok in _SWITCHES:
            switches.add(tok)
            continue
        name, eq, value = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        if name not in _VALUED:
            raise UsageError(f"unknown option {name} for node exec "
                             "(see 'sparkwing node exec --help')")
        if not eq:
            if i >= len(argv):
                raise UsageError(f"option {name} needs a value")
            value = argv[i]
            i += 1
        values[name] = value
    for required in ("--run", "--node"):
        if not values.get(required):
            raise UsageError(f"node exec needs {required} (see 'sparkwing node exec --help')")
    cwd = values.get("-C") or values.get("--sw-cd")
    req = NodeExecRequest(
        run_id=values["--run"], node_id=values["--node"],
        attempt=_int(values.get("--attempt", "1"), "--attempt"),
        log_to=values.get("--log-to", "store"), profile=values.get("--profile", ""),
        cwd=Path(cwd).expanduser() if cwd else None,
        timeout_s=_seconds(values.get("--timeout"), "--timeout"),
        no_progress_s=_seconds(values.get("--no-progress-timeout"), "--no-progress-timeout"),
        result_fd=_int(values["--result-fd"], "--result-fd") if "--result-fd" in values else None,
        watch_parent="--watch-parent" in switches,
        code_from_controller="--code-from-controller" in switches,
    )
    if req.cwd is not None and not req.cwd.is_dir():
        raise UsageError(f"-C {cwd}: no such directory")
    return req


def _int(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{flag} must be an integer, got {value!r}") from None


def _seconds(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    from sparkwing.durations import parse_duration

    try:
        return parse_duration(value, flag) or None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def node_exec_main(argv: list[str]) -> int:
    """Run ``sparkwing node exec ARGV`` and return the exit code (errors are raised)."""
    from sparkwing.orchestrator.node_exec import node_exec

    req = parse(argv)
    if req is None:
        sys.stdout.write(NODE_EXEC_HELP)
        return 0
    return node_exec(req)
