"""Box slots: a per-host cap on how many runs share one ``SPARKWING_HOME`` at once.

The cap comes from ``--sw-box-slots N`` or ``SPARKWING_BOX_SLOTS`` (the
flag wins); it is off by default. When it is on, a run takes a slot before
its orchestrator starts and gives it back when the run ends; a run that
finds every slot taken waits in line (first come, first served), or fails
at once with ``--sw-no-wait`` / ``SPARKWING_BOX_NO_WAIT=1``.

Everything lives in ``$SPARKWING_HOME/box-slots/``:

* ``coord.lock``: held (``flock``) only for the instant a process looks at
  the directory and decides, so decisions never race;
* ``holder-pid<PID>-<ns>-<n>.lock``: one per running run, exclusively
  locked by it for the whole run;
* ``ticket-<seq>-pid<PID>.lock``: one per waiting run, exclusively locked
  by it while it waits; ``seq`` grows with arrival, so sorting the names
  gives the queue order.

Locks are ``fcntl.flock`` locks, which the kernel drops when their holder
dies however it dies. A file whose lock can be taken therefore belongs to
a dead process: whoever notices deletes it, so a crashed run never keeps a
slot or a place in the queue. Every file is created and locked while
``coord.lock`` is held, so nobody can see a live file before it is locked.

A waiter takes a slot only when fewer than the cap are held *and* no
older live ticket exists. Ctrl-C or SIGTERM while waiting removes the
ticket and raises :class:`BoxSlotWaitCancelled` (exit code 130).

This module imports only the standard library: it is on ``sparkwing run``'s
start-up path.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ..errors import ConfigError, SparkwingError

#: Environment variable holding the cap.
SLOTS_ENV = "SPARKWING_BOX_SLOTS"
#: Environment variable asking to fail instead of waiting (``1``/``true``/``yes``/``on``).
NO_WAIT_ENV = "SPARKWING_BOX_NO_WAIT"
#: The flag holding the cap on ``sparkwing run``.
SLOTS_FLAG = "--sw-box-slots"
#: The flag asking to fail instead of waiting.
NO_WAIT_FLAG = "--sw-no-wait"
#: Directory under ``SPARKWING_HOME``.
DIR_NAME = "box-slots"
#: Values that turn the cap off (as do 0 and negative numbers).
OFF_WORDS = ("off", "none", "disable", "disabled")
#: Seconds between two "waiting for box slot" lines.
REPORT_EVERY = 10.0
#: Bounds of the jittered pause between two looks at the directory, in seconds.
POLL_INTERVAL = (0.1, 0.3)

_TRUE = ("1", "true", "yes", "on")
_COORD = "coord.lock"
_HOLDER = "holder-"
_TICKET = "ticket-"
_counter = 0
_counter_lock = threading.Lock()


class BoxSlotsFull(SparkwingError):
    """Every box slot is taken and the caller asked not to wait (exit 1)."""


class BoxSlotWaitCancelled(SparkwingError):
    """Ctrl-C or SIGTERM arrived while waiting for a box slot (exit 130)."""

    exit_code = 130


@dataclass(frozen=True, slots=True)
class BoxSlotWait:
    """What a waiting run knows when it reports: handed to the ``on_wait`` callback."""

    #: Live slot holders.
    active: int
    #: The cap.
    max_slots: int
    #: Live waiters queued in front of this one.
    ahead: int
    #: Seconds waited so far.
    waited: float
    #: True for the first report of this wait.
    first: bool

    def message(self) -> str:
        """The one line printed to stderr for this report."""
        head = f"waiting for box slot ({self.active} active, max {self.max_slots}"
        if self.ahead:
            head += f", {self.ahead} ahead"
        if self.first:
            return (f"{head}). Raise the cap with {SLOTS_FLAG} N or fail fast with "
                    f"{NO_WAIT_FLAG}.")
        return f"{head}; waited {int(self.waited)}s)"


@dataclass(frozen=True, slots=True)
class BoxSlotState:
    """A snapshot of one home's slots: live holders and live waiters."""

    holders: int
    waiters: int


def parse_box_slots(value: str, source: str) -> int:
    """Parse a cap given by *source* (a flag or variable name); 0 means off.

    ``off``, ``none``, ``disable``, ``disabled``, ``0`` and negative numbers
    turn the cap off; anything else that is not an integer is a one-line
    :class:`ConfigError` naming *source*.
    """
    text = value.strip().lower()
    if text in OFF_WORDS:
        return 0
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(
            f"{source}: {value!r} is not a number of box slots "
            f"(use a positive integer, or off/none/0 to disable)"
        ) from None
    return max(number, 0)


def resolve_box_slots(
    flag: int | None, no_wait_flag: bool, env: Mapping[str, str] | None = None
) -> tuple[int, bool]:
    """Return ``(max_slots, no_wait)`` from the flags, falling back to the environment.

    *flag* is the parsed ``--sw-box-slots`` value (``None`` when not given);
    ``max_slots`` is 0 when the cap is off.
    """
    env = os.environ if env is None else env
    if flag is not None:
        slots = flag
    else:
        raw = env.get(SLOTS_ENV, "")
        slots = parse_box_slots(raw, SLOTS_ENV) if raw.strip() else 0
    no_wait = no_wait_flag or env.get(NO_WAIT_ENV, "").strip().lower() in _TRUE
    return slots, no_wait


def slots_dir(home: Path | str) -> Path:
    """The directory holding *home*'s box slot files."""
    return Path(home) / DIR_NAME


def print_wait(info: BoxSlotWait) -> None:
    """The default ``on_wait``: print :meth:`BoxSlotWait.message` to stderr."""
    sys.stderr.write(info.message() + "\n")
    sys.stderr.flush()


class BoxSlot:
    """A box slot held by this process; give it back with :meth:`release` (idempotent)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """Whether the slot is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Give the slot back: delete the holder file, then drop its lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _unlink(self.path)
        os.close(fd)

    def __enter__(self) -> BoxSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def acquire_box_slot(
    home: Path | str,
    max_slots: int,
    *,
    no_wait: bool = False,
    on_wait: Callable[[BoxSlotWait], None] | None = print_wait,
    report_every: float = REPORT_EVERY,
) -> Iterator[BoxSlot | None]:
    """Hold one of *max_slots* box slots of *home* for the ``with`` body.

    Yields the :class:`BoxSlot`, or ``None`` when *max_slots* is 0 or less
    (the cap is off and nothing is touched). Raises :class:`BoxSlotsFull`
    when the caller would have to wait and *no_wait* is set, and
    :class:`BoxSlotWaitCancelled` on Ctrl-C / SIGTERM while waiting.
    *on_wait* is called when the wait starts and then every
    *report_every* seconds (``None`` stays silent).
    """
    if max_slots <= 0:
        yield None
        return
    slot = take_box_slot(home, max_slots, no_wait=no_wait, on_wait=on_wait,
                         report_every=report_every)
    try:
        yield slot
    finally:
        slot.release()


def take_box_slot(
    home: Path | str,
    max_slots: int,
    *,
    no_wait: bool = False,
    on_wait: Callable[[BoxSlotWait], None] | None = print_wait,
    report_every: float = REPORT_EVERY,
) -> BoxSlot:
    """Take a slot (waiting in line if needed) and return it; see :func:`acquire_box_slot`.

    The caller must :meth:`~BoxSlot.release` it. *max_slots* must be positive.
    """
    if max_slots <= 0:
        raise ValueError("max_slots must be positive")
    directory = slots_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    with _SignalWatch() as watch:
        ticket: tuple[Path, int] | None = None
        try:
            started = time.monotonic()
            last_report: float | None = None
            while True:
                with _coord(directory):
                    if ticket is None:
                        ticket = _new_ticket(directory)
                    active, ahead = _scan(directory, ticket[0].name)
                    if active < max_slots and ahead == 0:
                        slot = _new_holder(directory)
                        _drop(ticket)
                        ticket = None
                        return slot
                if no_wait:
                    raise BoxSlotsFull(
                        f"box slots full (max={max_slots}); pass {SLOTS_FLAG} N to raise, "
                        f"or drop {NO_WAIT_FLAG} to queue instead"
                    )
                now = time.monotonic()
                if on_wait is not None and (last_report is None
                                            or now - last_report >= report_every):
                    on_wait(BoxSlotWait(active, max_slots, ahead, now - started,
                                        last_report is None))
                    last_report = now
                _pause(watch)
        except KeyboardInterrupt:
            raise BoxSlotWaitCancelled("interrupted while waiting for a box slot") from None
        finally:
            if ticket is not None:
                _drop(ticket)


def box_slot_state(home: Path | str) -> BoxSlotState:
    """Count *home*'s live holders and waiters without changing anything."""
    directory = slots_dir(home)
    if not directory.is_dir():
        return BoxSlotState(0, 0)
    holders = waiters = 0
    with _coord(directory):
        for name in os.listdir(directory):
            if name.startswith(_HOLDER) and _alive(directory / name, remove=False):
                holders += 1
            elif name.startswith(_TICKET) and _alive(directory / name, remove=False):
                waiters += 1
    return BoxSlotState(holders, waiters)


# -- internals -------------------------------------------------------------------------


#: What ``signal.signal`` takes and returns: a function, ``SIG_DFL``/``SIG_IGN``, or ``None``.
_Handler = Callable[[int, FrameType | None], object] | int | None


class _SignalWatch:
    """Turn SIGTERM and SIGINT into a flag while waiting (main thread only); restore the old
    handlers.

    SIGINT is watched too, not left to ``KeyboardInterrupt``: a process started
    in the background of a script inherits SIGINT ignored, and the run itself
    (the orchestrator) answers Ctrl-C whatever was inherited, so the wait does too.
    """

    def __init__(self) -> None:
        self.fired = ""
        self._old: dict[int, _Handler] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.fired = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"

    def __enter__(self) -> _SignalWatch:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self._old[sig] = signal.signal(sig, self._handler)
                except (ValueError, OSError):
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _pause(watch: _SignalWatch) -> None:
    if watch.fired:
        raise BoxSlotWaitCancelled(f"{watch.fired} while waiting for a box slot")
    import random  # only a waiting run needs it (kept off the start-up path)

    time.sleep(random.uniform(*POLL_INTERVAL))
    if watch.fired:
        raise BoxSlotWaitCancelled(f"{watch.fired} while waiting for a box slot")


@contextmanager
def _coord(directory: Path) -> Iterator[None]:
    fd = os.open(directory / _COORD, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _next_n() -> int:
    global _counter
    with _counter_lock:
        _counter += 1
        return _counter


def _create_locked(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    return fd


def _new_ticket(directory: Path) -> tuple[Path, int]:
    """Create this waiter's ticket; its sequence is after every existing ticket's."""
    seq = time.time_ns()
    for name in os.listdir(directory):
        if name.startswith(_TICKET):
            other = _ticket_seq(name)
            if other is not None and other >= seq:
                seq = other + 1
    path = directory / f"{_TICKET}{seq:020d}-pid{os.getpid()}-{_next_n()}.lock"
    return path, _create_locked(path)


def _new_holder(directory: Path) -> BoxSlot:
    path = directory / f"{_HOLDER}pid{os.getpid()}-{time.time_ns()}-{_next_n()}.lock"
    return BoxSlot(path, _create_locked(path))


def _drop(entry: tuple[Path, int]) -> None:
    path, fd = entry
    _unlink(path)
    os.close(fd)


def _ticket_seq(name: str) -> int | None:
    try:
        return int(name[len(_TICKET):].split("-", 1)[0])
    except ValueError:
        return None


def _scan(directory: Path, mine: str) -> tuple[int, int]:
    """Count live holders and live tickets older than *mine*; delete dead ones' files."""
    active = ahead = 0
    my_seq = _ticket_seq(mine)
    for name in os.listdir(directory):
        if name.startswith(_HOLDER):
            if _alive(directory / name, remove=True):
                active += 1
        elif name.startswith(_TICKET) and name != mine:
            seq = _ticket_seq(name)
            older = seq is not None and my_seq is not None and (seq, name) < (my_seq, mine)
            if _alive(directory / name, remove=True) and older:
                ahead += 1
    return active, ahead


def _alive(path: Path, *, remove: bool) -> bool:
    """Whether someone holds *path*'s lock; a lockable file is a dead owner's (deleted if *remove*)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        if remove:
            _unlink(path)
        return False
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
