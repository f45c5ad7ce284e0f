"""One claimed trigger on a runner: heartbeats, code checkout, the child run, the finished claim.

Who finishes the trigger row: **the runner**, never the child. The child
(``triggers run --claimed-by``) only prepares and executes the run; the
runner heartbeats the claim (with the run id it chose, so a cancel of that
run reaches it) until the child exits, then finishes the row ``done`` with
the run the child reports (or, when it printed nothing, the chosen run id
if that run was recorded), or ``failed`` with the child's last error line.
A lost claim (heartbeat 404/409) kills the child's process group at once and
the row is never finished by this runner: another claim owns it now.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sparkwing.errors import SparkwingError
from sparkwing.ids import new_run_id
from sparkwing.queueclient import ControllerError, QueueClient, TriggerClaim
from sparkwing.storage.controller.claim import CLAIM_ENV
from sparkwing.triggers.keys import first_run_id

from .child import child_argv
from .options import LOST_GRACE_S, RunnerOptions
from .supervise import ChildSlot, Heartbeat, finish_with_retries, run_recorded
from .workspace import CHILD_PROFILE, Workspace

#: Tries of a checkout when the controller cannot be reached (or is busy).
CHECKOUT_TRIES = 5


def checkout_with_retries(workspace: Workspace, client: QueueClient, sha: str, key: str,
                          heartbeat: Heartbeat, log: Any) -> Any:
    """Export commit *sha* for *key*, retrying while the controller is away (not once lost)."""
    delay = 0.5
    for attempt in range(1, CHECKOUT_TRIES + 1):
        try:
            return workspace.checkout(client, sha, key)
        except ControllerError as exc:
            if not exc.retryable or attempt == CHECKOUT_TRIES or heartbeat.lost.is_set():
                raise
            log.warning("code fetch failed; retrying", error=str(exc), delay_s=delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def child_env(workspace: Workspace, options: RunnerOptions,
              profiles: Any = None) -> dict[str, str]:
    """A child's environment: the runner's, its home and profiles file, the token."""
    env = {**os.environ, "SPARKWING_HOME": str(workspace.home),
           "SPARKWING_PROFILES": str(profiles or workspace.profiles),
           options.token_env: options.token}
    env.pop("SPARKWING_PROFILE", None)
    env.pop(CLAIM_ENV, None)  # a node attempt's runner sets its own
    return env


class TriggerJob:
    """Runs one :class:`TriggerClaim` to the end (call :meth:`run` in a worker thread)."""

    kind = "trigger"

    def __init__(self, claim: TriggerClaim, client: QueueClient, workspace: Workspace,
                 options: RunnerOptions, log: Any) -> None:
        self.claim = claim
        self.client = client
        self.workspace = workspace
        self.options = options
        # the first claim runs under the id `pipeline trigger` follows; a re-claim retries anew
        self.run_id = first_run_id(claim.trigger_id) if claim.seq <= 1 else new_run_id()
        self.name = claim.trigger_id
        self.log = log.bind(trigger=claim.trigger_id, seq=claim.seq, run=self.run_id)
        self.claimed_at = time.time()
        self.slot = ChildSlot()
        self.heartbeat = Heartbeat(
            f"beat-{claim.trigger_id}",
            lambda: client.heartbeat_trigger(claim, run_id=self.run_id),
            claim.heartbeat_secs, self.slot, self.log)

    def kill(self) -> None:
        """Stop the child now (SIGTERM, then SIGKILL after a short grace): the runner stops."""
        self.log.warning("grace period over; stopping the run")
        self.slot.stop(LOST_GRACE_S)

    # -- the job ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Check out the code, run the child, finish the claim (unless it was lost)."""
        self.heartbeat.start()
        try:
            status, run_id, error = self._run()
        except Exception as exc:  # a bug must not kill the runner: fail the trigger with it
            self.log.exception("job crashed")
            status, run_id, error = "failed", "", f"runner error: {type(exc).__name__}: {exc}"
        finally:
            self.heartbeat.stop()
        self.workspace.remove_run_dir(self.claim.trigger_id)
        if self.heartbeat.lost.is_set():
            self.log.warning("claim lost; not finishing the trigger")
            return
        if finish_with_retries(lambda: self.client.finish_trigger(
                self.claim, status=status, run_id=run_id, error=error), self.log, "trigger"):
            self.log.info("trigger finished", status=status, finished_run=run_id,
                          error=error or None)

    def _run(self) -> tuple[str, str, str]:
        sha = str(self.claim.request.get("git_sha") or "")
        if not sha:
            return ("failed", "", "the trigger carries no git_sha: a runner runs only triggers "
                    "sent with their code (sparkwing pipeline trigger, or POST /api/v1/triggers "
                    "with git.sha of code uploaded to /api/v1/code/bundles)")
        try:
            workdir = checkout_with_retries(self.workspace, self.client, sha,
                                            self.claim.trigger_id, self.heartbeat, self.log)
        except SparkwingError as exc:
            return "failed", "", f"code {sha[:12]}: {exc}"
        if self.heartbeat.lost.is_set():
            return "failed", "", "claim lost"
        argv = child_argv(self.claim.trigger_id, self.claim.holder, self.claim.seq, self.run_id,
                          CHILD_PROFILE)
        child = self.slot.start(argv, cwd=workdir, env=child_env(self.workspace, self.options),
                                emit=lambda line: self.log.info(line, child=True))
        if child is None:
            return "failed", "", "runner stopped before the run started"
        self.log.info("run started", pid=child.pid,
                      claim_to_start_s=round(time.time() - self.claimed_at, 3))
        code = child.wait()
        result = child.result()
        run = result.get("run") if isinstance(result.get("run"), dict) else None
        self.log.info("child exited", exit_code=code,
                      run_status=(run or {}).get("status", ""))
        if run and run.get("id"):
            return "done", str(run["id"]), ""
        if self._run_recorded():
            return "done", self.run_id, ""
        error = child.last_stderr.strip() or f"the run's process exited with {code}"
        if self.slot.killed:
            error = "runner stopped: the run was killed before it was recorded"
        return "failed", "", error

    def _run_recorded(self) -> bool:
        return run_recorded(self.client, self.run_id, self.log)
