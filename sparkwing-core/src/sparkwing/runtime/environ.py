"""This process's environment as a plain dict, decoded once per change.

``dict(os.environ)`` decodes every name and value from the bytes the
process holds (two Python calls per variable, about 0.1 ms for a usual
environment); every job's commands start from a copy of it. :func:`snapshot`
decodes it again only when it changed since the last call (one comparison
of the encoded items) and otherwise copies the last decoded dict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: ``os.environ``'s encoded items when last decoded, and the decoded copy.
_last: tuple[dict[bytes, bytes], dict[str, str]] | None = None


def current() -> Mapping[str, str]:
    """``os.environ`` as it is now, decoded; shared with later calls, so only to be read."""
    global _last
    data = getattr(os.environ, "_data", None)
    if not isinstance(data, dict):  # not CPython's posix os.environ: decode each time
        return dict(os.environ)
    last = _last
    if last is None or last[0] != data:
        last = _last = (dict(data), dict(os.environ))
    return last[1]


def snapshot() -> dict[str, str]:
    """A new dict of ``os.environ`` as it is now (the caller may change it)."""
    return dict(current())
