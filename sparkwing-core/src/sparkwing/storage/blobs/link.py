"""Whether a blob-backed store talks to its object store now, or queues to the outbox.

Each store object has one :class:`Link`. While the object store answers,
:meth:`Link.usable` is true and costs nothing. When an operation raises
:class:`~sparkwing.storage.blobs.contracts.BlobUnavailable`, the store calls
:meth:`Link.failed`, applies the write to what it knows locally and
:meth:`Link.queue` s it in the outbox; from then on every write of this
store object is queued too (so nothing overtakes what waits), until a
retry (after 1 s, doubling up to :data:`RETRY_MAX_S`) replays the outbox
in order and finds it empty.

A store without an outbox (a :class:`Link` made by :meth:`Link.direct`)
lets the error through instead.
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ...errors import SparkwingError
from .contracts import BlobUnavailable
from .outbox import Entry, Outbox, Target

#: Largest pause between two attempts to reach an unreachable store.
RETRY_MAX_S: Final = float(os.environ.get("SPARKWING_OUTBOX_RETRY_MAX_S", "10"))
#: First pause after the store could not be reached (it doubles up to :data:`RETRY_MAX_S`).
RETRY_FIRST_S: Final = float(os.environ.get("SPARKWING_OUTBOX_RETRY_FIRST_S", "1"))
#: Seconds spent at most replaying the outbox when a process exits.
EXIT_DRAIN_S: Final = float(os.environ.get("SPARKWING_OUTBOX_EXIT_DRAIN_S", "20"))


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain did."""

    replayed: int = 0
    failed: int = 0
    remaining: int = 0
    busy: bool = False  # another process held the drain lock
    error: str = ""


class Link:
    """The state of one store object's connection, and its way into the outbox."""

    def __init__(self, outbox: Outbox | None, target: Target | None, label: str, *,
                 retry_first: float | None = None) -> None:
        self.outbox = outbox
        self.target = target
        self.label = label
        self.writer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.replayer: Callable[[Entry], Any] | None = None
        self._retry_at = 0.0
        self.retry_first = RETRY_FIRST_S if retry_first is None else retry_first
        self._delay = self.retry_first
        self._queued = False
        self._lock = threading.RLock()
        self.last_error = ""

    @classmethod
    def direct(cls, label: str = "object") -> Link:
        """A link without an outbox: errors reach the caller."""
        return cls(None, None, label)

    @property
    def buffering(self) -> bool:
        """Whether this link queues writes (an outbox is configured)."""
        return self.outbox is not None and self.target is not None

    @property
    def queued(self) -> bool:
        """Whether this store object has writes waiting in the outbox."""
        return self._queued

    def usable(self) -> bool:
        """Whether to talk to the store now (replaying the outbox first when due)."""
        if not self.buffering:
            return True
        now = time.monotonic()
        if not self._queued:
            return now >= self._retry_at
        if now < self._retry_at:
            return False
        with self._lock:
            if not self._queued:
                return True
            result = self.drain()
            if result.busy or result.error:
                return False
            assert self.outbox is not None and self.target is not None
            if self.outbox.pending(self.target.id, self.writer):
                return False
            self._queued = False
            return True

    def failed(self, exc: BaseException) -> None:
        """Record that the store could not be reached; the next try waits a while."""
        if not self.buffering:
            raise exc
        with self._lock:
            self.last_error = " ".join(str(exc).split())
            self._retry_at = time.monotonic() + self._delay
            self._delay = min(self._delay * 2, RETRY_MAX_S)

    def queue(self, tag: str, op: str, args: dict[str, Any], *, body: bytes = b"",
              key: str = "", merge: str = "") -> None:
        """Put one write in the outbox, behind everything this store object queued before."""
        assert self.outbox is not None and self.target is not None
        self.outbox.enqueue(self.target, self.writer, tag, op, args, body, key, merge)
        if not self._queued:
            self._queued = True
            _QUEUED.add(self)

    def drain(self, *, retry_failed: bool = False) -> DrainResult:
        """Replay this target's entries (every writer's) oldest first, while the store answers."""
        if not self.buffering or self.replayer is None:
            return DrainResult()
        box, target = self.outbox, self.target
        assert box is not None and target is not None
        if not box.exists():
            return DrainResult()
        with box.drain_lock() as taken:
            if not taken:
                self._retry_at = time.monotonic() + 1.0
                return DrainResult(busy=True, remaining=box.pending(target.id))
            if retry_failed:
                box.retry_failed(target.id)
            replayed = failed = 0
            after = 0
            while True:
                batch = box.next_entries(target.id, after)
                if not batch:
                    break
                for entry in batch:
                    after = entry.id
                    try:
                        self.replayer(entry)
                    except BlobUnavailable as exc:
                        box.attempted(entry.id, str(exc), failed=False)
                        self.failed(exc)
                        return DrainResult(replayed, failed, box.pending(target.id),
                                           error=self.last_error)
                    except (SparkwingError, ValueError, KeyError, TypeError) as exc:
                        box.attempted(entry.id, f"{type(exc).__name__}: {exc}", failed=True)
                        failed += 1
                        continue
                    box.done(entry.id)
                    replayed += 1
            self._delay = self.retry_first
            self._retry_at = 0.0
            return DrainResult(replayed, failed, box.pending(target.id))


_QUEUED: weakref.WeakSet[Link] = weakref.WeakSet()


def drain_at_exit() -> None:
    """Last chance for writes queued by this process; say on stderr what is left.

    Registered with :mod:`atexit`; a process that leaves with :func:`os._exit`
    (``sparkwing run``) calls it itself. Runs once.
    """
    deadline = time.monotonic() + EXIT_DRAIN_S
    links = list(_QUEUED)
    _QUEUED.clear()
    for link in links:
        if not link.queued or link.outbox is None or link.target is None:
            continue
        try:
            while time.monotonic() < deadline:
                if not link.drain().busy:
                    break
                time.sleep(0.2)
        except Exception as exc:  # never a traceback on the way out
            link.last_error = f"{type(exc).__name__}: {exc}"
        left = link.outbox.pending(link.target.id, link.writer)
        if left:
            sys.stderr.write(
                f"sparkwing: {left} write(s) to the {link.label} store wait in the outbox "
                f"({link.outbox.path}); they are sent by the next command that uses this "
                "profile, or run: sparkwing outbox flush\n"
            )


atexit.register(drain_at_exit)
