"""``sparkwing run``: argument splitting and execution, kept free of click for start-up speed."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sparkwing.errors import UsageError
from sparkwing.slotted import Slotted

#: Sparkwing's own flags on ``run``: name -> takes a value.
RUN_FLAGS: dict[str, bool] = {
    "-C": True,
    "--sw-cd": True,
    "--profile": True,
    "--sw-workers": True,
    "--sw-local-only": False,
    "--sw-no-cache": False,
    "--sw-dry-run": False,
    "--sw-box-slots": True,
    "--sw-no-wait": False,
    "--sw-allow": True,
    "--sw-only": True,
    "--sw-start-at": True,
    "--sw-stop-at": True,
    "--sw-pause-before": True,
    "--sw-pause-after": True,
    "--sw-pause-on-failure": False,
    "--sw-executor": True,
    "--sw-record-dir": True,
    "--sw-run-id": True,  # hidden: a run id chosen by the caller (the dashboard's retry)
    "-o": True,
    "--output": True,
    "-h": False,
    "--help": False,
}

#: Flags left out of help and error messages (for tools, not people).
_HIDDEN_FLAGS = frozenset({"--sw-run-id"})

RUN_HELP = """Usage: sparkwing run PIPELINE [PIPELINE FLAGS] [SPARKWING FLAGS]

  Run a pipeline of the nearest .sparkwing/ on this machine and record it.
  Exit status: 0 success, 1 failed or cancelled, 2 usage or configuration error.

  `sparkwing run PIPELINE --help` lists the pipeline's own flags.
  `sparkwing pipeline list` lists the pipelines.

Sparkwing flags:
  -C, --sw-cd DIR            run as if started in DIR
  --profile NAME             storage profile (state, cache, logs)
  --sw-local-only            ignore profiles; use the laptop stores
  --sw-workers N             jobs running at once (default: CPU count)
  --sw-no-cache              do not read memoized results (still write them)
  --sw-dry-run               run dry-run bodies; skip steps without one
  --sw-allow L[,L]           confirm risk labels
  --sw-only GLOB             run only matching jobs and what they need
  --sw-start-at / --sw-stop-at STEP   run a window of steps
  --sw-pause-before / --sw-pause-after JOB, --sw-pause-on-failure   debug pauses
  --sw-box-slots N, --sw-no-wait      cap concurrent runs on this host
  --sw-executor NAME         where job attempts run: local (default), process, or a
                             plugin's executor (a job's .executor() still wins)
  --sw-record-dir DIR        record the run (state, logs, artifacts) in DIR instead of
                             a profile's stores, e.g. for a CI job to upload; read it
                             back with `runs list --from DIR` or `dashboard start --from DIR`
  -o, --output pretty|json   output format (default: pretty on a terminal, else NDJSON)
"""


class RunArgs(Slotted):
    """``sparkwing run``'s own flags, separated from the pipeline's."""

    __slots__ = (
        "allow",
        "box_slots",
        "cwd",
        "dry_run",
        "executor",
        "flags",
        "help",
        "local_only",
        "no_cache",
        "no_wait",
        "only",
        "output",
        "pause_after",
        "pause_before",
        "pause_on_failure",
        "pipeline",
        "pipeline_args",
        "profile",
        "record_dir",
        "retry_of",
        "reuse_passed",
        "run_id",
        "start_at",
        "stop_at",
        "workers",
    )

    def __init__(
        self,
        pipeline: str = "",
        cwd: str = "",
        profile: str = "",
        workers: int = 0,
        local_only: bool = False,
        no_cache: bool = False,
        dry_run: bool = False,
        box_slots: int | None = None,
        no_wait: bool = False,
        allow: list[str] | None = None,
        only: str = "",
        start_at: str = "",
        stop_at: str = "",
        pause_before: list[str] | None = None,
        pause_after: list[str] | None = None,
        pause_on_failure: bool = False,
        executor: str = "",
        record_dir: str = "",
        output: str = "",
        help: bool = False,
        retry_of: str = "",
        reuse_passed: bool = False,
        run_id: str = "",
        pipeline_args: list[str] | None = None,
        flags: dict[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.cwd = cwd
        self.profile = profile
        self.workers = workers
        self.local_only = local_only
        self.no_cache = no_cache
        self.dry_run = dry_run
        #: ``--sw-box-slots`` parsed (0 = off); ``None`` when not given (SPARKWING_BOX_SLOTS applies).
        self.box_slots = box_slots
        self.no_wait = no_wait
        self.allow: list[str] = [] if allow is None else allow
        self.only = only
        self.start_at = start_at
        self.stop_at = stop_at
        self.pause_before: list[str] = [] if pause_before is None else pause_before
        self.pause_after: list[str] = [] if pause_after is None else pause_after
        self.pause_on_failure = pause_on_failure
        #: ``--sw-executor``: where job attempts run unless a job names its own executor.
        self.executor = executor
        #: ``--sw-record-dir``: the directory the run is recorded in (empty: the profile's stores).
        self.record_dir = record_dir
        self.output = output
        self.help = help
        self.retry_of = retry_of
        self.reuse_passed = reuse_passed
        #: ``--sw-run-id`` (hidden): use this id for the new run instead of a fresh one.
        self.run_id = run_id
        self.pipeline_args: list[str] = [] if pipeline_args is None else pipeline_args
        self.flags: dict[str, Any] = {} if flags is None else flags


def split_args(argv: list[str]) -> RunArgs:
    """Separate sparkwing's ``--sw-*`` / ``--profile`` / ``-C`` / ``-o`` flags from pipeline flags."""
    ra = RunArgs()
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        name, eq, value = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        if name not in RUN_FLAGS:
            if name.startswith("--sw-"):
                raise UsageError(unknown_run_flag(name))
            if not ra.pipeline and not tok.startswith("-"):
                ra.pipeline = tok
            else:
                ra.pipeline_args.append(tok)
            continue
        if RUN_FLAGS[name]:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"flag {name} needs a value (see 'sparkwing run --help')")
                value = argv[i]
                i += 1
        elif eq:
            raise UsageError(f"flag {name} takes no value")
        if name in ("-C", "--sw-cd"):
            ra.cwd = value
        elif name == "--profile":
            ra.profile = value
        elif name == "--sw-workers":
            try:
                ra.workers = int(value)
                if ra.workers < 1:
                    raise ValueError
            except ValueError:
                raise UsageError(f"--sw-workers must be a positive integer, got {value!r}") from None
        elif name == "--sw-local-only":
            ra.local_only = True
        elif name == "--sw-no-cache":
            ra.no_cache = True
        elif name == "--sw-dry-run":
            ra.dry_run = True
        elif name == "--sw-box-slots":
            from sparkwing.orchestrator.boxslots import parse_box_slots

            ra.box_slots = parse_box_slots(value, name)
        elif name == "--sw-no-wait":
            ra.no_wait = True
        elif name == "--sw-allow":
            ra.allow.extend(x.strip() for x in value.split(",") if x.strip())
        elif name == "--sw-only":
            ra.only = value
        elif name == "--sw-start-at":
            ra.start_at = value
        elif name == "--sw-stop-at":
            ra.stop_at = value
        elif name == "--sw-pause-before":
            ra.pause_before.extend(x.strip() for x in value.split(",") if x.strip())
        elif name == "--sw-pause-after":
            ra.pause_after.extend(x.strip() for x in value.split(",") if x.strip())
        elif name == "--sw-pause-on-failure":
            ra.pause_on_failure = True
        elif name == "--sw-executor":
            if not value.strip():
                raise UsageError("--sw-executor needs an executor name (local, process, ...)")
            ra.executor = value.strip()
        elif name == "--sw-record-dir":
            if not value.strip():
                raise UsageError("--sw-record-dir needs a directory")
            ra.record_dir = os.path.abspath(os.path.expanduser(value))
        elif name in ("-o", "--output"):
            if value not in ("pretty", "json"):
                raise UsageError(f"-o must be pretty or json, got {value!r}")
            ra.output = value
        elif name in ("-h", "--help"):
            ra.help = True
        elif name == "--sw-run-id":
            ra.run_id = _checked_run_id(value)
        if name not in ("-h", "--help", "-o", "--output", "--sw-run-id"):
            ra.flags[name] = value if RUN_FLAGS[name] else True
    return ra


def unknown_run_flag(name: str) -> str:
    """The message for an unknown ``--sw-*`` flag: the nearest one, else the valid ones."""
    from sparkwing.config.suggest import closest

    shown = sorted(k for k in RUN_FLAGS if k not in _HIDDEN_FLAGS and k.startswith("--"))
    guess = closest(name, shown)
    if guess:
        return f"unknown sparkwing flag {name}; did you mean {guess}? (see 'sparkwing run --help')"
    valid = ", ".join(k for k in shown if k.startswith("--sw-"))
    return f"unknown sparkwing flag {name}; valid: {valid}, --profile, -C, -o"


def _checked_run_id(value: str) -> str:
    from sparkwing.ids import is_run_id

    if not is_run_id(value):
        raise UsageError(f"--sw-run-id must look like run-YYYYMMDD-HHMMSS-xxxxxxxx, got {value!r}")
    return value


def _take_run_id(ra: RunArgs) -> None:
    """Move ``--sw-run-id`` out of the pipeline flags (``runs retry`` passes extra flags there)."""
    rest: list[str] = []
    args = ra.pipeline_args
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        name, eq, value = tok.partition("=")
        if name != "--sw-run-id":
            rest.append(tok)
            continue
        if not eq:
            if i >= len(args):
                raise UsageError("flag --sw-run-id needs a value")
            value = args[i]
            i += 1
        ra.run_id = _checked_run_id(value)
    ra.pipeline_args = rest


def execute(ra: RunArgs, *, close_state: bool = True) -> int:
    """Run the pipeline described by *ra* and return the exit code.

    Turns the flags into a :class:`~sparkwing.triggers.contracts.RunRequest`
    (source ``manual``, ``git-hook`` when a git hook started this process,
    ``retry`` for ``runs retry``) and :class:`~sparkwing.runs.start.StartOptions`,
    and hands them to :func:`sparkwing.triggers.dispatch.dispatch`, which
    records the request and starts the run through ``start_run``'s steps.

    ``close_state=False`` leaves the state store's connection open for a
    caller that exits the process right after: every write is already
    committed, and closing the last SQLite connection would checkpoint the
    write-ahead log on the way out (4-14 ms), work the next writer does anyway.
    """
    from sparkwing.triggers.dispatch import dispatch

    _take_run_id(ra)
    start = Path(ra.cwd).expanduser() if ra.cwd else Path.cwd()
    if ra.cwd and not start.is_dir():
        raise UsageError(f"-C {ra.cwd}: no such directory")
    _check_required_plugins(start)
    if ra.help:
        return _pipeline_help(ra, start)
    request, options = run_request(ra, start)
    options.close_state = close_state
    json_out = ra.output == "json" or (ra.output == "" and not sys.stdout.isatty())
    options.reporter = _reporter(json_out)
    result = dispatch(request, options)
    run = result.run
    return 0 if run is not None and run.status == "success" else 1


def _check_required_plugins(start: Path) -> None:
    """``plugins.required`` of the project at *start*: checked before anything else happens."""
    from sparkwing.plugins.requiredgate import ensure_at

    ensure_at(start)


def run_request(ra: RunArgs, start: Path) -> tuple[Any, Any]:
    """The :class:`RunRequest` and :class:`StartOptions` that *ra* asks for (no reporter)."""
    from sparkwing.runs.start import StartOptions
    from sparkwing.triggers.cimarkers import CI_EMBEDDED, in_vendor_job
    from sparkwing.triggers.environment import trigger_from_env
    from sparkwing.triggers.request import RunRequest, current_user

    git_ref = git_sha = ""
    if ra.retry_of:
        from sparkwing.runs.retry import retry_trigger

        trigger = retry_trigger(ra.retry_of, reuse_passed=ra.reuse_passed, actor=current_user())
    else:
        ci = None
        if in_vendor_job(os.environ):  # the vendor parsers load only inside a CI job
            from sparkwing.triggers.civendor import detect_ci

            ci = detect_ci(os.environ)
        trigger = trigger_from_env(os.environ, actor=current_user(), ci=ci)
        if ci is not None and trigger.source == CI_EMBEDDED:
            # CI checkouts are usually a detached HEAD: the vendor names the branch built.
            git_ref, git_sha = ci.branch, ci.git_sha()
    request = RunRequest(pipeline=ra.pipeline, trigger=trigger, workdir=start,
                         profile=ra.profile, git_ref=git_ref, git_sha=git_sha)
    options = StartOptions(
        workers=ra.workers, local_only=ra.local_only, no_cache=ra.no_cache, dry_run=ra.dry_run,
        allow=list(ra.allow), only=ra.only, start_at=ra.start_at, stop_at=ra.stop_at,
        pause_before=list(ra.pause_before), pause_after=list(ra.pause_after),
        pause_on_failure=ra.pause_on_failure, box_slots=ra.box_slots, no_wait=ra.no_wait,
        retry_of=ra.retry_of, reuse_passed=ra.reuse_passed, run_id=ra.run_id,
        pipeline_args=list(ra.pipeline_args), flags=dict(ra.flags), executor=ra.executor,
        record_dir=ra.record_dir,
    )
    return request, options


def _pipeline_help(ra: RunArgs, start: Path) -> int:
    """Print ``sparkwing run PIPELINE --help``: the pipeline's own flags."""
    from sparkwing.config import load_project
    from sparkwing.dsl.inputs import help_text
    from sparkwing.project import load_pipeline

    project = load_project(start, check_schedules=False)
    entry = project.pipeline(ra.pipeline)
    pdef = load_pipeline(project, entry)
    sys.stdout.write(help_text(pdef.inputs_cls, entry.name, entry.description) + "\n")
    return 0


def _reporter(json_out: bool) -> Any:
    from sparkwing.orchestrator.reporting import JsonReporter, PrettyReporter

    if json_out:
        return JsonReporter(sys.stdout)
    color = "NO_COLOR" not in os.environ
    return PrettyReporter(sys.stdout, color=color, live=True)


def run_main(argv: list[str]) -> int:
    """Run ``sparkwing run ARGV`` and return the exit code (errors are raised)."""
    ra = split_args(argv)
    if not ra.pipeline:
        if ra.help:
            sys.stdout.write(RUN_HELP + "\n")
            return 0
        raise UsageError("missing pipeline name: sparkwing run PIPELINE (see 'sparkwing pipeline list')")
    return execute(ra, close_state=False)
