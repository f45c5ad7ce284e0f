"""``sparkwing node exec``: run one attempt of one node of a recorded run, in this process.

This is the entry an out-of-process executor calls (the ``process``
executor, a Kubernetes pod, a remote runner). It needs nothing but the
stores and the checked-out code:

1. open the stores of the profile named on the run (found through the
   project's profiles, like ``sparkwing run``);
2. load the project and the run's pipeline, rebuild the inputs from the run
   row's arguments (secret inputs are stored redacted: their values come in
   the environment variable ``SPARKWING_SECRET_INPUTS``, a JSON object by
   flag), rebuild the RunContext and the plan;
3. find the node: a job of the plan or a member of a dynamic fan-out (rebuilt
   from its source's stored output);
4. build a full Context (inputs, upstream outputs read from the state
   store's node rows, secrets, steps) and run the attempt with the ``local``
   executor's code: the body, its verifiers, the JSON check of its output;
5. record the result as an ``attempt_finished`` event on the run's stream
   (outcome, exit code, failure reason, error, output; masked).

The node's row (status, outcome) stays the business of the orchestrator
that dispatched the attempt. Log records go to the log store (``log_to=
"store"``) or, as JSON lines, to stdout (``"stdout"``) for the caller to
forward. Jobs spawned with ``ctx.spawn()`` run here, inside the attempt, and
record their own nodes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import NotFoundError, SparkwingError, UsageError
from ..execution.contracts import Attempt, AttemptResult, ExecutorContext
from ..execution.local import LocalExecutor
from ..execution.selection import ExecutorSet
from ..runtime.context import RunContext, Trigger
from ..runtime.git import GitInfo
from ..runtime.nodelog import NodeLogger
from ..startgc import resume as resume_gc
from ..storage.logwriter import RecordBytesWriter
from ..storage.records import OK_OUTCOMES, Node, Run
from .expansion import fan_out_members
from .options import RunOptions
from .reporting import Reporter

if TYPE_CHECKING:
    from ..config.project import ProjectConfig
    from ..config.resolve import Stores
    from ..dsl.nodes import JobNode
    from ..dsl.plan import Plan
    from ..plugins.manager import PluginHost
    from .engine import Orchestrator

#: Environment variable carrying the values of secret inputs (JSON object by flag).
SECRET_INPUTS_ENV = "SPARKWING_SECRET_INPUTS"
#: Environment variable carrying further values to mask (JSON list).
SECRET_VALUES_ENV = "SPARKWING_SECRET_VALUES"
#: Environment variable naming the executor that started this process (for the event).
EXECUTOR_ENV = "SPARKWING_EXECUTOR"
#: Where log records go.
LOG_TO = ("store", "stdout")


@dataclass
class NodeExecRequest:
    """What ``sparkwing node exec`` was asked to do."""

    run_id: str
    node_id: str
    attempt: int = 1
    log_to: str = "store"
    profile: str = ""
    cwd: Path | None = None
    timeout_s: float | None = None
    no_progress_s: float | None = None
    #: A file descriptor the result's JSON is also written to (for the process executor).
    result_fd: int | None = None
    #: End the attempt's process tree (exit 3, nothing recorded) once the parent is gone:
    #: a runner that dies takes its attempts with it (see :mod:`sparkwing.triggers.parentwatch`).
    watch_parent: bool = False
    #: Fetch the run's commit from the controller of its profile into a temporary directory
    #: and run there, instead of in the project found at *cwd* (a ``k8s`` executor's pod).
    code_from_controller: bool = False


class StreamLogWriter(RecordBytesWriter):
    """A :class:`~sparkwing.storage.contracts.LogWriter` writing JSON records to a binary stream."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write_bytes(self, data: bytes) -> None:
        """Write already framed records encoded as UTF-8."""
        self.out.write(data)

    def flush(self) -> None:
        """Hand what was written to the reader."""
        self.out.flush()

    def close(self) -> None:
        """Flush (the stream stays open: it is the process's)."""
        self.out.flush()


def node_exec(req: NodeExecRequest) -> int:
    """Run the attempt *req* describes; return 0 when it succeeded, 1 when it did not.

    Raises :class:`~sparkwing.errors.SparkwingError` (one line) when the
    attempt cannot even start: no such run or node, a profile that does
    not resolve, a pipeline that no longer loads.
    """
    if req.log_to not in LOG_TO:
        raise UsageError(f"--log-to must be store or stdout, got {req.log_to!r}")
    if req.attempt < 1:
        raise UsageError(f"--attempt must be 1 or more, got {req.attempt}")
    if req.watch_parent:
        from ..triggers.parentwatch import watch_parent

        watch_parent()
    records: IO[bytes] | None = None
    if req.log_to == "stdout":
        # Records own the real stdout; anything else printed (a body's print()) goes to stderr.
        records = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    try:
        resume_gc()  # start-up is over (sparkwing.startgc)
        return asyncio.run(_node_exec(req, records))
    finally:
        if records is not None:
            records.flush()


async def _node_exec(req: NodeExecRequest, records: IO[bytes] | None) -> int:
    from ..config import load_project, open_stores, resolve_profile
    from ..plugins.manager import get_host

    start = req.cwd or Path.cwd()
    if req.code_from_controller:
        tree = _fetch_code(req, start)
        os.chdir(tree)  # the job's commands run in the fetched tree
        return await _node_exec(replace(req, cwd=tree, code_from_controller=False), records)
    project = load_project(start)
    resolved = resolve_profile(flag=req.profile or None, pipeline=None, project=project)
    stores = open_stores(resolved)
    try:
        run = stores.state.get_run(req.run_id)
        if run is None:
            raise NotFoundError(f"no run {req.run_id!r} in profile {resolved.name!r}")
        if run.profile and run.profile != resolved.name:
            stores.close()
            resolved = resolve_profile(flag=run.profile, pipeline=None, project=project)
            stores = open_stores(resolved)
            run = stores.state.get_run(req.run_id)
            if run is None:
                raise NotFoundError(f"no run {req.run_id!r} in profile {resolved.name!r}")
        return await _attempt(req, project, stores, run, records, get_host())
    finally:
        stores.close()


def _fetch_code(req: NodeExecRequest, start: Path) -> Path:
    """Export the run's commit from its profile's controller (see :func:`export_run_code`).

    The profile is looked up as without the option (the project at *start*
    when there is one, else the user's profiles, e.g. ``SPARKWING_PROFILES``)
    and must have a ``controller:``; its token needs ``code.read``.
    """
    from ..config import load_project, resolve_profile
    from ..errors import ConfigError
    from ..queueclient import QueueClient
    from ..runcode import code_root, export_run_code

    try:
        project: ProjectConfig | None = load_project(start)
    except ConfigError:
        project = None  # the image need not hold the project: that is the point
    resolved = resolve_profile(flag=req.profile or None, pipeline=None, project=project)
    block = resolved.profile.controller
    if not block:
        raise UsageError(f"--code-from-controller: profile {resolved.name!r} has no controller: "
                         "block to fetch the run's code from (use a profile with "
                         "controller: {url, token_env})")
    with QueueClient(str(block["url"]), resolved.profile.controller_token() or "") as client:
        sha, tree = export_run_code(client, req.run_id, code_root())
    print(f"sparkwing node exec: running commit {sha} from the controller", file=sys.stderr)
    return tree


async def _attempt(req: NodeExecRequest, project: ProjectConfig, stores: Stores, run: Run,
                   records: IO[bytes] | None, hooks: PluginHost) -> int:
    from ..dsl.inputs import inputs_from_values
    from ..project import load_pipeline
    from .engine import Orchestrator

    entry = project.pipeline(run.pipeline)
    pdef = load_pipeline(project, entry)
    values = dict(run.args)
    given = _json_object(SECRET_INPUTS_ENV)
    missing = [f for f in run.secret_args if values.get(f) == "***" and f not in given]
    if missing:
        raise UsageError(
            f"run {run.id} was started with secret input(s) {', '.join('--' + f for f in missing)}, "
            f"stored redacted; pass their values in {SECRET_INPUTS_ENV} (a JSON object by flag)"
        )
    values.update(given)
    inputs = inputs_from_values(pdef.inputs_cls, values)
    engine = dict((run.invocation or {}).get("engine") or {})
    run_ctx = RunContext(
        run_id=run.id, pipeline=run.pipeline, workdir=project.root,
        git=GitInfo(root=project.root, sha=run.git_sha, branch=run.git_branch,
                    repo=run.git_repo),
        trigger=Trigger(run.trigger_source, run.trigger_user),
        started_at=run.started_at or run.created_at, args=values,
        dry_run=bool(engine.get("dry_run")), profile=run.profile,
    )
    plan = pdef.build(inputs, run_ctx)
    secret_values = [str(v) for v in _json_list(SECRET_VALUES_ENV)]
    for value in given.values():
        secret_values.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    options = RunOptions(
        dry_run=bool(engine.get("dry_run")), start_at=str(engine.get("start_at") or ""),
        stop_at=str(engine.get("stop_at") or ""), secret_values=secret_values,
    )
    local = LocalExecutor()
    context = ExecutorContext(home=Path(), profile=run.profile)
    orch = Orchestrator(plan, stores, run_ctx, inputs, options, Reporter(), hooks=hooks,
                        executors=ExecutorSet.only(local, context))
    orch.journal.attach(run)
    rows = {n.node_id: n for n in stores.state.list_nodes(run.id)}
    node = _find_node(orch, plan, rows, req.node_id, run.id)
    for nid, row in rows.items():
        if row.outcome in OK_OUTCOMES and (row.has_output or row.output is not None):
            orch.graph.outputs[nid] = row.output
    loop = asyncio.get_running_loop()
    orch.runner.bind(loop)
    if records is not None:
        log = NodeLogger(StreamLogWriter(records), node.id, orch.masker)
    else:
        log = orch.journal.node_log(node.id)
    ctx = orch.runner.context(node, log)
    ctx.attempt = req.attempt
    spec = Attempt(
        run_id=run.id, node_id=node.id, attempt=req.attempt, pipeline=run.pipeline,
        workdir=project.root, profile=run.profile,
        timeout_s=req.timeout_s if req.timeout_s is not None else node.timeout_s,
        no_progress_s=req.no_progress_s if req.no_progress_s is not None else node.no_progress_s,
        dry_run=options.dry_run, secret_values=secret_values, start_at=options.start_at,
        stop_at=options.stop_at, node=node, context=ctx, recorder=orch.journal,
    )
    task = asyncio.ensure_future(local.run_attempt(spec))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        result = await task
    except asyncio.CancelledError:
        result = AttemptResult("cancelled", error=f"{node.id}: attempt cancelled")
        log.record("attempt cancelled", level="warn")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.close()
        await local.close()
    payload = result.to_payload(req.attempt, os.environ.get(EXECUTOR_ENV, "node-exec"))
    payload.update(host=socket.gethostname(), pid=os.getpid())
    orch.journal.attempt_finished_payload(node.id, payload)
    if req.result_fd is not None:
        with os.fdopen(req.result_fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(payload))
    return 0 if result.outcome == "success" else 1


def _find_node(orch: Orchestrator, plan: Plan, rows: dict[str, Node], node_id: str,
               run_id: str) -> JobNode:
    """The plan's node *node_id*, or the fan-out member of that id (added to the graph)."""
    if node_id in plan:
        node = plan.node(node_id)
        if node.kind != "job" and node.kind != "recovery":
            raise UsageError(f'node "{node_id}" of run {run_id} is an {node.kind} gate: '
                             "it has no attempts to run")
        return node
    row = rows.get(node_id)
    for source in plan.nodes():
        if source.dynamic is None:
            continue
        src = rows.get(source.id)
        if src is None or src.outcome not in OK_OUTCOMES:
            continue
        try:
            members = fan_out_members(source, src.output, {n.id for n in plan.nodes()})
        except (TypeError, ValueError):
            continue
        for member in members:
            if member.id == node_id:
                orch.graph.add([member])
                return member
    if row is not None and "/" in node_id:
        raise UsageError(
            f'node "{node_id}" of run {run_id} was spawned by ctx.spawn(): it runs inside its '
            "parent's attempt, not on its own"
        )
    raise NotFoundError(f'run {run_id} has no node "{node_id}"')


def _json_env(name: str) -> object:
    """The JSON value of environment variable *name* (``None`` when unset or empty)."""
    raw = os.environ.get(name, "")
    if not raw:
        return None
    try:
        value: object = json.loads(raw)
    except ValueError:
        raise SparkwingError(f"{name} is not valid JSON") from None
    return value


def _json_object(name: str) -> dict[str, Any]:
    """The JSON object in environment variable *name* (``{}`` when unset or not an object)."""
    value = _json_env(name)
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _json_list(name: str) -> list[Any]:
    """The JSON list in environment variable *name* (``[]`` when unset or not a list)."""
    value = _json_env(name)
    return list(value) if isinstance(value, list) else []
