"""Windows-only built-in modules recorded as absent before the standard library looks for them.

On Windows, ``nt``, ``msvcrt``, ``_winapi``, ``winreg`` and ``_overlapped``
are compiled into the interpreter; on every other system they cannot exist.
The standard library still tries them where it runs everywhere: ``pathlib``
imports ``ntpath``, which tries ``nt`` five times, and ``subprocess`` tries
``msvcrt``. Python does not remember a failed import, so each try searches
every directory on ``sys.path`` again; in a virtual environment with
editable installs (one directory per distribution) those seven misses cost
about 5 ms of a 185 ms ``sparkwing run hello`` (bench/RESULTS.md).

:func:`mark_absent` puts ``None`` for each of them into ``sys.modules``,
which Python documents as "this module does not exist": an import of one
raises :class:`ModuleNotFoundError` at once, the same error the search
would have ended with. It does nothing on Windows, and leaves alone a name
something has already imported.
"""

from __future__ import annotations

import sys

#: Modules built into CPython on Windows only.
WINDOWS_ONLY = ("nt", "msvcrt", "_winapi", "winreg", "_overlapped")


def mark_absent(platform: str = sys.platform) -> None:
    """Record the Windows-only built-in modules as absent (not on Windows)."""
    if platform == "win32":
        return
    modules = sys.modules
    for name in WINDOWS_ONLY:
        modules.setdefault(name, None)  # type: ignore[arg-type]  # None = known to be absent
