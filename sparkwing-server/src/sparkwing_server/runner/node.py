"""One claimed node attempt on a runner: heartbeats, the run's code, ``node exec``, the finish.

The attempt was put on the controller's node queue by a run whose job uses
the ``queue`` executor (:mod:`sparkwing.execution.queue`). The runner

1. reads the run's record from the controller (``GET /runs/{id}/record``)
   for its commit (``git_sha``; a run started from a trigger without one
   falls back to the trigger's ``git_sha``) and its profile name;
2. rebuilds that commit from the controller's code store into
   ``<work>/runs/<attempt key>/`` (the trigger path's cache and export);
3. runs ``sparkwing node exec --run R --node N --attempt K --profile P
   --result-fd FD --watch-parent`` there, in its own process group, with a
   profiles file that maps the run's profile name to this runner's
   controller (so the child records into the controller whatever the
   orchestrator's machine called its profile) and the token in the
   environment, and the claim in ``SPARKWING_CLAIM`` (every state and log
   write the child makes carries it, and the controller refuses them once
   the claim is not current); the child records the attempt's
   ``attempt_finished`` event and writes the same payload to FD;
4. heartbeats the claim all along: a lost claim kills the child's group at
   once and the attempt is never finished by this runner; a run cancel
   request SIGTERMs the child (it records ``cancelled``);
5. finishes the claim with the child's result (outcome, exit code, reason,
   error), or ``failed`` with the reason it could not run (no run, no code,
   a child that recorded nothing: ``executor_lost``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from sparkwing.errors import SparkwingError
from sparkwing.queueclient import ControllerError, NodeClaim, QueueClient
from sparkwing.runcode import run_commit
from sparkwing.storage.controller.claim import CLAIM_ENV, WriteClaim

from .child import node_argv
from .job import checkout_with_retries, child_env
from .options import LOST_GRACE_S, RunnerOptions
from .supervise import ChildSlot, Heartbeat, finish_with_retries
from .workspace import Workspace, node_key

#: What the runner finishes a claim with: ``(outcome, exit_code, failure_reason, error)``.
Result = tuple[str, "int | None", str, str]


class NodeJob:
    """Runs one :class:`NodeClaim` to the end (call :meth:`run` in a worker thread)."""

    kind = "node"

    def __init__(self, claim: NodeClaim, client: QueueClient, workspace: Workspace,
                 options: RunnerOptions, log: Any) -> None:
        self.claim = claim
        self.client = client
        self.workspace = workspace
        self.options = options
        self.key = node_key(claim.run_id, claim.node_id, claim.attempt)
        self.name = self.key
        self.log = log.bind(run=claim.run_id, node=claim.node_id, attempt=claim.attempt,
                            seq=claim.seq)
        self.claimed_at = time.time()
        self.slot = ChildSlot()
        self.heartbeat = Heartbeat(f"beat-{self.key}", lambda: client.heartbeat_node(claim),
                                   claim.heartbeat_secs, self.slot, self.log)

    def kill(self) -> None:
        """Stop the child now (SIGTERM, then SIGKILL after a short grace): the runner stops."""
        self.log.warning("grace period over; stopping the attempt")
        self.slot.stop(LOST_GRACE_S)

    def run(self) -> None:
        """Fetch the code, run ``node exec``, finish the claim (unless it was lost)."""
        self.heartbeat.start()
        try:
            outcome, exit_code, reason, error = self._run()
        except Exception as exc:  # a bug must not kill the runner: fail the attempt with it
            self.log.exception("job crashed")
            outcome, exit_code, reason, error = (
                "failed", None, "executor_error", f"runner error: {type(exc).__name__}: {exc}")
        finally:
            self.heartbeat.stop()
        self.workspace.remove_run_dir(self.key)
        if self.heartbeat.lost.is_set():
            self.log.warning("claim lost; not finishing the attempt")
            return
        if finish_with_retries(lambda: self.client.finish_node(
                self.claim, outcome=outcome, exit_code=exit_code, error=error,
                failure_reason=reason), self.log, "node"):
            self.log.info("node finished", outcome=outcome, exit_code=exit_code,
                          failure_reason=reason or None, error=error or None)

    def _failed(self, error: str, reason: str = "executor_error") -> Result:
        return "failed", None, reason, f"{self.claim.node_id}: {error}"

    def _run(self) -> Result:
        claim = self.claim
        try:
            record = self.client.run_record(claim.run_id)
        except ControllerError as exc:
            return self._failed(f"cannot read run {claim.run_id}: {exc}")
        if record is None:
            return self._failed(f"the controller has no run {claim.run_id}")
        sha = run_commit(self.client, record)
        if not sha:
            return self._failed(f"run {claim.run_id} records no git commit to run the job from")
        try:
            workdir = checkout_with_retries(self.workspace, self.client, sha, self.key,
                                            self.heartbeat, self.log)
        except SparkwingError as exc:
            return self._failed(f"code {sha[:12]}: {exc}")
        if self.heartbeat.lost.is_set():
            return self._failed("claim lost")
        profile = str(record.get("profile") or "")
        env = child_env(self.workspace, self.options,
                        self.workspace.node_profiles(self.key, profile))
        env["SPARKWING_EXECUTOR"] = "queue"
        env[CLAIM_ENV] = WriteClaim(claim.run_id, claim.node_id, claim.attempt, claim.seq,
                                    claim.holder).text()
        for var in ("SPARKWING_SECRET_INPUTS", "SPARKWING_SECRET_VALUES"):
            env.pop(var, None)
        read_fd, write_fd = os.pipe()
        try:
            argv = node_argv(claim.run_id, claim.node_id, claim.attempt,
                             profile or "controller", write_fd)
            child = self.slot.start(argv, cwd=workdir, env=env, pass_fds=(write_fd,),
                                    emit=lambda line: self.log.info(line, child=True))
        finally:
            os.close(write_fd)
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(read_fd, chunks), daemon=True,
                                  name=f"result-{self.key}")
        reader.start()
        if child is None:
            reader.join()
            return self._failed("runner stopped before the attempt started")
        self.log.info("node started", pid=child.pid,
                      claim_to_start_s=round(time.time() - self.claimed_at, 3))
        code = child.wait()
        reader.join(timeout=10)
        payload = _payload(b"".join(chunks))
        self.log.info("child exited", exit_code=code, outcome=(payload or {}).get("outcome"))
        if payload is not None:
            raw = payload.get("exit_code")
            return (str(payload.get("outcome") or "failed"),
                    raw if isinstance(raw, int) and not isinstance(raw, bool) else None,
                    str(payload.get("failure_reason") or ""), str(payload.get("error") or ""))
        if self.slot.cancelled:
            return "cancelled", code, "", f"{claim.node_id}: attempt cancelled"
        tail = child.last_stderr.strip()
        how = (f"was killed by signal {-code}" if code is not None and code < 0
               else f"exited with status {code}")
        return ("failed", code, "executor_lost",
                f"{claim.node_id}: node exec {how} without recording a result"
                + (f": {tail}" if tail else ""))


def _drain(fd: int, chunks: list[bytes]) -> None:
    """Read the result pipe until the child (and everything holding it) closed it."""
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                return
            chunks.append(data)
    finally:
        os.close(fd)


def _payload(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"null")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
