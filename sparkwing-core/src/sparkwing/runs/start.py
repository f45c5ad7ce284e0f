"""``start_run(request, options) -> Run``: the one way a run starts.

A :class:`~sparkwing.triggers.contracts.RunRequest` says *what* to run
(pipeline, inputs, git ref, who asked); :class:`StartOptions` says *how*
(reporter, workers, dry run, job selection, pauses, box slots, retry, run
id, executor). Starting happens in three steps, which
:class:`RunStart` exposes for :func:`sparkwing.triggers.dispatch.dispatch`
(it records the trigger row between them):

1. ``RunStart(request, options)`` finds the project and the pipeline,
   resolves the profile and opens its stores;
2. :meth:`RunStart.prepare` parses the inputs, checks guards, builds the
   plan and validates job selection and risk labels (any error here is a
   one-line :class:`~sparkwing.errors.SparkwingError`; no run exists yet);
3. :meth:`RunStart.execute` takes a box slot and runs the plan through the
   orchestrator, returning the finished :class:`~sparkwing.storage.records.Run`.

Only the standard library and sparkwing's own light modules are imported
at module level: this is on the path of every ``sparkwing run``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SparkwingError, UsageError
from ..slotted import Slotted

if TYPE_CHECKING:
    from ..config import ProjectConfig, ResolvedProfile, Stores
    from ..config.project import PipelineEntry
    from ..dsl.inputs import InputSpec
    from ..dsl.plan import Plan
    from ..orchestrator.options import RunOptions
    from ..orchestrator.reporting import Reporter
    from ..runtime.context import RunContext
    from ..storage.contracts import StateStore
    from ..storage.records import Run
    from ..triggers.contracts import RunRequest

#: ``sparkwing.orchestrator.boxslots.SLOTS_ENV``: without it (and without ``--sw-box-slots``)
#: the cap is off and the box-slot module is not imported.
BOX_SLOTS_ENV = "SPARKWING_BOX_SLOTS"

#: Debug pause timeout when ``SPARKWING_PAUSE_TIMEOUT`` is unset (seconds).
DEFAULT_PAUSE_TIMEOUT_S = 1800.0


class StartOptions(Slotted):
    """How a request is run (everything but *what* runs, which the request says)."""

    __slots__ = (
        "allow",
        "box_slots",
        "close_state",
        "dry_run",
        "executor",
        "flags",
        "local_only",
        "no_cache",
        "no_wait",
        "only",
        "pause_after",
        "pause_before",
        "pause_on_failure",
        "pipeline_args",
        "record_dir",
        "reporter",
        "retry_of",
        "reuse_passed",
        "run_id",
        "start_at",
        "stop_at",
        "trigger_id",
        "workers",
    )

    def __init__(
        self,
        reporter: Reporter | None = None,
        workers: int = 0,
        local_only: bool = False,
        record_dir: str = "",
        no_cache: bool = False,
        dry_run: bool = False,
        allow: list[str] | None = None,
        only: str = "",
        start_at: str = "",
        stop_at: str = "",
        pause_before: list[str] | None = None,
        pause_after: list[str] | None = None,
        pause_on_failure: bool = False,
        box_slots: int | None = None,
        no_wait: bool = False,
        retry_of: str = "",
        reuse_passed: bool = False,
        run_id: str = "",
        executor: str = "",
        pipeline_args: list[str] | None = None,
        flags: dict[str, Any] | None = None,
        trigger_id: str = "",
        close_state: bool = True,
    ) -> None:
        #: Receives progress; ``None``: report nothing.
        self.reporter = reporter
        #: Jobs running at once (0: the CPU count).
        self.workers = workers
        #: Ignore profiles and use the laptop stores.
        self.local_only = local_only
        #: ``--sw-record-dir``: record the run in this directory (state, logs and cache
        #: as ``dir`` stores) instead of a profile's stores; empty: use the profile.
        self.record_dir = record_dir
        #: Do not read memoized results (still write them).
        self.no_cache = no_cache
        #: Run dry-run bodies; skip steps without one.
        self.dry_run = dry_run
        #: Risk labels confirmed (``--sw-allow``).
        self.allow: list[str] = [] if allow is None else allow
        #: Run only jobs matching this glob and what they need.
        self.only = only
        #: Window of steps to run.
        self.start_at = start_at
        self.stop_at = stop_at
        #: Debug pauses before/after these jobs, and on a failure.
        self.pause_before: list[str] = [] if pause_before is None else pause_before
        self.pause_after: list[str] = [] if pause_after is None else pause_after
        self.pause_on_failure = pause_on_failure
        #: Cap on concurrent runs on this host (0: off); ``None``: ``SPARKWING_BOX_SLOTS`` decides.
        self.box_slots = box_slots
        #: Fail at once instead of waiting for a box slot.
        self.no_wait = no_wait
        #: The run this one retries, and whether to reuse the outputs of its jobs that passed.
        self.retry_of = retry_of
        self.reuse_passed = reuse_passed
        #: Use this id for the new run instead of a fresh one (refused if it exists).
        self.run_id = run_id
        #: ``--sw-executor``: where the attempts of jobs that name no executor run
        #: (empty: the profile's ``executor:``, else ``local``). An executor no plugin
        #: provides is refused in :meth:`RunStart.prepare`.
        self.executor = executor
        #: Pipeline flags as typed on a command line (``--version=1.2``), parsed after
        #: ``request.inputs`` (they win). Never stored in a trigger row: they may hold secrets.
        self.pipeline_args: list[str] = [] if pipeline_args is None else pipeline_args
        #: Sparkwing's own flags as given, recorded in the run's invocation.
        self.flags: dict[str, Any] = {} if flags is None else flags
        #: The trigger row this run starts for (recorded on the run; set by dispatch).
        self.trigger_id = trigger_id
        #: Close the state store afterwards. A process exiting right after may
        #: pass ``False``: every write is committed, and closing the last SQLite
        #: connection would checkpoint the write-ahead log on the way out.
        self.close_state = close_state


def inputs_argv(inputs: Mapping[str, Any]) -> list[str]:
    """Pipeline flags repeating *inputs* (``{flag: value}``): ``--flag=value``.

    ``True``/``False`` become ``--flag``/``--no-flag``; lists are joined with
    commas; ``None`` is left out.
    """
    argv: list[str] = []
    for flag, value in inputs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            argv.append(f"--{flag}" if value else f"--no-{flag}")
        elif isinstance(value, list | tuple):
            argv.append(f"--{flag}={','.join(str(v) for v in value)}")
        else:
            argv.append(f"--{flag}={value}")
    return argv


class _Prepared(Slotted):
    """What :meth:`RunStart.prepare` built for :meth:`RunStart.execute`."""

    __slots__ = ("inputs", "options", "plan", "run_ctx")

    def __init__(self, plan: Plan, run_ctx: RunContext, inputs: Any, options: RunOptions) -> None:
        self.plan = plan
        self.run_ctx = run_ctx
        #: The pipeline's inputs object (an instance of its inputs dataclass).
        self.inputs = inputs
        self.options = options


class RunStart:
    """One run being started: located and its stores opened, then prepared, then executed.

    Always :meth:`close` it (or use it as a context manager).
    """

    def __init__(self, request: RunRequest, options: StartOptions | None = None) -> None:
        from ..config import load_project, open_stores, resolve_profile, resolve_record_dir

        self.request = request
        self.options = options or StartOptions()
        start = Path(request.workdir).expanduser() if request.workdir else Path.cwd()
        if not start.is_dir():
            raise UsageError(f"working directory {start} does not exist")
        self.workdir = start
        self.project: ProjectConfig = load_project(start, check_schedules=False)
        self.entry: PipelineEntry = self.project.pipeline(request.pipeline)
        self.resolved: ResolvedProfile
        if self.options.record_dir:
            if request.profile or self.options.local_only:
                other = f"--profile {request.profile}" if request.profile else "--sw-local-only"
                raise UsageError(f"--sw-record-dir cannot be combined with {other}: the record "
                                 "directory holds the run's state, logs and cache")
            self.resolved = resolve_record_dir(Path(self.options.record_dir),
                                               flag="--sw-record-dir")
        else:
            self.resolved = resolve_profile(
                flag=request.profile or None, pipeline=self.entry, project=self.project,
                local_only=self.options.local_only,
            )
        self.stores: Stores = open_stores(self.resolved)
        #: The trigger row the run starts for (dispatch sets it before :meth:`prepare`).
        self.trigger_id = self.options.trigger_id
        self.run_id = ""
        self._prepared: _Prepared | None = None
        self._closed = False

    def __enter__(self) -> RunStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state(self) -> StateStore:
        """The state store of the run's profile."""
        return self.stores.state

    # -- step 2 ---------------------------------------------------------------------
    def prepare(self) -> str:
        """Parse inputs, check guards, build the plan and validate the options; return the run id.

        Raises a one-line :class:`SparkwingError` (usage errors exit 2) when
        the run cannot start; nothing is recorded then.
        """
        from ..config.project import LOCAL_LABEL
        from ..dsl.inputs import input_specs, parse_inputs, redact, secret_values
        from ..execution.selection import check_executors
        from ..ids import new_run_id
        from ..orchestrator.engine import RunOptions
        from ..project import load_pipeline
        from ..runtime.context import RunContext, Trigger
        from ..runtime.git import read_git_info
        from ..triggers.request import current_user

        req, opts, project, entry = self.request, self.options, self.project, self.entry
        pdef = load_pipeline(project, entry)
        argv = inputs_argv(req.inputs) + list(opts.pipeline_args)
        inputs, values = parse_inputs(
            pdef.inputs_cls, argv, pipeline=entry.name, defaults=project.args_for(entry)
        )
        git = read_git_info(project.root)
        if req.git_ref or req.git_sha:
            git.branch = req.git_ref.removeprefix("refs/heads/") or git.branch
            git.sha = req.git_sha or git.sha
        guard_error = _check_guards(project, entry, self.resolved, values, git.branch)
        if guard_error:
            raise SparkwingError(f'pipeline "{entry.name}": {guard_error}')
        if opts.run_id and self.state.get_run(opts.run_id) is not None:
            raise UsageError(f"--sw-run-id {opts.run_id}: a run with this id already exists")
        specs = input_specs(pdef.inputs_cls)
        meta = req.trigger
        trigger = Trigger(meta.source, meta.actor or current_user(), meta.event,
                          meta.delivery_id, dict(meta.extra))
        run_id = opts.run_id or new_run_id()
        run_ctx = RunContext(
            run_id=run_id, pipeline=entry.name, workdir=project.root, git=git,
            trigger=trigger, started_at=time.time(), args=values, dry_run=opts.dry_run,
            profile=self.resolved.name,
        )
        plan = pdef.build(inputs, run_ctx)
        check_shaping(opts, plan, entry.name)
        check_executors(plan.nodes(), opts.executor, self.resolved)
        reuse: dict[str, Any] = {}
        if opts.retry_of:
            reuse = _reusable(self.state, opts.retry_of, entry.name, opts.reuse_passed)
        recorded_trigger = {**trigger.to_dict(), "id": self.trigger_id}
        run_options = RunOptions(
            retry_of=opts.retry_of,
            reuse=reuse,
            workers=opts.workers,
            no_cache=opts.no_cache or os.environ.get("SPARKWING_NO_CACHE") == "1",
            dry_run=opts.dry_run,
            only=opts.only,
            start_at=opts.start_at,
            stop_at=opts.stop_at,
            pause_before=opts.pause_before,
            pause_after=opts.pause_after,
            pause_on_failure=opts.pause_on_failure,
            pause_timeout_s=_pause_timeout(),
            executor=opts.executor,
            requires=[label for label in project.requires_for(entry) if label != LOCAL_LABEL],
            invocation={"cwd": str(self.workdir), "flags": opts.flags,
                        "profile": {"name": self.resolved.name, "reason": self.resolved.reason},
                        "reproducer": _reproducer(req, specs, values),
                        "trigger": recorded_trigger},
            secret_args=[s.flag for s in specs if s.secret],
            secret_values=secret_values(specs, values),
            redacted_args=redact(specs, values),
        )
        self._prepared = _Prepared(plan, run_ctx, inputs, run_options)
        self.run_id = run_id
        return run_id

    # -- step 3 -----------------------------------------------------------------------
    def execute(self) -> Run:
        """Take a box slot, run the prepared plan and return the finished run."""
        import asyncio
        from contextlib import AbstractContextManager, nullcontext

        from ..orchestrator.engine import Orchestrator
        from ..orchestrator.reporting import Reporter
        from ..paths import sparkwing_home
        from ..plugins.manager import get_host

        if self._prepared is None:
            raise RuntimeError("RunStart.execute() before prepare()")
        prepared = self._prepared
        plan, run_ctx = prepared.plan, prepared.run_ctx
        inputs, run_options = prepared.inputs, prepared.options
        reporter = self.options.reporter if self.options.reporter is not None else Reporter()
        slot: AbstractContextManager[object] = nullcontext()
        if self.options.box_slots is not None or os.environ.get(BOX_SLOTS_ENV, "").strip():
            from ..orchestrator.boxslots import acquire_box_slot, resolve_box_slots

            max_slots, no_wait = resolve_box_slots(self.options.box_slots, self.options.no_wait)
            slot = acquire_box_slot(sparkwing_home(), max_slots, no_wait=no_wait)
        with slot:
            orch = Orchestrator(plan, self.stores, run_ctx, inputs, run_options, reporter,
                                hooks=get_host())
            return asyncio.run(orch.execute())

    def close(self) -> None:
        """Close the stores (the state store only when ``options.close_state``)."""
        if self._closed:
            return
        self._closed = True
        if self.options.close_state:
            self.stores.close()
        else:
            self.stores.logs.close()
            self.stores.cache.close()


def start_run(request: RunRequest, options: StartOptions | None = None) -> Run:
    """Start *request* here and return the finished run (its ``status`` says how it ended).

    Raises a one-line :class:`SparkwingError` when the run cannot start (an
    unknown pipeline or flag, a guard, a bad profile). Records no trigger
    row: :func:`sparkwing.triggers.dispatch.dispatch` does that and then
    starts the run through the same steps.
    """
    with RunStart(request, options) as starter:
        starter.prepare()
        return starter.execute()


# -- checks and helpers moved from the CLI ------------------------------------------------


def check_shaping(opts: StartOptions, plan: Plan, pipeline: str) -> None:
    """Validate ``only``/``start_at``/``stop_at``/pauses against the plan, and the risk gate."""
    import fnmatch

    nodes = plan.nodes()
    ids = [n.id for n in nodes]
    if opts.only and (opts.start_at or opts.stop_at):
        raise UsageError("--sw-only cannot be combined with --sw-start-at/--sw-stop-at")
    if opts.only and not any(fnmatch.fnmatchcase(i, opts.only) for i in ids):
        raise UsageError(f'--sw-only="{opts.only}" matches no job of pipeline "{pipeline}"; '
                         f"jobs: {', '.join(ids)}")
    step_ids = sorted({s for n in nodes if n.work is not None for s in n.work.steps})
    for flag, value in (("--sw-start-at", opts.start_at), ("--sw-stop-at", opts.stop_at)):
        if value and value not in step_ids:
            from ..config.suggest import closest

            near = closest(value, step_ids)
            hint = f'; did you mean "{near}"?' if near else ""
            raise UsageError(f'{flag}={value}: no step "{value}" in pipeline "{pipeline}"{hint}')
    for flag, values in (("--sw-pause-before", opts.pause_before),
                         ("--sw-pause-after", opts.pause_after)):
        for v in values:
            if v not in ids:
                raise UsageError(f'{flag}={v}: no job "{v}" in pipeline "{pipeline}"')
    if opts.dry_run:
        return
    allowed = set(opts.allow)
    skipped = set(ids) - plan.selected(opts.only) if opts.only else set()
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


def _reusable(state: StateStore, run_id: str, pipeline: str, reuse_passed: bool) -> dict[str, Any]:
    """Outputs of the jobs of *run_id* that ended OK (reused by ``runs retry --failed``)."""
    from ..errors import NotFoundError
    from ..storage.records import OK_OUTCOMES

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
    from ..durations import parse_duration
    from ..errors import ConfigError

    raw = os.environ.get("SPARKWING_PAUSE_TIMEOUT", "")
    if not raw:
        return DEFAULT_PAUSE_TIMEOUT_S
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


def _check_guards(project: ProjectConfig, entry: PipelineEntry, resolved: ResolvedProfile,
                  values: dict[str, Any], branch: str) -> str | None:
    guards = project.guards_for(entry)
    if not guards.require and not guards.reject:
        return None
    from ..config import evaluate_guards

    return evaluate_guards(
        guards, profile_name=resolved.name, has_controller=resolved.has_controller,
        args={k: str(v) for k, v in values.items()}, branch=branch,
        default_branch=default_branch(project.root),
    )


def _reproducer(request: RunRequest, specs: list[InputSpec], values: dict[str, Any]) -> str:
    """The command line that reproduces this run, secrets shown as ``***``."""
    from ..dsl.inputs import redact

    shown = redact(specs, values)
    parts = ["sparkwing", "run", request.pipeline]
    for s in specs:
        v = shown.get(s.flag)
        if v == s.default and v != "***":
            continue
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        parts.append(f"--{s.flag}={v}")
    if request.profile:
        parts += ["--profile", request.profile]
    return " ".join(parts)
