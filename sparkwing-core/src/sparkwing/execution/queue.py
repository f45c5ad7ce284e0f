"""The ``queue`` executor: every attempt goes on the controller's node queue for a runner.

The run's profile must name a controller (``controller: {url, token_env}``),
whose state and log stores the run records into: a runner
(``sparkwing runner``) claims the attempt, rebuilds the run's commit from the
controller's code store and runs ``sparkwing node exec`` there, which reads
the run from the controller and records the attempt's result as an
``attempt_finished`` event.

Per attempt:

1. **Code.** Once per run, the commit the run records (``git.sha``) is sent
   to the controller unless it holds it already (runs started by a runner
   from a trigger always find it there). Uncommitted changes are not sent:
   runners run the commit.
2. **Queue.** ``mark-ready`` with ``needs_labels``: the pipeline's
   ``requires`` (sparkwing.yaml, minus ``local``), the profile block's
   ``labels`` and the job's ``.executor("queue", labels=[...])``, all
   required (AND; a label with commas is an OR of alternatives).
3. **Wait.** The attempt's queue row is read (one small GET) every
   ``poll_s`` at most (starting at 0.1 s and growing), until it is
   ``finished``. The result is the ``attempt_finished`` event ``node exec``
   recorded (``recorded=True``, with the job's output); when there is none
   (the runner was lost: ``agent_lost``; nobody claimed it in time:
   ``queue_timeout``; the runner could not start it), the row's outcome,
   exit code, reason and error, for the orchestrator to record and for the
   job's retry policy to judge.

* Timeout: ``node exec`` enforces the job's timeout on the runner. As a
  backstop, an attempt still claimed ``timeout + grace_s`` after its claim
  ends here ``failed``/``timeout``.
* Cancel: a ready attempt is revoked; a claimed one is stopped by the run's
  cancel request, which reaches its runner through the node heartbeat, and
  is waited for up to ``grace_s``; then the cancellation propagates. The
  controller's per-job cancel (``POST /api/v1/runs/{id}/nodes/{nid}/cancel``)
  ends the attempt ``cancelled`` on the queue or through its runner: the job
  ends cancelled (never retried) and the run carries on without it.
* Secret pipeline inputs cannot travel to runners yet: such an attempt
  fails at once with one line saying so.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .. import events
from ..errors import ConfigError, SparkwingError
from .contracts import Attempt, AttemptResult, ExecutorContext

if TYPE_CHECKING:
    from ..queueclient import QueueClient
    from ..runtime.nodelog import NodeLogger

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Longest wait between two reads of a waiting attempt's queue row (seconds).
POLL_S = 0.5
#: First wait between reads; it grows by half each time up to ``poll_s``.
FIRST_POLL_S = 0.1
#: Seconds past the job's timeout (counted from the claim) before the executor gives up,
#: and the longest wait for a claimed attempt to finish after a cancel.
GRACE_S = 60.0
#: Seconds a remotely cancelled attempt waits for its own run to cancel the job.
CANCEL_SETTLE_S = 5.0
#: Tries of one controller call when the controller is unreachable or busy.
CALL_TRIES = 6
#: Events read per request while looking for an attempt's result.
EVENTS_PAGE = 1000


def parse_labels(value: Any, where: str) -> list[str]:
    """*value* (a string or a list of strings) as a list of labels; one-line error otherwise."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: labels must be a label or a list of non-empty labels, "
                          f"got {value!r}")
    return [v.strip() for v in value]


def needs_labels(*groups: Iterable[str]) -> list[str]:
    """The union of label groups, in order, without repeats."""
    out: list[str] = []
    for group in groups:
        for label in group:
            if label not in out:
                out.append(label)
    return out


@dataclass
class _RunState:
    """What the executor learned about one run: code sent, events read, results found."""

    code_ready: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    events_after: int = 0
    results: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)


class QueueExecutor:
    """Puts each attempt on the controller's node queue and waits for a runner to finish it."""

    name = "queue"
    in_process = False

    def __init__(self, client: QueueClient, *, labels: Iterable[str] = (),
                 poll_s: float = POLL_S, grace_s: float = GRACE_S) -> None:
        self.client = client
        self.labels = list(labels)
        self.poll_s = poll_s
        self.grace_s = grace_s
        self._runs: dict[str, _RunState] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ExecutorContext) -> QueueExecutor:
        """Build from ``executor: {type: queue, labels, poll_s, grace_s}`` and the profile's controller."""
        from ..queueclient import QueueClient

        where = f'executor queue (profile "{context.profile}")'
        block = context.controller
        if not block or not block.get("url"):
            raise ConfigError(
                f'{where}: the profile has no controller: block; the queue executor puts '
                "attempts on a controller's node queue (add controller: {url, token_env} "
                "to the profile, or choose another executor)")
        token = str(block.get("token") or "")
        if not token:
            var = str(block.get("token_env") or "SPARKWING_TOKEN")
            token = os.environ.get(var, "")
        labels = parse_labels(config.get("labels"), f"{where}: labels")
        numbers: dict[str, float] = {}
        for key, default in (("poll_s", POLL_S), ("grace_s", GRACE_S)):
            value = config.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: {key} must be a number >= 0, got {value!r}")
            numbers[key] = float(value)
        try:
            client = QueueClient(str(block["url"]), token)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return cls(client, labels=[*context.labels, *labels],
                   poll_s=max(numbers["poll_s"], FIRST_POLL_S), grace_s=numbers["grace_s"])

    # -- controller calls (blocking, run in a thread, retried while the controller is away) ---

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        from ..queueclient import ControllerError

        delay = 0.2
        for attempt in range(1, CALL_TRIES + 1):
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except ControllerError as exc:
                if not exc.retryable or attempt == CALL_TRIES:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # -- the attempt ------------------------------------------------------------------------

    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        """Queue the attempt, wait for a runner to finish it, read its result."""
        from ..queueclient import ControllerError

        ctx = attempt.context
        log: NodeLogger | None = ctx.log if ctx is not None else None
        nid = attempt.node_id
        if attempt.secret_inputs:
            return self._fail(log, f"{nid}: the queue executor cannot hand secret inputs "
                              f"({', '.join('--' + f for f in attempt.secret_inputs)}) to a "
                              "runner yet; run this pipeline with another executor",
                              "executor_error")
        try:
            needs = needs_labels(self.labels, parse_labels(
                attempt.settings.get("labels"), f'job "{nid}": .executor("queue", labels=...)'))
            run = self._runs.setdefault(attempt.run_id, _RunState())
            await self._ensure_code(run, attempt, log)
            await self._call(self.client.mark_ready, attempt.run_id, nid,
                             attempt=attempt.attempt, needs_labels=needs)
        except (SparkwingError, ControllerError) as exc:
            return self._fail(log, f"{nid}: cannot queue attempt {attempt.attempt}: {exc}",
                              "executor_error")
        if log is not None:
            text = f"queued for a runner (attempt {attempt.attempt}"
            log.record(text + (f", needs labels {', '.join(needs)})" if needs else ")"))
        try:
            row = await self._wait(attempt, log)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel(attempt, log))
            raise
        except ControllerError as exc:
            return self._fail(log, f"{nid}: lost track of attempt {attempt.attempt} on the "
                              f"controller: {exc}", "executor_error")
        if row is None:
            text = (f"{nid}: timeout exceeded ({attempt.timeout_s:g}s, plus {self.grace_s:g}s "
                    "for the runner); stopped waiting for the runner")
            return self._fail(log, text, "timeout")
        result = await self._result(attempt, row, log)
        if result.outcome == "cancelled" and not row.get("cancel_requested_at"):
            # The run's cancel request stopped the attempt on its runner; this run's own
            # watcher sees the request within a poll and cancels the job (the run is then
            # recorded cancelled, not failed). Give it that moment. (An attempt cancelled
            # on its own, POST .../nodes/{nid}/cancel, ends only this job: no wait.)
            await asyncio.sleep(CANCEL_SETTLE_S)
        return result

    async def _ensure_code(self, run: _RunState, attempt: Attempt,
                           log: NodeLogger | None) -> None:
        """Send the run's commit to the controller once per run, unless it has it."""
        from ..queueclient import ControllerError
        from ..runcode import send_commit

        async with run.lock:
            if run.code_ready:
                return
            sha = attempt.context.run.git.sha if attempt.context is not None else ""
            if not sha:
                raise SparkwingError("the run records no git commit; the queue executor runs "
                                     "jobs from a commit the controller can send to runners")
            try:
                await self._call(self.client.code_chain, sha)
            except ControllerError as exc:
                if exc.status not in (403, 404):
                    raise
                sent = await asyncio.to_thread(send_commit, self.client, attempt.workdir, sha)
                if log is not None and sent:
                    log.record(f"code: sent commit {sha[:12]} to the controller ({sent} bytes)")
            run.code_ready = True

    async def _wait(self, attempt: Attempt, log: NodeLogger | None) -> dict[str, Any] | None:
        """The finished queue row; ``None`` when a claimed attempt overstayed its timeout."""
        delay = FIRST_POLL_S
        deadline: float | None = None
        holder = ""
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.poll_s)
            row = await self._call(self.client.queued_attempt, attempt.run_id,
                                   attempt.node_id, attempt.attempt)
            if row is None:
                raise SparkwingError("the attempt is not in the node queue any more")
            status = row.get("status")
            if status == "finished":
                return row
            if status == "revoked":
                raise SparkwingError("the attempt was taken off the queue (revoked) by "
                                     "someone else")
            if status == "claimed" and row.get("claimed_by") != holder:
                holder = str(row.get("claimed_by") or "")
                if log is not None:
                    log.record(f"claimed by runner {holder}")
                if attempt.timeout_s:
                    deadline = time.monotonic() + attempt.timeout_s + self.grace_s
            if deadline is not None and time.monotonic() > deadline:
                return None

    async def _cancel(self, attempt: Attempt, log: NodeLogger | None) -> None:
        """Revoke a ready attempt; wait up to ``grace_s`` for a claimed one to finish."""
        from ..queueclient import ControllerError

        try:
            revoked = await self._call(self.client.revoke_ready, attempt.run_id,
                                       attempt.node_id, attempt=attempt.attempt)
            if revoked:
                return
            deadline = time.monotonic() + self.grace_s
            while time.monotonic() < deadline:
                row = await self._call(self.client.queued_attempt, attempt.run_id,
                                       attempt.node_id, attempt.attempt)
                if row is None or row.get("status") != "claimed":
                    return
                await asyncio.sleep(min(self.poll_s, 0.5))
            if log is not None:
                log.record("the runner did not stop the attempt within the grace period",
                           level="warn")
        except ControllerError as exc:
            if log is not None:
                log.record(f"could not withdraw the attempt: {exc}", level="warn")

    async def _result(self, attempt: Attempt, row: Mapping[str, Any],
                      log: NodeLogger | None) -> AttemptResult:
        """The attempt's ``attempt_finished`` event when ``node exec`` recorded one, else the row."""
        payload = await self._recorded(attempt)
        if payload is not None:
            return AttemptResult.from_payload(payload)
        raw = str(row.get("outcome") or "failed")
        outcome: Any = raw if raw in ("success", "failed", "cancelled") else "failed"
        reason = str(row.get("failure_reason") or "")
        error = str(row.get("error") or "")
        if outcome == "failed" and not error:
            error = f"{attempt.node_id}: attempt {attempt.attempt} failed on runner " \
                    f"{row.get('claimed_by') or '?'}"
        if log is not None and outcome != "success":
            log.record(error + (f" ({reason})" if reason else ""), level="error")
        exit_code = row.get("exit_code")
        return AttemptResult(outcome, exit_code=exit_code if isinstance(exit_code, int) else None,
                             failure_reason=reason, error=error)

    async def _recorded(self, attempt: Attempt) -> dict[str, Any] | None:
        """The payload of the attempt's ``attempt_finished`` event, reading new events of the run."""
        run = self._runs.setdefault(attempt.run_id, _RunState())
        key = (attempt.node_id, attempt.attempt)
        async with run.lock:
            while key not in run.results:
                page = await self._call(self.client.run_events, attempt.run_id,
                                        after=run.events_after, limit=EVENTS_PAGE)
                for event in page:
                    run.events_after = max(run.events_after, int(event.get("seq") or 0))
                    payload = event.get("payload")
                    if event.get("kind") == events.ATTEMPT_FINISHED and isinstance(payload, dict):
                        run.results[(str(event.get("node_id") or ""),
                                     int(payload.get("attempt") or 0))] = payload
                if len(page) < EVENTS_PAGE:
                    break
            return run.results.pop(key, None)

    @staticmethod
    def _fail(log: NodeLogger | None, text: str, reason: str) -> AttemptResult:
        if log is not None:
            log.record(text, level="error")
        return AttemptResult("failed", failure_reason=reason, error=text)

    async def close(self) -> None:
        """Close the controller connection."""
        self.client.close()
