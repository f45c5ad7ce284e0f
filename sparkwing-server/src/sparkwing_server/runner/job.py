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
import signal
import threading
import time
from typing import Any

from sparkwing.errors import SparkwingError
from sparkwing.ids import new_run_id
from sparkwing.queueclient import ClaimLost, ControllerError, QueueClient, TriggerClaim
from sparkwing.triggers.keys import first_run_id

from .child import Child, child_argv
from .options import LOST_GRACE_S, RunnerOptions
from .workspace import CHILD_PROFILE, Workspace

#: Tries of a checkout when the controller cannot be reached (or is busy).
CHECKOUT_TRIES = 5
#: Tries of the final finish call when the controller cannot be reached.
FINISH_TRIES = 10


class TriggerJob:
    """Runs one :class:`TriggerClaim` to the end (call :meth:`run` in a worker thread)."""

    def __init__(self, claim: TriggerClaim, client: QueueClient, workspace: Workspace,
                 options: RunnerOptions, log: Any) -> None:
        self.claim = claim
        self.client = client
        self.workspace = workspace
        self.options = options
        # the first claim runs under the id `pipeline trigger` follows; a re-claim retries anew
        self.run_id = first_run_id(claim.trigger_id) if claim.seq <= 1 else new_run_id()
        self.log = log.bind(trigger=claim.trigger_id, seq=claim.seq, run=self.run_id)
        self.claimed_at = time.time()
        self.child: Child | None = None
        self.lost = threading.Event()
        self.killed = False
        self._done = threading.Event()
        self._lock = threading.Lock()

    # -- the heartbeat thread --------------------------------------------------------------------

    def _heartbeat(self) -> None:
        interval = max(0.2, self.claim.heartbeat_secs)
        cancelled = False
        while not self._done.wait(interval):
            try:
                beat = self.client.heartbeat_trigger(self.claim, run_id=self.run_id)
            except ClaimLost as exc:
                self.log.warning("claim lost; killing the run", error=exc.message)
                self.lost.set()
                self._kill(LOST_GRACE_S)
                return
            except ControllerError as exc:
                self.log.warning("heartbeat failed; retrying", error=str(exc))
                continue
            interval = max(0.2, beat.heartbeat_secs)
            if beat.cancel_requested and not cancelled:
                cancelled = True
                self.log.info("run cancel requested; stopping the child")
                with self._lock:
                    if self.child is not None:
                        self.child.signal(signal.SIGTERM)

    def _kill(self, grace_s: float) -> None:
        with self._lock:
            child = self.child
            self.killed = True
        if child is not None:
            child.stop(grace_s)

    def kill(self) -> None:
        """Stop the child now (SIGTERM, then SIGKILL after a short grace): the runner stops."""
        self.log.warning("grace period over; stopping the run")
        self._kill(LOST_GRACE_S)

    # -- the job ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Check out the code, run the child, finish the claim (unless it was lost)."""
        beat = threading.Thread(target=self._heartbeat, name=f"beat-{self.claim.trigger_id}",
                                daemon=True)
        beat.start()
        try:
            status, run_id, error = self._run()
        except Exception as exc:  # a bug must not kill the runner: fail the trigger with it
            self.log.exception("job crashed")
            status, run_id, error = "failed", "", f"runner error: {type(exc).__name__}: {exc}"
        finally:
            self._done.set()
        beat.join(timeout=30)
        self.workspace.remove_run_dir(self.claim.trigger_id)
        if self.lost.is_set():
            self.log.warning("claim lost; not finishing the trigger")
            return
        self._finish(status, run_id, error)

    def _run(self) -> tuple[str, str, str]:
        sha = str(self.claim.request.get("git_sha") or "")
        if not sha:
            return ("failed", "", "the trigger carries no git_sha: a runner runs only triggers "
                    "sent with their code (sparkwing pipeline trigger, or POST /api/v1/triggers "
                    "with git.sha of code uploaded to /api/v1/code/bundles)")
        try:
            workdir = self._checkout(sha)
        except SparkwingError as exc:
            return "failed", "", f"code {sha[:12]}: {exc}"
        if self.lost.is_set():
            return "failed", "", "claim lost"
        env = {**os.environ, "SPARKWING_HOME": str(self.workspace.home),
               "SPARKWING_PROFILES": str(self.workspace.profiles),
               self.options.token_env: self.options.token}
        env.pop("SPARKWING_PROFILE", None)
        argv = child_argv(self.claim.trigger_id, self.claim.holder, self.claim.seq, self.run_id,
                          CHILD_PROFILE)
        with self._lock:
            if self.killed:
                return "failed", "", "runner stopped before the run started"
            self.child = Child(argv, cwd=workdir, env=env,
                               emit=lambda line: self.log.info(line, child=True))
        self.log.info("run started", pid=self.child.pid,
                      claim_to_start_s=round(time.time() - self.claimed_at, 3))
        code = self.child.wait()
        result = self.child.result()
        run = result.get("run") if isinstance(result.get("run"), dict) else None
        self.log.info("child exited", exit_code=code,
                      run_status=(run or {}).get("status", ""))
        if run and run.get("id"):
            return "done", str(run["id"]), ""
        if self._run_recorded():
            return "done", self.run_id, ""
        error = self.child.last_stderr.strip() or f"the run's process exited with {code}"
        if self.killed:
            error = "runner stopped: the run was killed before it was recorded"
        return "failed", "", error

    def _checkout(self, sha: str) -> Any:
        delay = 0.5
        for attempt in range(1, CHECKOUT_TRIES + 1):
            try:
                return self.workspace.checkout(self.client, sha, self.claim.trigger_id)
            except ControllerError as exc:
                if not exc.retryable or attempt == CHECKOUT_TRIES or self.lost.is_set():
                    raise
                self.log.warning("code fetch failed; retrying", error=str(exc), delay_s=delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    def _run_recorded(self) -> bool:
        try:
            self.client.call("GET", f"/runs/{self.run_id}")
        except ControllerError:
            return False
        return True

    def _finish(self, status: str, run_id: str, error: str) -> None:
        delay = 0.5
        for attempt in range(1, FINISH_TRIES + 1):
            try:
                self.client.finish_trigger(self.claim, status=status, run_id=run_id, error=error)
            except ClaimLost as exc:
                self.log.warning("claim lost before the finish", error=exc.message)
                return
            except ControllerError as exc:
                if not exc.retryable or attempt == FINISH_TRIES:
                    self.log.error("could not finish the trigger", error=str(exc))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.log.info("trigger finished", status=status, finished_run=run_id,
                          error=error or None)
            return
