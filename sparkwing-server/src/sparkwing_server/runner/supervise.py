"""What every claimed job on a runner shares: its child slot, its heartbeat, its final finish.

- :class:`ChildSlot` holds the job's one child process under a lock, so the
  heartbeat thread and the runner's shutdown can signal or stop it while the
  job's thread starts and waits for it; once stopped, no child starts.
- :class:`Heartbeat` renews the claim every ``heartbeat_secs`` (the
  controller's advice) from a thread: a lost claim (:class:`ClaimLost`)
  stops the child's process group at once, a run cancel request SIGTERMs it.
- :func:`finish_with_retries` sends the job's final call (trigger done, node
  finished), retrying while the controller is away; :func:`run_recorded`
  asks, with the same patience, whether the child's run reached the controller.

Trigger jobs (:mod:`.job`) and node jobs (:mod:`.node`) are built from these.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sparkwing.queueclient import Beat, ClaimLost, ControllerError

from .child import Child
from .options import LOST_GRACE_S

#: Tries of the final finish call when the controller cannot be reached.
FINISH_TRIES = 10


class ChildSlot:
    """The one child process of a job, started and stopped under a lock."""

    def __init__(self) -> None:
        self.child: Child | None = None
        #: The slot was stopped (claim lost, runner stopping): no child starts any more.
        self.killed = False
        #: The child was asked to stop because its run was cancelled.
        self.cancelled = False
        self._lock = threading.Lock()

    def start(self, argv: Sequence[str], *, cwd: Path, env: dict[str, str],
              emit: Callable[[str], None], pass_fds: Sequence[int] = ()) -> Child | None:
        """Start the child, or return ``None`` when the slot was stopped already."""
        with self._lock:
            if self.killed:
                return None
            self.child = Child(argv, cwd=cwd, env=env, emit=emit, pass_fds=pass_fds)
            return self.child

    def cancel(self) -> None:
        """SIGTERM the child's group (the run was cancelled; it records that itself)."""
        with self._lock:
            self.cancelled = True
            if self.child is not None:
                self.child.signal(signal.SIGTERM)

    def stop(self, grace_s: float = LOST_GRACE_S) -> None:
        """Stop the child (SIGTERM, SIGKILL after *grace_s*) and refuse any later start."""
        with self._lock:
            child = self.child
            self.killed = True
        if child is not None:
            child.stop(grace_s)


class Heartbeat:
    """Renews one claim from a daemon thread until :meth:`stop`; reacts to loss and cancel."""

    def __init__(self, name: str, beat: Callable[[], Beat], interval_s: float,
                 slot: ChildSlot, log: Any) -> None:
        self.beat = beat
        self.slot = slot
        self.log = log
        self.interval_s = interval_s
        #: Set once the controller said the claim is not ours any more.
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Heartbeat:
        """Start beating."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (the job ended) and wait for the thread."""
        self._done.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        interval = max(0.2, self.interval_s)
        cancelled = False
        while not self._done.wait(interval):
            try:
                beat = self.beat()
            except ClaimLost as exc:
                self.log.warning("claim lost; killing the work", error=exc.message)
                self.lost.set()
                self.slot.stop(LOST_GRACE_S)
                return
            except ControllerError as exc:
                self.log.warning("heartbeat failed; retrying", error=str(exc))
                continue
            interval = max(0.2, beat.heartbeat_secs)
            if beat.cancel_requested and not cancelled:
                cancelled = True
                self.log.info("run cancel requested; stopping the child")
                self.slot.cancel()


def _tries() -> Iterator[bool]:
    """One item per try of a call to the controller (``True`` for the last of
    :data:`FINISH_TRIES`), sleeping between tries from 0.5 s, doubling up to 10 s."""
    delay = 0.5
    for attempt in range(1, FINISH_TRIES + 1):
        yield attempt == FINISH_TRIES
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


def run_recorded(client: Any, run_id: str, log: Any) -> bool:
    """Whether the controller holds run *run_id* (``GET /runs/{id}``), retrying while it is away.

    A controller that is restarting is not an answer: only a refusal (404 and
    the like) or running out of tries is "not recorded".
    """
    for last in _tries():
        try:
            client.call("GET", f"/runs/{run_id}")
        except ControllerError as exc:
            if not exc.retryable:
                return False
            if last:
                log.error("could not ask whether the run was recorded", error=str(exc))
                return False
            continue
        return True
    return False


def finish_with_retries(finish: Callable[[], Any], log: Any, what: str) -> bool:
    """Call *finish* until it is accepted; ``False`` when the claim was lost or tries ran out."""
    for last in _tries():
        try:
            finish()
        except ClaimLost as exc:
            log.warning(f"claim lost before the {what} finish", error=exc.message)
            return False
        except ControllerError as exc:
            if not exc.retryable or last:
                log.error(f"could not finish the {what}", error=str(exc))
                return False
            continue
        return True
    return False
