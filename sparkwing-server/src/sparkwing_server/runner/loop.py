"""The runner's claim loop: claim while below ``--max-jobs``, back off when unreachable, shut down.

Each free slot first asks for a node attempt the runner's labels satisfy
(work of runs already going), then for a trigger; both kinds share
``--max-jobs``.

SIGTERM or Ctrl-C stops claiming; running jobs get ``grace_s`` to finish,
then their children are stopped (SIGTERM, SIGKILL shortly after) and their
claims finished. A second signal skips the rest of the grace period.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from sparkwing.errors import UsageError
from sparkwing.queueclient import (
    ControllerError,
    NodeClaim,
    QueueClient,
    TriggerClaim,
    new_request_id,
)

from .job import TriggerJob
from .node import NodeJob
from .options import RunnerOptions, new_holder
from .workspace import Workspace

#: Longest wait between claim attempts while the controller cannot be reached (seconds).
MAX_BACKOFF_S = 30.0


class Runner:
    """One runner process: its client, work directory, jobs and stop signal."""

    def __init__(self, options: RunnerOptions) -> None:
        from sparkwing.proglog import get_logger

        self.options = options
        self.holder = new_holder(options.display_name)
        self.log = get_logger("sparkwing.runner", holder=self.holder)
        self.client = QueueClient(options.controller_url, options.token)
        self.workspace = Workspace(options.work_dir)
        self.stopping = threading.Event()
        self.hurry = threading.Event()
        self.jobs: dict[threading.Thread, TriggerJob | NodeJob] = {}
        self.claimed = 0
        #: Off once the controller said it keeps no node queue (triggers are still claimed).
        self.node_claims = True
        #: The request ids of a node / trigger claim that got no answer: the next try repeats
        #: it, so a claim the controller committed is answered to this runner, not lost.
        self._node_request = ""
        self._trigger_request = ""

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stopping.is_set():
            self.hurry.set()
        self.stopping.set()

    def install_signals(self) -> None:
        """Turn SIGTERM and SIGINT into a stop request (call from the main thread)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _reap(self) -> None:
        for thread in [t for t in self.jobs if not t.is_alive()]:
            thread.join()
            del self.jobs[thread]

    def _claim_node(self) -> NodeClaim | None:
        self._node_request = self._node_request or new_request_id()
        try:
            claim = self.client.claim_node(self.holder, self.options.labels,
                                           request_id=self._node_request)
        except ControllerError as exc:
            if not exc.retryable:  # refused: no claim was made under this id
                self._node_request = ""
            if exc.status != 503 or exc.code != "unavailable":
                raise
            self._node_request = ""
            self.node_claims = False
            self.log.warning("the controller keeps no node queue; claiming triggers only")
            return None
        self._node_request = ""
        return claim

    def _claim_trigger(self) -> TriggerClaim | None:
        self._trigger_request = self._trigger_request or new_request_id()
        try:
            claim = self.client.claim_trigger(self.holder, request_id=self._trigger_request)
        except ControllerError as exc:
            if not exc.retryable:  # refused: no claim was made under this id
                self._trigger_request = ""
            raise
        self._trigger_request = ""
        return claim

    def _claim(self) -> TriggerJob | NodeJob | None:
        node = self._claim_node() if self.node_claims else None
        if node is not None:
            self.claimed += 1
            self.log.info("node claimed", run=node.run_id, node=node.node_id,
                          attempt=node.attempt, seq=node.seq, needs_labels=node.needs_labels,
                          lease_s=node.lease_secs)
            return NodeJob(node, self.client, self.workspace, self.options, self.log)
        claim = self._claim_trigger()
        if claim is None:
            return None
        self.claimed += 1
        self.log.info("trigger claimed", trigger=claim.trigger_id, seq=claim.seq,
                      pipeline=claim.row.get("pipeline", ""), lease_s=claim.lease_secs)
        return TriggerJob(claim, self.client, self.workspace, self.options, self.log)

    def serve(self) -> int:
        """Claim and run work until stopped (or, with ``once``, after one job); the exit code."""
        opts = self.options
        self.workspace.prepare(opts.controller_url, opts.token_env, opts.executor)
        self.log.info("runner started", controller=opts.controller_url, max_jobs=opts.max_jobs,
                      labels=list(opts.labels), work_dir=str(opts.work_dir),
                      executor=(opts.executor or {}).get("type", "local"))
        backoff = opts.poll_s
        try:
            while not self.stopping.is_set():
                self._reap()
                if opts.once and self.claimed and not self.jobs:
                    break
                if len(self.jobs) >= opts.max_jobs or (opts.once and self.claimed):
                    self.stopping.wait(opts.poll_s)
                    continue
                try:
                    job = self._claim()
                except ControllerError as exc:
                    if exc.status in (401, 403):
                        raise UsageError(f"the controller refused the runner's token "
                                         f"(${opts.token_env}): {exc.message}") from None
                    if not exc.retryable:
                        self.log.error("claim refused", error=str(exc))
                    backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_S)
                    self.log.warning("cannot claim; retrying", error=str(exc), delay_s=backoff)
                    self.stopping.wait(backoff)
                    continue
                backoff = opts.poll_s
                if job is None:
                    self.stopping.wait(opts.poll_s)
                    continue
                thread = threading.Thread(target=job.run, name=f"job-{job.name}", daemon=True)
                self.jobs[thread] = job
                thread.start()
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        if self.jobs:
            self.log.info("stopping: waiting for running jobs", jobs=len(self.jobs),
                          grace_s=self.options.grace_s)
            deadline = time.monotonic() + self.options.grace_s
            while self.jobs and time.monotonic() < deadline and not self.hurry.is_set():
                self._reap()
                self.hurry.wait(0.2)
            for job in list(self.jobs.values()):
                job.kill()
            for thread in list(self.jobs):
                thread.join(timeout=60)
            self._reap()
        self.client.close()
        self.log.info("runner stopped", claimed=self.claimed)
