"""The executor contract: run one attempt of one job somewhere and report how it ended.

The orchestrator owns everything around an attempt (dependencies, retries,
memoize, concurrency groups, gates, recording the node row); an executor owns
only *where and how the body runs*. It must

* stream the attempt's output lines into the log store as they are written
  (through :attr:`Attempt.log` when it runs in this process, or by forwarding
  the lines of a remote process to it);
* honour :attr:`Attempt.timeout_s` (the outcome is then ``failed`` with
  ``failure_reason="timeout"``);
* stop everything it started when the awaiting task is cancelled
  (``asyncio.CancelledError`` is raised into :meth:`Executor.run_attempt`;
  clean up, then let it propagate);
* return an :class:`AttemptResult`, never raise for a failure of the job
  itself (an exception escaping ``run_attempt`` is recorded as an internal
  error of the executor).

The executor conformance suite (:mod:`sparkwing.testing.suites.executors`)
checks these promises for any executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..errors import SparkwingError
from ..slotted import Slotted

if TYPE_CHECKING:
    from ..dsl.nodes import JobNode
    from ..runtime.context import Context

#: Version of the plugin contract (hooks, registries, executor and trigger
#: contracts). A plugin declares the version it was built for; core refuses
#: one built for a newer contract.
CONTRACT_VERSION = 1

#: How an attempt ended.
AttemptOutcome = Literal["success", "failed", "cancelled"]


class Attempt(Slotted):
    """One attempt of one job, as the orchestrator hands it to an executor.

    Everything an out-of-process executor needs is plain data (ids, the
    profile, the working directory, timeouts, environment). ``node`` and
    ``context`` are the live objects for executors that run the body in this
    process; remote executors use only the ids and the ``node exec`` entry.

    Fields (in constructor order):

    * ``run_id``, ``node_id``, ``attempt``, ``pipeline``, ``workdir``;
    * ``profile`` (``"laptop"``), ``timeout_s``, ``no_progress_s``, ``dry_run``;
    * ``env``: environment the job's commands get on top of the parent's
      (job ``.env()`` values);
    * ``secret_values``: values that must never appear in logs or outputs
      (secrets, secret inputs);
    * ``config``: the executor's own block from the profile
      (``executor: {type: NAME, ...}``), minus ``type``;
    * ``settings``: executor-specific settings from the job's modifiers
      (image, resources, ...);
    * ``secret_inputs``: values of secret pipeline inputs by flag. The run row
      stores them redacted, so an out-of-process executor hands them to the
      node process out of band (an environment variable, never argv) to
      rebuild the inputs;
    * ``start_at``, ``stop_at``: ``--sw-start-at`` / ``--sw-stop-at``, the
      window of steps a job with steps runs;
    * ``node``, ``context``, ``recorder``: live objects for executors that run
      the body in this process (``None`` otherwise): the plan's node, the
      job's Context, and where step transitions are recorded.
    """

    __slots__ = (
        "attempt",
        "config",
        "context",
        "dry_run",
        "env",
        "no_progress_s",
        "node",
        "node_id",
        "pipeline",
        "profile",
        "recorder",
        "run_id",
        "secret_inputs",
        "secret_values",
        "settings",
        "start_at",
        "stop_at",
        "timeout_s",
        "workdir",
    )

    def __init__(
        self,
        run_id: str,
        node_id: str,
        attempt: int,
        pipeline: str,
        workdir: Path,
        profile: str = "laptop",
        timeout_s: float | None = None,
        no_progress_s: float | None = None,
        dry_run: bool = False,
        env: dict[str, str] | None = None,
        secret_values: list[str] | None = None,
        config: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        secret_inputs: Mapping[str, Any] | None = None,
        start_at: str = "",
        stop_at: str = "",
        node: JobNode | None = None,
        context: Context | None = None,
        recorder: StepRecorder | None = None,
    ) -> None:
        self.run_id = run_id
        self.node_id = node_id
        self.attempt = attempt
        self.pipeline = pipeline
        self.workdir = workdir
        self.profile = profile
        self.timeout_s = timeout_s
        self.no_progress_s = no_progress_s
        self.dry_run = dry_run
        self.env: dict[str, str] = {} if env is None else env
        self.secret_values: list[str] = [] if secret_values is None else secret_values
        self.config: Mapping[str, Any] = {} if config is None else config
        self.settings: Mapping[str, Any] = {} if settings is None else settings
        self.secret_inputs: Mapping[str, Any] = {} if secret_inputs is None else secret_inputs
        self.start_at = start_at
        self.stop_at = stop_at
        self.node = node
        self.context = context
        self.recorder = recorder


class AttemptResult(Slotted):
    """How one attempt ended.

    Fields (in constructor order):

    * ``outcome``: ``success``, ``failed`` or ``cancelled``;
    * ``exit_code``: process exit code when the body was a command or a
      process (else ``None``);
    * ``failure_reason``: machine-readable cause of a failure: ``timeout``,
      ``no_progress``, ``verify``, ``before_run``, ``oom``, ``image_pull``,
      ``evicted``, ``agent_lost``, ... (``""`` if none);
    * ``error``: one-line, already masked, human-readable error (``""`` on success);
    * ``output``: the body's JSON-serialisable return value (success only),
      secrets masked;
    * ``recorded``: true when the executor already appended this attempt's
      ``attempt_finished`` event to the run's event stream (``node exec``
      does); otherwise the orchestrator does;
    * ``exception``: the exception that failed an attempt run in this process
      (handed to ``after_run`` hooks); ``None`` for out-of-process executors.
    """

    __slots__ = (
        "error",
        "exception",
        "exit_code",
        "failure_reason",
        "outcome",
        "output",
        "recorded",
    )

    def __init__(
        self,
        outcome: AttemptOutcome,
        exit_code: int | None = None,
        failure_reason: str = "",
        error: str = "",
        output: Any = None,
        recorded: bool = False,
        exception: BaseException | None = None,
    ) -> None:
        self.outcome = outcome
        self.exit_code = exit_code
        self.failure_reason = failure_reason
        self.error = error
        self.output = output
        self.recorded = recorded
        self.exception = exception

    def to_payload(self, attempt: int, executor: str) -> dict[str, Any]:
        """The payload of this attempt's ``attempt_finished`` event."""
        payload: dict[str, Any] = {"attempt": attempt, "outcome": self.outcome,
                                   "executor": executor}
        if self.exit_code is not None:
            payload["exit_code"] = self.exit_code
        if self.failure_reason:
            payload["failure_reason"] = self.failure_reason
        if self.error:
            payload["error"] = self.error
        if self.output is not None:
            payload["output"] = self.output
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> AttemptResult:
        """Read a result back from an ``attempt_finished`` payload (marked as recorded)."""
        raw = payload.get("outcome")
        outcome: AttemptOutcome = "success" if raw == "success" else (
            "cancelled" if raw == "cancelled" else "failed")
        return cls(outcome, exit_code=payload.get("exit_code"),
                   failure_reason=str(payload.get("failure_reason") or ""),
                   error=str(payload.get("error") or ""), output=payload.get("output"),
                   recorded=True)


class AttemptError(SparkwingError):
    """A failed attempt as ``after_run`` hooks see it when no exception object came back."""

    def __init__(self, result: AttemptResult) -> None:
        super().__init__(result.error or "attempt failed")
        self.exit_code_of_attempt = result.exit_code
        self.failure_reason = result.failure_reason


class StepRecorder(Protocol):
    """Records the transitions of a job's steps (step rows and their events)."""

    def step(self, node_id: str, step_id: str, status: str, started_at: float | None,
             error: str = "") -> None:
        """Record that step *step_id* of job *node_id* is now *status*."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Runs attempts of jobs. One instance serves a whole run (and may serve several)."""

    #: The type name it is registered under (``local``, ``process``, ``k8s``, ...).
    name: str

    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        """Run *attempt* to completion and report how it ended (see the module docs)."""
        ...

    async def close(self) -> None:
        """Release what the executor holds (pools, clients). Called once, at the end of a run."""
        ...


class ExecutorContext(Slotted):
    """What an executor factory may need besides its config block.

    ``home`` is ``$SPARKWING_HOME``, ``profile`` the run's profile name and
    ``workers`` the run's worker count (0: the default). ``controller`` is
    the run profile's ``controller:`` block (``url``, ``token_env`` or
    ``token``), or ``None`` when the profile has none (executors that
    dispatch through a controller need it). ``labels`` are the labels every
    job of the run needs from the machine it runs on (the pipeline's
    ``requires`` in sparkwing.yaml, without the reserved ``local``).
    """

    __slots__ = ("controller", "home", "labels", "profile", "workers")

    def __init__(self, home: Path, profile: str = "laptop", workers: int = 0,
                 controller: Mapping[str, Any] | None = None,
                 labels: tuple[str, ...] = ()) -> None:
        self.home = home
        self.profile = profile
        self.workers = workers
        self.controller = controller
        self.labels = labels
