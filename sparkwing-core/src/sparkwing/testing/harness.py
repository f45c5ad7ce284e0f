"""An in-process run harness: a pipeline in, the recorded run out, without spawning the CLI.

::

    def test_outputs_flow(sparkwing_harness):
        h = sparkwing_harness
        h.pipeline("demo", '''
            import sparkwing as sw
            def plan(p, inputs, run):
                a = p.job("a", lambda ctx: 41)
                p.job("b", lambda ctx: a.output.get(ctx) + 1).needs(a)
        ''')
        run = h.run("demo")                      # or h.run("demo", executor="process")
        assert run.status == "success" and run.outputs == {"a": 41, "b": 42}

:class:`Harness` writes pipelines into a temporary project (a ``.sparkwing/``
with ``sparkwing.yaml``) and runs them the way ``sparkwing run`` does: the
same profile resolution, stores, plan building and orchestrator, in this
process, against the ``SPARKWING_HOME`` of the environment (the
``sparkwing_home`` fixture gives each test its own). Any executor can be
chosen; ``process`` starts ``sparkwing node exec`` children that load the
same project. :meth:`Harness.run_plan` takes a plan function instead of a
file (in-process executors only: a child process could not import it).

The result is a :class:`RecordedRun`: the run row, node rows, steps, the
run's events and every log record, read back from the stores.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import LOG_EXEC_LINE
from ..orchestrator.reporting import Reporter
from ..storage.contracts import ENVELOPE
from ..storage.records import Event, Node, Run, Step


@dataclass
class RecordedRun:
    """What one run left in the stores."""

    run: Run
    nodes: dict[str, Node]
    steps: list[Step]
    events: list[Event]
    #: Log records by node id (``""``: the run's envelope), parsed.
    logs: dict[str, list[dict[str, Any]]]
    #: Warnings the run showed (approval hints, failed observers, ...).
    warnings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The run id."""
        return self.run.id

    @property
    def status(self) -> str:
        """``success``, ``failed`` or ``cancelled``."""
        return self.run.status

    @property
    def outcomes(self) -> dict[str, str]:
        """Each node's outcome, in plan order."""
        return {nid: n.outcome for nid, n in self.nodes.items()}

    @property
    def outputs(self) -> dict[str, Any]:
        """The recorded output of every node that has one."""
        return {nid: n.output for nid, n in self.nodes.items() if n.has_output}

    def node(self, node_id: str) -> Node:
        """One node row (``KeyError`` naming the known ones)."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r}; nodes: {', '.join(self.nodes)}") from None

    def event_kinds(self, node_id: str | None = None) -> list[str]:
        """The kinds of the run's events in order (only *node_id*'s when given)."""
        return [e.kind for e in self.events if node_id is None or e.node_id == node_id]

    def messages(self, node_id: str) -> list[str]:
        """The ``msg`` of every log record of a node, in order."""
        return [r.get("msg", "") for r in self.logs.get(node_id, [])]

    def output_lines(self, node_id: str) -> list[str]:
        """The command output lines (``exec_line`` records) of a node, in order."""
        return [r.get("msg", "") for r in self.logs.get(node_id, [])
                if r.get("event") == LOG_EXEC_LINE]


class RecordingReporter(Reporter):
    """A reporter that remembers warnings and shows nothing."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        """Remember the warning."""
        self.warnings.append(message)


def _option_names() -> set[str]:
    from ..orchestrator.options import RunOptions

    return set(RunOptions._field_names)


class Harness:
    """A temporary project whose pipelines run in this process (see the module docs).

    *root* is the project directory (created, with a ``.sparkwing/``). The
    stores are those ``sparkwing run`` would use from *root* with the
    current environment: give the test its own ``SPARKWING_HOME`` (the
    ``sparkwing_home`` fixture does).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pipelines: dict[str, str] = {}
        (root / ".sparkwing" / "pipelines").mkdir(parents=True, exist_ok=True)
        (root / ".sparkwing" / "pipelines" / "__init__.py").touch()
        self._write_yaml()

    # -- the project ------------------------------------------------------------------
    def pipeline(self, name: str, source: str, extra_yaml: str = "") -> Path:
        """Add (or replace) pipeline *name* whose module is *source* (dedented); return its file.

        *extra_yaml* is appended to the pipeline's entry in sparkwing.yaml
        (indented by four spaces, e.g. ``"    profile: team\\n"``).
        """
        module = name.replace("-", "_")
        path = self.root / ".sparkwing" / "pipelines" / f"{module}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        self.pipelines[name] = (f"  - name: {name}\n    entrypoint: pipelines.{module}:plan\n"
                                + extra_yaml)
        self._write_yaml()
        return path

    def _write_yaml(self) -> None:
        body = "".join(self.pipelines.values())
        (self.root / ".sparkwing" / "sparkwing.yaml").write_text(
            "pipelines:\n" + body if body else "pipelines: []\n", encoding="utf-8")

    # -- running -------------------------------------------------------------------------
    def run(self, pipeline: str, *args: str, executor: str = "", profile: str = "",
            hooks: Any = None, **options: Any) -> RecordedRun:
        """Run *pipeline* with pipeline flags *args*; return what it recorded.

        *executor* is ``--sw-executor``; *profile* is ``--profile``; other
        keywords are :class:`~sparkwing.orchestrator.options.RunOptions`
        fields (``workers``, ``dry_run``, ``only``, ``start_at``, ...) plus
        ``run_id``. *hooks* replaces the process's plugin host (observer hooks).
        """
        prepared = self.prepare(pipeline, *args, executor=executor, profile=profile, hooks=hooks,
                                **options)
        return prepared.execute()

    def prepare(self, pipeline: str, *args: str, executor: str = "", profile: str = "",
                hooks: Any = None, **options: Any) -> PreparedRun:
        """Build everything :meth:`run` runs (project, inputs, plan, stores, orchestrator)."""
        from ..config import load_project, open_stores, resolve_profile
        from ..dsl.inputs import input_specs, parse_inputs, redact, secret_values
        from ..project import load_pipeline

        project = load_project(self.root)
        entry = project.pipeline(pipeline)
        _forget_modules(entry.module, project.dir)
        pdef = load_pipeline(project, entry)
        inputs, values = parse_inputs(pdef.inputs_cls, list(args), pipeline=entry.name,
                                      defaults=project.args_for(entry))
        specs = input_specs(pdef.inputs_cls)
        resolved = resolve_profile(flag=profile or None, pipeline=entry, project=project)
        run_ctx = self._run_ctx(entry.name, values, resolved.name, options)
        plan = pdef.build(inputs, run_ctx)
        stores = open_stores(resolved)
        opts = self._options(options, executor, secret_args=[s.flag for s in specs if s.secret],
                             secret_values=secret_values(specs, values),
                             redacted_args=redact(specs, values))
        return PreparedRun(plan, stores, run_ctx, inputs, opts, hooks)

    def run_plan(self, build: Callable[..., Any], *, pipeline: str = "plan", inputs: Any = None,
                 executor: str = "", **options: Any) -> RecordedRun:
        """Run the plan *build(plan[, inputs[, run]])* makes, with an in-process executor."""
        from ..config import open_stores, resolve_profile
        from ..dsl.inputs import NoInputs
        from ..dsl.plan import Plan
        from ..dsl.planning import planning

        resolved = resolve_profile(flag=None, pipeline=None, project=None)
        run_ctx = self._run_ctx(pipeline, {}, resolved.name, options)
        plan = Plan(pipeline)
        inputs = NoInputs() if inputs is None else inputs
        with planning(pipeline):
            build(*[plan, inputs, run_ctx][:_arity(build)])
        plan.finalize()
        stores = open_stores(resolved)
        opts = self._options(options, executor)
        return PreparedRun(plan, stores, run_ctx, inputs, opts).execute()

    def _run_ctx(self, pipeline: str, values: dict[str, Any], profile: str,
                 options: dict[str, Any]) -> Any:
        from ..ids import new_run_id
        from ..runtime.context import RunContext, Trigger
        from ..runtime.git import read_git_info
        from ..triggers.request import current_user

        return RunContext(
            run_id=options.pop("run_id", "") or new_run_id(), pipeline=pipeline,
            workdir=self.root, git=read_git_info(self.root),
            trigger=Trigger("harness", current_user()), started_at=time.time(), args=values,
            dry_run=bool(options.get("dry_run", False)), profile=profile,
        )

    def _options(self, options: dict[str, Any], executor: str, **extra: Any) -> Any:
        from ..errors import UsageError
        from ..orchestrator.options import RunOptions

        unknown = set(options) - _option_names()
        if unknown:
            raise UsageError(f"unknown run option(s): {', '.join(sorted(unknown))}; valid: "
                             f"{', '.join(sorted(_option_names()))}")
        return RunOptions(**{**options, **extra, "executor": executor})


class PreparedRun:
    """A run built and ready: :meth:`execute` it, or :meth:`begin` it to drive attempts yourself."""

    def __init__(self, plan: Any, stores: Any, run_ctx: Any, inputs: Any, options: Any,
                 hooks: Any = None) -> None:
        from ..orchestrator.engine import Orchestrator
        from ..plugins.manager import get_host

        self.plan = plan
        self.stores = stores
        self.run_ctx = run_ctx
        self.inputs = inputs
        self.options = options
        self.reporter = RecordingReporter()
        self.orchestrator = Orchestrator(plan, stores, run_ctx, inputs, options, self.reporter,
                                         hooks=hooks if hooks is not None else get_host())

    def execute(self) -> RecordedRun:
        """Run to the end, close the stores, return the recorded run."""
        try:
            run = asyncio.run(self.orchestrator.execute())
            return record_of(self.stores, run.id, self.reporter.warnings)
        finally:
            self.stores.close()

    def close(self) -> None:
        """Close the stores (after :meth:`begin` and your own attempts)."""
        self.stores.close()

    def record(self) -> RecordedRun:
        """What the run has recorded so far."""
        return record_of(self.stores, self.run_ctx.run_id, self.reporter.warnings)


def record_of(stores: Any, run_id: str, warnings: list[str] | None = None) -> RecordedRun:
    """Read run *run_id* back from *stores*."""
    import json

    state, logs = stores.state, stores.logs
    run = state.get_run(run_id)
    if run is None:
        raise KeyError(f"no run {run_id!r} was recorded")
    events: list[Event] = []
    while True:
        batch = state.list_events(run_id, after_seq=events[-1].seq if events else 0, limit=1000)
        events.extend(batch)
        if len(batch) < 1000:
            break
    records: dict[str, list[dict[str, Any]]] = {}
    for node_id in logs.streams(run_id):
        lines = logs.read(run_id, node_id).lines
        records[node_id] = [json.loads(line) for line in lines]
    records.setdefault(ENVELOPE, [])
    return RecordedRun(
        run=run, nodes={n.node_id: n for n in state.list_nodes(run_id)},
        steps=state.list_steps(run_id), events=events, logs=records,
        warnings=list(warnings or []),
    )


def _forget_modules(module: str, project_dir: Path) -> None:
    """Let a project's pipeline modules be imported afresh (projects reuse ``pipelines.*``)."""
    top = module.split(".", 1)[0]
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        del sys.modules[name]
    pdir = str(project_dir)
    if pdir in sys.path:
        sys.path.remove(pdir)
    sys.path.insert(0, pdir)


def _arity(fn: Callable[..., Any]) -> int:
    import inspect

    try:
        return max(1, min(3, len(inspect.signature(fn).parameters)))
    except (TypeError, ValueError):
        return 1

