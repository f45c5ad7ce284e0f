"""Job nodes (the outer DAG), their bodies, groups and output refs."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from types import FunctionType
from typing import TYPE_CHECKING, Any, Protocol

from ..durations import parse_duration
from ..errors import PlanError
from ..ids import validate_node_id
from ..slotted import Slotted
from .refs import Ref

if TYPE_CHECKING:
    from .work import Work

    class NodeRegistry(Protocol):
        """What a node registers further nodes on (its :class:`~sparkwing.dsl.plan.Plan`)."""

        pipeline: str

        def _add(self, node_id: str, body: Any, kind: str = "job") -> JobNode: ...


#: Retry backoff never waits longer than this between attempts.
MAX_BACKOFF_S = 300.0


# -- bodies ----------------------------------------------------------------


class ShellBody(Slotted):
    """A job body that runs one shell command line (``bash -c``) in the job's workspace."""

    __slots__ = ("command", "cwd", "env")

    def __init__(self, command: str, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        self.command = command
        self.env: dict[str, str] = {} if env is None else env
        self.cwd = cwd

    def describe(self) -> str:
        """One-line description for previews."""
        return f"$ {self.command}"


def sh(command: str, *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> ShellBody:
    """Return a job body running *command* with ``bash -c``; a non-zero exit fails the job."""
    if not isinstance(command, str) or not command.strip():
        raise PlanError("sw.sh() needs a non-empty command string")
    return ShellBody(command, dict(env or {}), cwd)


class FunctionBody(Slotted):
    """A job body that calls ``fn(ctx)`` (sync or ``async def``); its return value is the output."""

    __slots__ = ("fn", "is_async")

    def __init__(self, fn: Callable[..., Any], is_async: bool = False) -> None:
        self.fn = fn
        self.is_async = is_async

    def describe(self) -> str:
        """One-line description for previews."""
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"{'async ' if self.is_async else ''}{name}(ctx)"


class Job:
    """Base class of multi-step jobs: override :meth:`work` to declare steps.

    ``work(w)`` runs while the plan is built (no I/O there); it registers
    steps with ``w.step(id, fn)`` and may return the step whose output is
    the job's output.
    """

    def work(self, w: Work) -> Any:
        """Declare this job's steps on *w*; return the result step or ``None``."""
        raise NotImplementedError(f"{type(self).__name__} must define work(self, w)")

    def describe(self) -> str:
        """One-line description for previews."""
        return f"{type(self).__name__}()"


Body = ShellBody | FunctionBody | Job


def as_body(node_id: str, body: Any) -> Body:
    """Normalise what ``plan.job(id, body)`` accepts into a body object."""
    if isinstance(body, ShellBody | FunctionBody | Job):
        return body
    if isinstance(body, type) and issubclass(body, Job):
        return body()
    if type(body) is FunctionType:  # the common case, told by its code's flags
        return FunctionBody(body, bool(body.__code__.co_flags & inspect.CO_COROUTINE))
    if callable(body):
        fn = body
        return FunctionBody(fn, inspect.iscoroutinefunction(fn) or _is_async_callable(fn))
    raise PlanError(
        f'job "{node_id}": body must be a function fn(ctx), sw.sh("..."), or a sw.Job '
        f"instance; got {type(body).__name__}"
    )


def _is_async_callable(obj: Any) -> bool:
    call = getattr(obj, "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


# -- nodes -------------------------------------------------------------------


class Memo(Slotted):
    """A node's memoization settings."""

    __slots__ = ("key_fn", "ttl_s")

    def __init__(self, key_fn: Callable[..., Any], ttl_s: float) -> None:
        self.key_fn = key_fn
        self.ttl_s = ttl_s


class Approval(Slotted):
    """An approval gate's settings."""

    __slots__ = ("message", "on_expiry", "timeout_s")

    def __init__(self, message: str = "", timeout_s: float = 0.0,
                 on_expiry: str = "fail") -> None:
        self.message = message
        self.timeout_s = timeout_s
        self.on_expiry = on_expiry


DepLike = "JobNode | Group | str"


class JobNode:
    """One node of the plan: the unit of dispatch, retry, timeout, cache and approval.

    Modifiers return the node, so they chain:
    ``plan.job("test", sw.sh("pytest")).needs(lint).retry(2, backoff=5).timeout("10m")``.
    """

    def __init__(
        self, plan: NodeRegistry, node_id: str, body: Body | None, kind: str = "job"
    ) -> None:
        self.plan = plan
        self.id = node_id
        self.body = body
        self.kind = kind
        self.deps: list[str] = []
        self.optional_deps: list[str] = []
        self.retries = 0
        self.backoff_s = 0.0
        self.timeout_s: float | None = None
        self.no_progress_s: float | None = None
        self.skip_preds: list[Callable[..., Any]] = []
        self.continues_on_error = False
        self.is_optional = False
        self.env_vars: dict[str, str] = {}
        self.recovery: JobNode | None = None
        self.recovery_of: str | None = None
        self.before_hooks: list[Callable[..., Any]] = []
        self.after_hooks: list[Callable[..., Any]] = []
        self.verifiers: list[Callable[..., Any]] = []
        self.memo: Memo | None = None
        self.concurrency_groups: list[tuple[Any, int]] = []
        self.approval: Approval | None = None
        self.groups: list[str] = []
        self.work: Work | None = None
        self.dynamic: Any = None
        self.dry_run_fn: Callable[..., Any] | None = None
        self.safe_in_dry_run = False
        self.executor_name = ""
        self.executor_settings: dict[str, Any] = {}

    # -- edges -----------------------------------------------------------------
    def needs(self, *deps: JobNode | Group | str) -> JobNode:
        """Run only after every dependency ended OK (success, cached, skipped...)."""
        for dep_id in _dep_ids(deps, self.id):
            if dep_id not in self.deps:
                self.deps.append(dep_id)
        return self

    def needs_optional(self, *deps: JobNode | Group | str) -> JobNode:
        """Like :meth:`needs`, but ids absent from the plan are dropped silently."""
        for dep_id in _dep_ids(deps, self.id):
            if dep_id not in self.optional_deps:
                self.optional_deps.append(dep_id)
        return self

    # -- attempts ----------------------------------------------------------------
    def retry(self, attempts: int, *, backoff: float | str = 0) -> JobNode:
        """Retry up to *attempts* more times on failure, waiting *backoff*, doubled each time (max 5 min)."""
        if not isinstance(attempts, int) or attempts < 0:
            raise PlanError(f'job "{self.id}": retry() needs a non-negative int, got {attempts!r}')
        self.retries = attempts
        self.backoff_s = _duration(backoff, self.id, "retry backoff")
        return self

    def timeout(self, duration: float | str) -> JobNode:
        """Fail an attempt that runs longer than *duration* (its processes are killed)."""
        self.timeout_s = _duration(duration, self.id, "timeout") or None
        return self

    def no_progress_timeout(self, duration: float | str) -> JobNode:
        """Fail an attempt that writes no log record for *duration*."""
        self.no_progress_s = _duration(duration, self.id, "no_progress_timeout") or None
        return self

    def verify(self, fn: Callable[..., Any]) -> JobNode:
        """Add a postcondition ``fn(ctx)`` run after each successful attempt; raising fails it."""
        self.verifiers.append(_callable(fn, self.id, "verify"))
        return self

    # -- outcome shaping -------------------------------------------------------------
    def skip_if(self, predicate: Callable[..., Any]) -> JobNode:
        """Skip the job (OK for dependents) when ``predicate(ctx)`` is true; predicates OR together."""
        self.skip_preds.append(_callable(predicate, self.id, "skip_if"))
        return self

    def continue_on_error(self) -> JobNode:
        """Let dependents run even if this job fails (the run is still failed)."""
        self.continues_on_error = True
        return self

    def optional(self) -> JobNode:
        """A failure is a warning: it does not fail the run or block dependents."""
        self.is_optional = True
        self.continues_on_error = True
        return self

    def env(self, mapping: Mapping[str, str] | None = None, **values: str) -> JobNode:
        """Set environment variables for every command the job runs."""
        for k, v in {**(mapping or {}), **values}.items():
            self.env_vars[str(k)] = str(v)
        return self

    # -- hooks ----------------------------------------------------------------------
    def on_failure(self, node_id: str, body: Any) -> JobNode:
        """Add a recovery job that runs only if this job ends failed; returns the recovery node."""
        if self.recovery is not None:
            raise PlanError(f'job "{self.id}": on_failure() is already set')
        node = self.plan._add(node_id, as_body(node_id, body), kind="recovery")
        node.recovery_of = self.id
        node.deps = [self.id]
        self.recovery = node
        return node

    def before_run(self, fn: Callable[..., Any]) -> JobNode:
        """Run ``fn(ctx)`` once before the first attempt; raising fails the job without retry."""
        self.before_hooks.append(_callable(fn, self.id, "before_run"))
        return self

    def after_run(self, fn: Callable[..., Any]) -> JobNode:
        """Run ``fn(ctx, error)`` once after the last attempt; its failure is only logged."""
        self.after_hooks.append(_callable(fn, self.id, "after_run"))
        return self

    # -- coordination -------------------------------------------------------------------
    def memoize(self, key_fn: Callable[..., Any], *, ttl: float | str = "7d") -> JobNode:
        """Reuse a stored output when ``key_fn(ctx)`` returns a key seen before (TTL max 35 days)."""
        ttl_s = _duration(ttl, self.id, "memoize ttl")
        self.memo = Memo(_callable(key_fn, self.id, "memoize"), min(ttl_s, 35 * 86400.0))
        return self

    def concurrency(self, group: Any, *, cost: int = 1) -> JobNode:
        """Take *cost* units of a concurrency group's capacity while running."""
        if not isinstance(cost, int) or cost < 1:
            raise PlanError(f'job "{self.id}": concurrency cost must be an int >= 1, got {cost!r}')
        self.concurrency_groups.append((group, cost))
        return self

    def executor(self, name: str, **settings: Any) -> JobNode:
        """Run this job's attempts on executor *name* (``local``, ``process``, ``k8s``, ...).

        Wins over ``--sw-executor`` and the profile's ``executor:``. *settings*
        are handed to the executor with each attempt (an image, resources, ...).
        """
        if not isinstance(name, str) or not name.strip():
            raise PlanError(f'job "{self.id}": executor() needs an executor name, got {name!r}')
        self.executor_name = name.strip()
        self.executor_settings = dict(settings)
        return self

    def dry_run(self, fn: Callable[..., Any]) -> JobNode:
        """Under ``--sw-dry-run``, call ``fn(ctx)`` instead of the body (jobs without steps)."""
        self.dry_run_fn = _callable(fn, self.id, "dry_run")
        return self

    def safe_without_dry_run(self) -> JobNode:
        """Under ``--sw-dry-run``, run the body as it is (it changes nothing)."""
        self.safe_in_dry_run = True
        return self

    # -- reading -------------------------------------------------------------------------
    @property
    def output(self) -> Ref[Any]:
        """A :class:`Ref` to this job's output."""
        return Ref(self.id)

    def describe(self) -> str:
        """One-line description for previews."""
        if self.kind == "approval":
            return "approval gate"
        return self.body.describe() if self.body is not None else ""

    def __repr__(self) -> str:
        return f"JobNode({self.id!r})"


class Group:
    """A named set of nodes: a ``needs`` target meaning every member, and a modifier fan-out."""

    def __init__(self, name: str, members: Iterable[JobNode]) -> None:
        self.name = name
        self.members = list(members)
        for m in self.members:
            if name and name not in m.groups:
                m.groups.append(name)

    def __iter__(self) -> Any:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def _each(self, method: str, *args: Any, **kwargs: Any) -> Group:
        for m in self.members:
            getattr(m, method)(*args, **kwargs)
        return self

    def needs(self, *deps: JobNode | Group | str) -> Group:
        """Every member needs *deps*."""
        return self._each("needs", *deps)

    def needs_optional(self, *deps: JobNode | Group | str) -> Group:
        """Every member optionally needs *deps*."""
        return self._each("needs_optional", *deps)

    def retry(self, attempts: int, *, backoff: float | str = 0) -> Group:
        """Every member retries."""
        return self._each("retry", attempts, backoff=backoff)

    def timeout(self, duration: float | str) -> Group:
        """Every member gets the timeout."""
        return self._each("timeout", duration)

    def no_progress_timeout(self, duration: float | str) -> Group:
        """Every member gets the no-progress timeout."""
        return self._each("no_progress_timeout", duration)

    def skip_if(self, predicate: Callable[..., Any]) -> Group:
        """Every member gets the skip predicate."""
        return self._each("skip_if", predicate)

    def continue_on_error(self) -> Group:
        """Every member continues on error."""
        return self._each("continue_on_error")

    def optional(self) -> Group:
        """Every member is optional."""
        return self._each("optional")

    def env(self, mapping: Mapping[str, str] | None = None, **values: str) -> Group:
        """Every member gets the environment variables."""
        return self._each("env", mapping, **values)

    def verify(self, fn: Callable[..., Any]) -> Group:
        """Every member gets the postcondition."""
        return self._each("verify", fn)

    def before_run(self, fn: Callable[..., Any]) -> Group:
        """Every member gets the hook."""
        return self._each("before_run", fn)

    def after_run(self, fn: Callable[..., Any]) -> Group:
        """Every member gets the hook."""
        return self._each("after_run", fn)

    def concurrency(self, group: Any, *, cost: int = 1) -> Group:
        """Every member joins the concurrency group."""
        return self._each("concurrency", group, cost=cost)

    def memoize(self, key_fn: Callable[..., Any], *, ttl: float | str = "7d") -> Group:
        """Every member memoizes with *key_fn* (which should include the node id)."""
        return self._each("memoize", key_fn, ttl=ttl)

    def executor(self, name: str, **settings: Any) -> Group:
        """Every member runs on executor *name*."""
        return self._each("executor", name, **settings)

    @property
    def ids(self) -> list[str]:
        """Member node ids."""
        return [m.id for m in self.members]

    def __repr__(self) -> str:
        return f"Group({self.name!r}, {self.ids})"


def _dep_ids(deps: Iterable[Any], owner: str) -> list[str]:
    out: list[str] = []
    for dep in deps:
        if isinstance(dep, JobNode):
            out.append(dep.id)
        elif isinstance(dep, Group):
            out.extend(dep.ids)
        elif isinstance(dep, str):
            out.append(validate_node_id(dep, "dependency id"))
        elif isinstance(dep, list | tuple):
            out.extend(_dep_ids(dep, owner))
        else:
            raise PlanError(
                f'"{owner}": needs() takes jobs, groups or node ids; got {type(dep).__name__}'
            )
    return out


def _duration(value: float | str, node_id: str, what: str) -> float:
    try:
        return parse_duration(value, what)
    except ValueError as exc:
        raise PlanError(f'job "{node_id}": {exc}') from None


def _callable(fn: object, node_id: str, what: str) -> Callable[..., Any]:
    if not callable(fn):
        raise PlanError(f'job "{node_id}": {what}() needs a callable, got {type(fn).__name__}')
    return fn
