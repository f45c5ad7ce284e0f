"""Plain records that travel through the store contracts.

Times are float seconds since the epoch (UTC). JSON-valued fields hold
already-decoded Python values. Records are mutable dataclasses with slots:
stores build them, callers read them. Each class is made a dataclass the
first time it is used (see ``__getattr__`` at the end), so a command pays
only for the records it touches. The three every ``sparkwing run`` makes
(:class:`Run`, :class:`Node`, :class:`TriggerRow`) write their own
``__init__`` and take ``repr`` and ``==`` from :class:`~sparkwing.slotted.Slotted`,
so no method is compiled from source when they are made (1.5-2.5 ms per
run); ``tests/state/test_lazy_records.py`` checks each ``__init__`` against
the fields.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..slotted import Slotted

if TYPE_CHECKING:
    from dataclasses import dataclass as _record
else:
    def _record(**options: Any) -> Any:
        """Set the class aside: ``dataclass(**options)`` makes it when first used (``__getattr__``)."""

        def keep(cls: type) -> type:
            _LAZY[cls.__name__] = (cls, options)
            return cls

        return keep

#: Record classes not made into dataclasses yet (making one costs ~5 M instructions:
#: its methods are generated and compiled), by name, with their ``dataclass`` options.
_LAZY: dict[str, tuple[type, dict[str, Any]]] = {}
_MAKING = threading.Lock()

#: Run statuses. ``pending`` and ``running`` are live; the rest are terminal.
RUN_STATUSES = ("pending", "running", "success", "failed", "cancelled")
TERMINAL_RUN_STATUSES = frozenset({"success", "failed", "cancelled"})

#: Node lifecycle statuses; the terminal detail lives in the outcome.
NODE_STATUSES = ("pending", "running", "approval_pending", "paused", "done")

#: Node outcomes. "OK for downstream" outcomes are in :data:`OK_OUTCOMES`.
NODE_OUTCOMES = (
    "success",
    "failed",
    "satisfied",
    "cached",
    "skipped",
    "cancelled",
    "skipped-concurrent",
    "superseded",
)
OK_OUTCOMES = frozenset({"success", "satisfied", "cached", "skipped", "skipped-concurrent"})

#: Step statuses.
STEP_STATUSES = ("running", "passed", "failed", "cancelled", "skipped")

#: Trigger statuses: ``pending`` (queued for a runner), ``claimed`` (a dispatcher
#: holds its lease), ``done`` (its run was created: ``run_id`` is set) and
#: ``failed`` (no run could be started: ``error`` says why).
TRIGGER_STATUSES = ("pending", "claimed", "done", "failed")


@_record(slots=True, init=False, repr=False, eq=False)
class Run(Slotted):
    """One pipeline run."""

    id: str
    pipeline: str
    status: str = "pending"
    trigger_source: str = "manual"
    trigger_user: str = ""
    git_branch: str = ""
    git_sha: str = ""
    git_repo: str = ""
    git_dirty: bool = False
    args: dict[str, Any] = field(default_factory=dict)
    secret_args: list[str] = field(default_factory=list)
    plan: dict[str, Any] | None = None
    error: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    last_heartbeat_at: float | None = None
    cancel_requested_at: float | None = None
    retry_of: str = ""
    profile: str = ""
    host: str = ""
    pid: int = 0
    invocation: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self, id: str, pipeline: str, status: str = "pending", trigger_source: str = "manual",
        trigger_user: str = "", git_branch: str = "", git_sha: str = "", git_repo: str = "",
        git_dirty: bool = False, args: dict[str, Any] | None = None,
        secret_args: list[str] | None = None, plan: dict[str, Any] | None = None,
        error: str = "", created_at: float = 0.0, started_at: float | None = None,
        finished_at: float | None = None, last_heartbeat_at: float | None = None,
        cancel_requested_at: float | None = None, retry_of: str = "", profile: str = "",
        host: str = "", pid: int = 0, invocation: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.pipeline = pipeline
        self.status = status
        self.trigger_source = trigger_source
        self.trigger_user = trigger_user
        self.git_branch = git_branch
        self.git_sha = git_sha
        self.git_repo = git_repo
        self.git_dirty = git_dirty
        self.args = {} if args is None else args
        self.secret_args = [] if secret_args is None else secret_args
        self.plan = plan
        self.error = error
        self.created_at = created_at
        self.started_at = started_at
        self.finished_at = finished_at
        self.last_heartbeat_at = last_heartbeat_at
        self.cancel_requested_at = cancel_requested_at
        self.retry_of = retry_of
        self.profile = profile
        self.host = host
        self.pid = pid
        self.invocation = {} if invocation is None else invocation

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)

    @property
    def terminal(self) -> bool:
        """True once the run reached success, failed or cancelled."""
        return self.status in TERMINAL_RUN_STATUSES


@_record(slots=True, init=False, repr=False, eq=False)
class Node(Slotted):
    """One node (job, approval gate, or recovery job) of a run."""

    run_id: str
    node_id: str
    kind: str = "job"
    status: str = "pending"
    outcome: str = ""
    deps: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    error: str = ""
    output: Any = None
    has_output: bool = False
    failure_reason: str = ""
    exit_code: int | None = None
    status_detail: str = ""
    attempts: int = 0
    annotations: list[str] = field(default_factory=list)
    summary: str = ""
    last_heartbeat_at: float | None = None

    def __init__(
        self, run_id: str, node_id: str, kind: str = "job", status: str = "pending",
        outcome: str = "", deps: list[str] | None = None, groups: list[str] | None = None,
        started_at: float | None = None, finished_at: float | None = None, error: str = "",
        output: Any = None, has_output: bool = False, failure_reason: str = "",
        exit_code: int | None = None, status_detail: str = "", attempts: int = 0,
        annotations: list[str] | None = None, summary: str = "",
        last_heartbeat_at: float | None = None,
    ) -> None:
        self.run_id = run_id
        self.node_id = node_id
        self.kind = kind
        self.status = status
        self.outcome = outcome
        self.deps = [] if deps is None else deps
        self.groups = [] if groups is None else groups
        self.started_at = started_at
        self.finished_at = finished_at
        self.error = error
        self.output = output
        self.has_output = has_output
        self.failure_reason = failure_reason
        self.exit_code = exit_code
        self.status_detail = status_detail
        self.attempts = attempts
        self.annotations = [] if annotations is None else annotations
        self.summary = summary
        self.last_heartbeat_at = last_heartbeat_at

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class Step:
    """One step of a node's inner DAG."""

    run_id: str
    node_id: str
    step_id: str
    status: str = "running"
    started_at: float | None = None
    finished_at: float | None = None
    error: str = ""
    output: Any = None
    has_output: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class Event:
    """One entry of a run's ordered event stream (``seq`` is per run, from 1)."""

    run_id: str
    seq: int
    kind: str
    ts: float
    node_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class Approval:
    """An approval gate's request and, once resolved, its resolution."""

    run_id: str
    node_id: str
    requested_at: float
    message: str = ""
    timeout_s: float = 0.0
    on_expiry: str = "fail"
    resolution: str = ""  # "" pending | approved | denied | timed_out
    approver: str = ""
    comment: str = ""
    resolved_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class CacheEntry:
    """A memoized node result: ``key`` -> the producing run/node and its output."""

    key: str
    run_id: str
    node_id: str
    output: Any = None
    pipeline: str = ""
    created_at: float = 0.0
    expires_at: float = 0.0
    last_hit_at: float | None = None
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class Pause:
    """A debug pause held on a node."""

    run_id: str
    node_id: str
    reason: str  # pause-before | pause-after | pause-on-failure
    paused_at: float
    expires_at: float
    released_at: float | None = None
    released_by: str = ""
    release_kind: str = ""  # manual | timeout-released

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class Lease:
    """A holder or waiter of a concurrency key."""

    key: str
    holder_id: str
    run_id: str = ""
    node_id: str = ""
    cost: int = 1
    capacity: int = 1
    arrived_at: float = 0.0
    claimed_at: float | None = None
    lease_expires_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True, init=False, repr=False, eq=False)
class TriggerRow(Slotted):
    """One run request recorded under its idempotency key (a row of ``triggers``).

    ``request`` is :meth:`sparkwing.triggers.contracts.RunRequest.to_dict`'s
    output. A ``claimed`` row belongs to ``claimed_by`` until
    ``lease_expires_at``; each claim adds one to ``claims``.
    """

    id: str
    idempotency_key: str
    pipeline: str
    source: str = "manual"
    status: str = "pending"
    run_id: str = ""
    error: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    claimed_at: float | None = None
    lease_expires_at: float | None = None
    claimed_by: str = ""
    claims: int = 0
    finished_at: float | None = None
    #: The request id the current (or last) claim was made with; ``None``: none, or requeued.
    claim_request: str | None = None

    def __init__(
        self, id: str, idempotency_key: str, pipeline: str, source: str = "manual",
        status: str = "pending", run_id: str = "", error: str = "",
        request: dict[str, Any] | None = None, created_at: float = 0.0,
        claimed_at: float | None = None, lease_expires_at: float | None = None,
        claimed_by: str = "", claims: int = 0, finished_at: float | None = None,
        claim_request: str | None = None,
    ) -> None:
        self.id = id
        self.idempotency_key = idempotency_key
        self.pipeline = pipeline
        self.source = source
        self.status = status
        self.run_id = run_id
        self.error = error
        self.request = {} if request is None else request
        self.created_at = created_at
        self.claimed_at = claimed_at
        self.lease_expires_at = lease_expires_at
        self.claimed_by = claimed_by
        self.claims = claims
        self.finished_at = finished_at
        self.claim_request = claim_request

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-serialisable dict."""
        return asdict(self)


@_record(slots=True)
class AcquireResult:
    """What :meth:`StateStore.concurrency_acquire` decided."""

    granted: bool
    active: int  # holders' total cost after the decision
    ahead: int  # waiters queued before this one (0 when granted)
    holders: list[str] = field(default_factory=list)


@_record(slots=True)
class RunFilter:
    """Filters for :meth:`StateStore.list_runs`; every given filter must match (AND).

    Within a list (``pipelines``, ``statuses``), any element may match (OR);
    an element starting with ``!`` excludes instead.
    """

    pipelines: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    branch: str = ""
    sha_prefix: str = ""
    search: str = ""
    since: float | None = None
    before_id: str = ""  # cursor: only runs whose id sorts before this one
    limit: int = 20


for _name in _LAZY:  # each name is made on first use, by __getattr__
    del globals()[_name]


def __getattr__(name: str) -> Any:
    """Make a record class into its dataclass the first time it is used."""
    with _MAKING:
        made = globals().get(name)
        if made is None:
            pending = _LAZY.get(name)
            if pending is None:
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
            cls, options = pending
            made = globals()[name] = dataclass(**options)(cls)
            del _LAZY[name]
    return made

