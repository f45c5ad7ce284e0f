"""The one dispatch function: record a run request under its idempotency key, then start it.

:func:`dispatch` is where every trigger source hands its
:class:`~sparkwing.triggers.contracts.RunRequest`: the CLI (``manual``),
git hooks (``git-hook``), schedules (``schedule``), retries (``retry``)
and plugins (``github``, ...). It

1. checks that the request's source is a registered trigger source;
2. records the request in the state store's ``triggers`` table under its
   idempotency key (an empty key gets a fresh one). The insert is atomic:
   of two requests with one key, however close together and from however
   many processes, exactly one is recorded; the other gets the first one's
   row back, starts nothing and says so (:attr:`DispatchResult.duplicate`);
3. starts the run here through :class:`sparkwing.runs.start.RunStart` (the
   steps of :func:`~sparkwing.runs.start.start_run`), or, with
   ``queue=True``, leaves the row ``pending`` for a runner
   (:func:`run_queued` claims and starts one).

A started request's row goes ``claimed`` (by this process, under a lease)
-> ``done`` with the run id as soon as the run is prepared (before its jobs
run), or ``failed`` with the error when it cannot start.

A runner (``sparkwing runner``) claims rows itself and starts each run in a
child process through :func:`run_claimed`, which claims nothing and
finishes nothing: the runner keeps the claim alive with heartbeats and ends
the row when the child exits.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .request import DispatchResult as DispatchResult  # also importable from here
from .request import RunRequest

if TYPE_CHECKING:
    from ..runs.start import RunStart, StartOptions
    from ..storage.contracts import StateStore
    from ..storage.records import Run, TriggerRow

#: Lease a dispatcher takes on a row while it prepares the run (seconds).
DISPATCH_LEASE_S = 600.0


def check_source(name: str) -> None:
    """Raise a one-line :class:`~sparkwing.errors.PluginError` unless *name* is a registered source."""
    from ..plugins.manager import get_host

    get_host().registry.get("trigger", name)


def _recorded_request(request: RunRequest) -> RunRequest:
    """The request as recorded: its key filled in (a fresh one when empty)."""
    from .keys import fresh_key

    key = request.idempotency_key or fresh_key(request.trigger.source)
    return request.replace(idempotency_key=key)


def _row(request: RunRequest, *, now: float, holder: str = "", lease_s: float = 0.0) -> TriggerRow:
    """A new row for *request*: ``claimed`` by *holder* when given, else ``pending``."""
    from ..storage.records import TriggerRow
    from .keys import new_trigger_id

    return TriggerRow(
        id=new_trigger_id(now), idempotency_key=request.idempotency_key,
        pipeline=request.pipeline, source=request.trigger.source,
        status="claimed" if holder else "pending", request=request.to_dict(), created_at=now,
        claimed_at=now if holder else None, lease_expires_at=now + lease_s if holder else None,
        claimed_by=holder, claims=1 if holder else 0,
    )


def dispatch(
    request: RunRequest,
    options: StartOptions | None = None,
    *,
    queue: bool = False,
    state: StateStore | None = None,
) -> DispatchResult:
    """Record *request* once under its idempotency key, then start (or queue) its run.

    Without *queue*, the run starts in this process and this call returns
    when it finished (``result.run``). With *queue*, the row is left
    ``pending`` in *state* (default: the state store of the request's
    profile) and ``result.run`` is ``None``.

    A repeated key returns the recorded row with ``created=False`` and starts
    nothing. Errors that keep a run from starting (unknown pipeline, bad
    input, guard) are raised as one-line :class:`~sparkwing.errors.SparkwingError`
    after the row is marked ``failed`` with the message.
    """
    from ..runs.start import RunStart

    check_source(request.trigger.source)
    request = _recorded_request(request)
    if queue and state is not None:
        return _queue(state, request)
    starter = RunStart(request, options)
    try:
        if queue:
            return _queue(starter.state, request)
        return _start(starter, request)
    finally:
        starter.close()


def _queue(state: StateStore, request: RunRequest) -> DispatchResult:
    row, created = state.insert_trigger(_row(request, now=time.time()))
    return DispatchResult(row, created)


def _start(starter: RunStart, request: RunRequest) -> DispatchResult:
    from .keys import holder_id

    holder = holder_id()
    state = starter.state
    row, created = state.insert_trigger(
        _row(request, now=time.time(), holder=holder, lease_s=DISPATCH_LEASE_S))
    if not created:
        return DispatchResult(row, False)
    return _prepare_and_run(starter, state, row, holder)


def _prepare_and_run(
    starter: RunStart, state: StateStore, row: TriggerRow, holder: str,
) -> DispatchResult:
    """Prepare the run for a row of *state* that *holder* claimed, mark the row, then run it."""
    starter.trigger_id = row.id
    try:
        run_id = starter.prepare()
    except BaseException as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        state.finish_trigger(row.id, holder, status="failed", now=time.time(), error=message)
        raise
    done_at = time.time()
    finished = state.finish_trigger(row.id, holder, status="done", now=done_at, run_id=run_id)
    run = starter.execute()
    if finished:  # the row as the store now holds it, without reading it back
        row = replace(row, status="done", run_id=run_id, error="", finished_at=done_at,
                      claimed_by="", lease_expires_at=None)
    else:
        row = state.get_trigger(row.id) or row
    return DispatchResult(row, True, run)


def run_queued(
    state: StateStore,
    options: StartOptions | None = None,
    *,
    trigger_id: str = "",
    lease_s: float = DISPATCH_LEASE_S,
) -> DispatchResult | None:
    """Claim the oldest pending trigger row of *state* (or *trigger_id*) and start its run here.

    Returns ``None`` when there was nothing to claim. The row's recorded
    request is started exactly as :func:`dispatch` starts one (``done`` with
    the run id once prepared, ``failed`` with the error otherwise).
    """
    from ..runs.start import RunStart
    from .keys import holder_id

    holder = holder_id()
    row = state.claim_trigger(holder, lease_s=lease_s, now=time.time(), trigger_id=trigger_id)
    if row is None:
        return None
    try:
        request = RunRequest.from_dict(row.request)
        starter = RunStart(request, options)
    except BaseException as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        state.finish_trigger(row.id, holder, status="failed", now=time.time(), error=message)
        raise
    try:
        return _prepare_and_run(starter, state, row, holder)
    finally:
        starter.close()


#: Error recorded on a run whose runner vanished before it finished (``{new}``: the retry).
RUNNER_LOST = "runner lost: trigger lease expired; retried as {new}"


def run_claimed(
    state: StateStore,
    trigger_id: str,
    *,
    holder: str,
    seq: int,
    options: StartOptions | None = None,
    workdir: Path | None = None,
    profile: str = "",
) -> DispatchResult:
    """Start the run of a row a runner already claimed (*holder*, claim number *seq*).

    Claims nothing and never finishes the row: the runner that claimed it
    heartbeats it and finishes it from the result. The row must be
    ``claimed`` by *holder* in claim *seq* (else a one-line
    :class:`~sparkwing.errors.UsageError`). The recorded request runs in
    *workdir* (default: the current directory) instead of its recorded
    ``workdir``, and under *profile* when given.

    A retry request (:mod:`sparkwing.runs.retry`) starts a run that retries
    the run it names. A row claimed before (``seq > 1``: an earlier runner's lease ran out)
    may have a run of that claim: a successful one is the row's run (nothing
    starts); a live one is failed as lost (:data:`RUNNER_LOST`); the new run
    retries the unsuccessful one, reusing the outputs of its passed jobs.
    """
    from ..errors import UsageError
    from ..ids import new_run_id
    from ..runs.retry import retry_options
    from ..runs.start import RunStart, StartOptions

    row = state.get_trigger(trigger_id)
    if row is None or row.status != "claimed" or row.claimed_by != holder or row.claims != seq:
        what = ("not recorded" if row is None else
                f"{row.status}" + (f" by {row.claimed_by} (claim {row.claims})"
                                   if row.claimed_by else ""))
        raise UsageError(f"--id {trigger_id}: not claimed by {holder} in claim {seq} "
                         f"(the trigger is {what})")
    request = RunRequest.from_dict(row.request)
    request = request.replace(workdir=workdir or Path.cwd(),
                              profile=profile or request.profile)
    opts = options or StartOptions()
    run_id = opts.run_id or new_run_id()
    opts = opts.replace(run_id=run_id, trigger_id=row.id)
    retry_of, reuse_passed = retry_options(request)
    if retry_of and not opts.retry_of:  # a queued retry (POST /api/v1/runs/{id}/retry)
        opts = opts.replace(retry_of=retry_of, reuse_passed=reuse_passed)
    if row.claims > 1:
        earlier = _earlier_run(state, row, exclude=run_id)
        if earlier is not None and earlier.status == "success":
            return DispatchResult(row, True, earlier)
        if earlier is not None:
            from ..orchestrator.reconcile import settle_lost_run

            settle_lost_run(state, earlier, RUNNER_LOST.format(new=run_id), "runner_lost")
            opts = opts.replace(retry_of=earlier.id, reuse_passed=True)
    starter = RunStart(request, opts)
    try:
        starter.trigger_id = row.id
        starter.prepare()
        run = starter.execute()
    finally:
        starter.close()
    return DispatchResult(row, True, run)


def _earlier_run(state: StateStore, row: TriggerRow, *, exclude: str) -> Run | None:
    """The newest run an earlier claim of *row* started (recorded in its invocation), if any."""
    from ..storage.records import RunFilter

    runs = state.list_runs(RunFilter(pipelines=[row.pipeline], since=row.created_at - 1.0,
                                     limit=200))
    for run in runs:  # newest first
        trigger = (run.invocation or {}).get("trigger") or {}
        if run.id != exclude and trigger.get("id") == row.id:
            return run
    return None
