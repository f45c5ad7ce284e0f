"""``sparkwing run``: argument splitting and execution, kept free of click for start-up speed."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkwing.errors import UsageError

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
  -o, --output pretty|json   output format (default: pretty on a terminal, else NDJSON)
"""


@dataclass
class RunArgs:
    """``sparkwing run``'s own flags, separated from the pipeline's."""

    pipeline: str = ""
    cwd: str = ""
    profile: str = ""
    workers: int = 0
    local_only: bool = False
    no_cache: bool = False
    dry_run: bool = False
    #: ``--sw-box-slots`` parsed (0 = off); ``None`` when not given (SPARKWING_BOX_SLOTS applies).
    box_slots: int | None = None
    no_wait: bool = False
    allow: list[str] = field(default_factory=list)
    only: str = ""
    start_at: str = ""
    stop_at: str = ""
    pause_before: list[str] = field(default_factory=list)
    pause_after: list[str] = field(default_factory=list)
    pause_on_failure: bool = False
    output: str = ""
    help: bool = False
    retry_of: str = ""
    reuse_passed: bool = False
    #: ``--sw-run-id`` (hidden): use this id for the new run instead of a fresh one.
    run_id: str = ""
    pipeline_args: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)


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
                valid = ", ".join(sorted(k for k in RUN_FLAGS
                                         if k.startswith("--sw-") and k not in _HIDDEN_FLAGS))
                raise UsageError(f"unknown sparkwing flag {name}; valid: {valid}, --profile, -C, -o")
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

    ``close_state=False`` leaves the state store's connection open for a
    caller that exits the process right after: every write is already
    committed, and closing the last SQLite connection would checkpoint the
    write-ahead log on the way out (4-14 ms), work the next writer does anyway.
    """
    import asyncio
    import time

    from sparkwing.config import load_project, open_stores, resolve_profile
    from sparkwing.dsl.inputs import help_text, input_specs, parse_inputs, redact, secret_values
    from sparkwing.ids import new_run_id
    from sparkwing.orchestrator.approvals import current_user
    from sparkwing.orchestrator.engine import Orchestrator, RunOptions
    from sparkwing.plugins.manager import get_host
    from sparkwing.project import load_pipeline
    from sparkwing.runtime.context import RunContext, Trigger
    from sparkwing.runtime.git import read_git_info

    _take_run_id(ra)
    start = Path(ra.cwd).expanduser() if ra.cwd else Path.cwd()
    if ra.cwd and not start.is_dir():
        raise UsageError(f"-C {ra.cwd}: no such directory")
    project = load_project(start)
    entry = project.pipeline(ra.pipeline)
    pdef = load_pipeline(project, entry)
    if ra.help:
        sys.stdout.write(help_text(pdef.inputs_cls, entry.name, entry.description) + "\n")
        return 0
    inputs, values = parse_inputs(
        pdef.inputs_cls, ra.pipeline_args, pipeline=entry.name, defaults=project.args_for(entry)
    )
    resolved = resolve_profile(flag=ra.profile or None, pipeline=entry, project=project,
                               local_only=ra.local_only)
    git = read_git_info(project.root)
    guard_error = _check_guards(project, entry, resolved, values, git.branch)
    if guard_error:
        from sparkwing.errors import SparkwingError

        raise SparkwingError(f'pipeline "{entry.name}": {guard_error}')
    specs = input_specs(pdef.inputs_cls)
    run_ctx = RunContext(
        run_id=ra.run_id or new_run_id(), pipeline=entry.name, workdir=project.root, git=git,
        trigger=Trigger("retry" if ra.retry_of else os.environ.get("SPARKWING_TRIGGER_SOURCE", "manual"),
                        current_user()),
        started_at=time.time(), args=values, dry_run=ra.dry_run, profile=resolved.name,
    )
    plan = pdef.build(inputs, run_ctx)
    _check_shaping(ra, plan, entry.name)
    stores = open_stores(resolved)
    json_out = ra.output == "json" or (ra.output == "" and not sys.stdout.isatty())
    reporter = _reporter(json_out)
    reuse: dict[str, Any] = {}
    if ra.retry_of:
        reuse = _reusable(stores.state, ra.retry_of, entry.name, ra.reuse_passed)
    options = RunOptions(
        retry_of=ra.retry_of,
        reuse=reuse,
        workers=ra.workers,
        no_cache=ra.no_cache or os.environ.get("SPARKWING_NO_CACHE") == "1",
        dry_run=ra.dry_run,
        only=ra.only,
        start_at=ra.start_at,
        stop_at=ra.stop_at,
        pause_before=ra.pause_before,
        pause_after=ra.pause_after,
        pause_on_failure=ra.pause_on_failure,
        pause_timeout_s=_pause_timeout(),
        invocation={"cwd": str(start), "flags": ra.flags, "profile": {"name": resolved.name,
                    "reason": resolved.reason}, "reproducer": _reproducer(ra, specs, values)},
        secret_args=[s.flag for s in specs if s.secret],
        secret_values=secret_values(specs, values),
        redacted_args=redact(specs, values),
    )
    from sparkwing.orchestrator.boxslots import acquire_box_slot, resolve_box_slots
    from sparkwing.paths import sparkwing_home

    try:
        if ra.run_id and stores.state.get_run(ra.run_id) is not None:
            raise UsageError(f"--sw-run-id {ra.run_id}: a run with this id already exists")
        max_slots, no_wait = resolve_box_slots(ra.box_slots, ra.no_wait)
        with acquire_box_slot(sparkwing_home(), max_slots, no_wait=no_wait):
            orch = Orchestrator(plan, stores, run_ctx, inputs, options, reporter,
                                hooks=get_host())
            run = asyncio.run(orch.execute())
    finally:
        if close_state:
            stores.close()
        else:
            stores.logs.close()
            stores.cache.close()
    return 0 if run.status == "success" else 1


def _check_shaping(ra: RunArgs, plan: Any, pipeline: str) -> None:
    """Validate ``--sw-only/--sw-start-at/--sw-stop-at/--sw-pause-*`` and the risk gate."""
    import fnmatch

    from sparkwing.config.suggest import closest
    from sparkwing.errors import SparkwingError

    nodes = plan.nodes()
    ids = [n.id for n in nodes]
    if ra.only and (ra.start_at or ra.stop_at):
        raise UsageError("--sw-only cannot be combined with --sw-start-at/--sw-stop-at")
    if ra.only and not any(fnmatch.fnmatchcase(i, ra.only) for i in ids):
        raise UsageError(f'--sw-only="{ra.only}" matches no job of pipeline "{pipeline}"; '
                         f"jobs: {', '.join(ids)}")
    step_ids = sorted({s for n in nodes if n.work is not None for s in n.work.steps})
    for flag, value in (("--sw-start-at", ra.start_at), ("--sw-stop-at", ra.stop_at)):
        if value and value not in step_ids:
            near = closest(value, step_ids)
            hint = f'; did you mean "{near}"?' if near else ""
            raise UsageError(f'{flag}={value}: no step "{value}" in pipeline "{pipeline}"{hint}')
    for flag, values in (("--sw-pause-before", ra.pause_before),
                         ("--sw-pause-after", ra.pause_after)):
        for v in values:
            if v not in ids:
                raise UsageError(f'{flag}={v}: no job "{v}" in pipeline "{pipeline}"')
    if ra.dry_run:
        return
    allowed = set(ra.allow)
    skipped = set(ids) - plan.selected(ra.only) if ra.only else set()
    for n in nodes:
        if n.work is None or n.id in skipped:
            continue
        for st in n.work.steps.values():
            missing = sorted(set(st.risks) - allowed)
            if missing:
                raise SparkwingError(
                    f'step "{st.id}" of job "{n.id}" in pipeline "{pipeline}" requires '
                    f"--sw-allow {','.join(missing)} to confirm (or --sw-dry-run to preview)"
                )


def _reusable(state: Any, run_id: str, pipeline: str, reuse_passed: bool) -> dict[str, Any]:
    """Outputs of the jobs of *run_id* that ended OK (reused by ``runs retry --failed``)."""
    from sparkwing.errors import NotFoundError
    from sparkwing.storage.records import OK_OUTCOMES

    old = state.get_run(run_id)
    if old is None:
        raise NotFoundError(f"no run {run_id!r} to retry")
    if old.pipeline != pipeline:
        raise UsageError(f"run {run_id} is of pipeline {old.pipeline!r}, not {pipeline!r}")
    if not reuse_passed:
        return {}
    return {
        n.node_id: n.output for n in state.list_nodes(run_id)
        if n.outcome in OK_OUTCOMES and n.kind == "job"
    }


def _pause_timeout() -> float:
    """``SPARKWING_PAUSE_TIMEOUT`` (a duration; default 30 minutes)."""
    from sparkwing.durations import parse_duration
    from sparkwing.errors import ConfigError

    raw = os.environ.get("SPARKWING_PAUSE_TIMEOUT", "")
    if not raw:
        return 1800.0
    try:
        return parse_duration(raw, "SPARKWING_PAUSE_TIMEOUT")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def default_branch(root: Path) -> str:
    """The remote's default branch (``origin/HEAD``), else ``main``."""
    ref = root / ".git" / "refs" / "remotes" / "origin" / "HEAD"
    try:
        text = ref.read_text().strip()
    except OSError:
        return "main"
    return text.rsplit("/", 1)[-1] if text.startswith("ref:") else "main"


def _reporter(json_out: bool) -> Any:
    from sparkwing.orchestrator.reporting import JsonReporter, PrettyReporter

    if json_out:
        return JsonReporter(sys.stdout)
    color = "NO_COLOR" not in os.environ
    return PrettyReporter(sys.stdout, color=color, live=True)


def _check_guards(project: Any, entry: Any, resolved: Any, values: dict[str, Any],
                  branch: str) -> str | None:
    guards = project.guards_for(entry)
    if not guards.require and not guards.reject:
        return None
    from sparkwing.config import evaluate_guards

    return evaluate_guards(
        guards, profile_name=resolved.name, has_controller=resolved.has_controller,
        args={k: str(v) for k, v in values.items()}, branch=branch, default_branch=default_branch(project.root),
    )


def _reproducer(ra: RunArgs, specs: list[Any], values: dict[str, Any]) -> str:
    """The command line that reproduces this run, secrets shown as ``***``."""
    from sparkwing.dsl.inputs import redact

    shown = redact(specs, values)
    parts = ["sparkwing", "run", ra.pipeline]
    for s in specs:
        v = shown.get(s.flag)
        if v == s.default and v != "***":
            continue
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        parts.append(f"--{s.flag}={v}")
    if ra.profile:
        parts += ["--profile", ra.profile]
    return " ".join(parts)


def run_main(argv: list[str]) -> int:
    """Run ``sparkwing run ARGV`` and return the exit code (errors are raised)."""
    ra = split_args(argv)
    if not ra.pipeline:
        if ra.help:
            sys.stdout.write(RUN_HELP + "\n")
            return 0
        raise UsageError("missing pipeline name: sparkwing run PIPELINE (see 'sparkwing pipeline list')")
    return execute(ra, close_state=False)
