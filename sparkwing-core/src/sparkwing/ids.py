"""Run ids and node ids: generation, validation and file-name sanitising."""

from __future__ import annotations

import os
import re
import time

from .errors import PlanError

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_RUN_ID_RE = r"^run-\d{8}-\d{6}-[0-9a-f]{8}$"
#: Characters unsafe in file names, each written as ``__`` in a node's file name.
_UNSAFE_FILENAME = str.maketrans(dict.fromkeys('/\\:*?"<>|', "__"))


def new_run_id(now: float | None = None) -> str:
    """Return a fresh run id ``run-YYYYMMDD-HHMMSS-<8 hex>`` in UTC.

    The suffix is the millisecond (3 hex digits) followed by 5 random hex
    digits, so ids sort chronologically to the millisecond and ids started in
    the same millisecond stay distinct.
    """
    t = time.time() if now is None else now
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t))
    millis = min(int((t % 1) * 1000), 999)
    return f"run-{stamp}-{millis:03x}{os.urandom(3).hex()[:5]}"


def is_run_id(value: str) -> bool:
    """Tell whether *value* has the shape of a run id."""
    return bool(re.match(_RUN_ID_RE, value))


def validate_node_id(node_id: str, what: str = "node id") -> str:
    """Check a node or step id and return it unchanged.

    Ids are non-empty; ``/`` separates hierarchy levels, and every segment is
    non-empty and neither ``.`` nor ``..``; no backslash, no control
    characters, no leading ``/``. Raises :class:`PlanError` otherwise.
    """
    if not isinstance(node_id, str) or not node_id:
        raise PlanError(f"{what} must be a non-empty string, got {node_id!r}")
    if "\\" in node_id or has_control_char(node_id):
        raise PlanError(f"{what} {node_id!r} contains a backslash or control character")
    for segment in node_id.split("/"):
        if segment in ("", ".", ".."):
            raise PlanError(
                f"{what} {node_id!r} is not valid: '/'-separated segments must be non-empty "
                "and not '.' or '..'"
            )
    return node_id


def node_filename(node_id: str, *, validated: bool = False) -> str:
    """Return the file-name stem for a node id (unsafe characters become ``__``).

    The id is checked with :func:`validate_node_id` unless the caller says it
    did that already (*validated*).
    """
    if not validated:
        validate_node_id(node_id)
    return node_id.translate(_UNSAFE_FILENAME)


def has_control_char(text: str) -> bool:
    """Whether *text* holds an ASCII control character (below 32, or DEL)."""
    # printable text has none: the per-character check only runs for the rest
    return not text.isprintable() and any(ord(c) < 32 or ord(c) == 127 for c in text)
