"""The login rate limit: failed passwords per user name and per client address.

Each failed login counts against two keys, ``user:NAME`` and
``addr:ADDRESS``. The :attr:`LoginLimiter.free_failures`-th failure of a
user name (the :attr:`LoginLimiter.free_failures_per_addr`-th of an
address, since several people may share one address) **locks** the key
for a backoff that starts at :attr:`LoginLimiter.base_lock_s` and doubles
with every further failure, up to :attr:`LoginLimiter.max_lock_s`. While either
key of an attempt is locked, the attempt is refused (429 with
``Retry-After``) before any password is hashed. A success clears the
user's key (not the address's: a guesser holding one valid account must
not be able to reset it); a key with no failure for
:attr:`LoginLimiter.forget_after_s` starts again from zero.

The counters live in the controller's memory: they reset when it restarts,
and several controller processes count separately.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last_at: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginLimiter:
    """Counts failed logins per key and says how long a key must wait (see the module)."""

    free_failures: int = 5
    free_failures_per_addr: int = 20
    base_lock_s: float = 30.0
    max_lock_s: float = 900.0
    forget_after_s: float = 3600.0
    max_keys: int = 10000
    _keys: dict[str, _Failures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def keys(user: str, address: str) -> tuple[str, str]:
        """The two keys an attempt counts against."""
        return f"user:{user.strip().lower()}", f"addr:{address}"

    def retry_after(self, user: str, address: str, *, now: float | None = None) -> int:
        """Seconds until an attempt for *user* from *address* may be made (0: now)."""
        stamp = time.time() if now is None else now
        wait = 0.0
        with self._lock:
            for key in self.keys(user, address):
                entry = self._keys.get(key)
                if entry is not None and entry.locked_until > stamp:
                    wait = max(wait, entry.locked_until - stamp)
        return math.ceil(wait)

    def failed(self, user: str, address: str, *, now: float | None = None) -> int:
        """Count a failed attempt; return the seconds the attempt's keys are now locked for."""
        stamp = time.time() if now is None else now
        wait = 0.0
        user_key, addr_key = self.keys(user, address)
        with self._lock:
            for key, free in ((user_key, self.free_failures),
                              (addr_key, self.free_failures_per_addr)):
                entry = self._keys.get(key)
                if entry is None or stamp - entry.last_at > self.forget_after_s:
                    entry = self._keys[key] = _Failures()
                entry.count += 1
                entry.last_at = stamp
                over = entry.count - free + 1  # the free-th failure starts the backoff
                if over > 0:
                    lock = min(self.base_lock_s * 2 ** min(over - 1, 30), self.max_lock_s)
                    entry.locked_until = stamp + lock
                    wait = max(wait, lock)
            self._trim(stamp)
        return math.ceil(wait)

    def succeeded(self, user: str) -> None:
        """Clear the failures of *user* (the address keeps its count)."""
        with self._lock:
            self._keys.pop(self.keys(user, "")[0], None)

    def _trim(self, now: float) -> None:
        if len(self._keys) <= self.max_keys:
            return
        for key in [k for k, e in self._keys.items()
                    if now - e.last_at > self.forget_after_s and e.locked_until <= now]:
            del self._keys[key]
        while len(self._keys) > self.max_keys:  # oldest first: dicts keep insertion order
            self._keys.pop(next(iter(self._keys)))
