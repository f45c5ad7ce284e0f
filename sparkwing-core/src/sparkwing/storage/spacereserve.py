"""Room kept aside so a full disk can still record why a run failed.

A store that writes under a directory keeps a small file there,
``.space-reserve``, and deletes it the first time a write fails for lack
of space. The freed bytes let the few writes that follow land: the job's
failure, the run's final status, the last log records. The next store
opened on that directory puts the reserve back when there is room again.

Standard library only: stores create their reserve on the start-up path of
``sparkwing run`` (one ``stat`` when it already exists).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..paths import open_private

#: Name of the reserve file inside a store's directory.
RESERVE_FILE = ".space-reserve"

#: Words every out-of-space error carries, so a user (and a test) can find the cause.
NO_SPACE = "no space left on device"

#: errno values that mean "the file system (or the user's quota) is full".
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})

_CHUNK = b"\0" * 65536


def reserve_path(directory: Path) -> Path:
    """The reserve file of *directory*."""
    return directory / RESERVE_FILE


def ensure_reserve(directory: Path, size: int) -> bool:
    """Make sure *directory* holds a reserve of *size* bytes; return whether it does.

    Best effort and silent: a read-only or full directory simply has no
    reserve (a half-made file is removed).
    """
    path = reserve_path(directory)
    try:
        if os.stat(path).st_size >= size:
            return True
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        fd = open_private(path, os.O_WRONLY | os.O_CREAT)
    except OSError:
        return False
    try:
        _fill(fd, size)
    except OSError:
        os.close(fd)
        release_reserve(directory)
        return False
    os.close(fd)
    return True


def _fill(fd: int, size: int) -> None:
    """Allocate *size* real bytes in *fd* (a sparse file would reserve nothing)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except AttributeError:  # not on this platform (macOS)
        pass
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    os.lseek(fd, 0, os.SEEK_SET)
    left = size
    while left > 0:
        left -= os.write(fd, _CHUNK[: min(left, len(_CHUNK))])


def release_reserve(directory: Path) -> bool:
    """Delete the reserve of *directory*; return whether there was one to free."""
    try:
        os.unlink(reserve_path(directory))
    except OSError:
        return False
    return True


def is_out_of_space(exc: BaseException) -> bool:
    """Whether *exc* is an :class:`OSError` saying the disk (or quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS
