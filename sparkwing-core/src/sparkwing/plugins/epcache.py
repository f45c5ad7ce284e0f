"""The entry-point scan, remembered under ``SPARKWING_HOME`` until an installation changes.

Finding the plugins means listing every directory on ``sys.path`` and
reading every installed distribution's ``entry_points.txt``: about 4 ms in
the development environment (102 distributions), more in a CI image with
hundreds, on every ``sparkwing run``. :func:`cached_entry_points` keeps the
result in ``$SPARKWING_HOME/entry-points.json`` together with what it was
read from, and scans again when any of it differs:

* the modification time of each directory on ``sys.path``: installing or
  removing a distribution adds or removes its ``.dist-info`` directory there
  (pip and uv also remove and recreate it when they reinstall one);
* the modification time and size of every ``entry_points.txt`` the scan
  read, for a file edited in place.

A time stamp less than :data:`RACY_S` old is not trusted (a change in the
same tick would leave it as it is), so nothing is remembered until the
installation has been still for that long. The file is owner-only and holds
one entry per interpreter, group and ``sys.path``; a file that is missing,
unreadable or malformed is ignored, and a home that does not exist or cannot
be written only means that nothing is remembered.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..paths import write_private_text
from .entrypoints import EntryPoint, scan

#: The cache's file name under ``SPARKWING_HOME``.
CACHE_NAME = "entry-points.json"
#: Bumped when the file's layout changes (another value: scanned again).
FORMAT = 1
#: Seconds a time stamp must be old before a scan that saw it is remembered.
RACY_S = 2.0
#: Entries kept (interpreters or ``sys.path`` layouts sharing one home).
MAX_ENTRIES = 8

Stamp = list[int] | None


def cached_entry_points(group: str, home: Path | None,
                        path: list[str] | None = None) -> list[EntryPoint]:
    """Entry points of *group* on *path* (default ``sys.path``), from the cache when still true.

    With *home* ``None`` it only scans.
    """
    paths = list(sys.path if path is None else path)
    if home is None:
        return scan(group, paths)[0]
    cache_file = home / CACHE_NAME
    key = "\0".join([sys.executable, group, *paths])
    dirs = [_stamp(p or ".") for p in paths]  # before the scan: a later change must show
    entries = _load(cache_file)
    hit = entries.get(key)
    if hit is not None and _still_true(hit, dirs):
        try:
            return [EntryPoint(*fields) for fields in hit["found"]]
        except (TypeError, ValueError):
            pass  # malformed: scanned again below
    found, read = scan(group, paths)
    stamps = [_stamp(name) for name in read]
    if _settled(dirs + stamps) and home.is_dir():
        entries.pop(key, None)
        entries[key] = {
            "dirs": dirs, "files": [[name, stamp] for name, stamp in zip(read, stamps, strict=True)],
            "found": [[e.name, e.value, e.group, e.dist, e.version] for e in found],
        }
        kept = dict(list(entries.items())[-MAX_ENTRIES:])
        try:
            write_private_text(cache_file, json.dumps({"format": FORMAT, "entries": kept}))
        except OSError:
            pass  # a read-only home: nothing remembered
    return found


def _stamp(name: str) -> Stamp:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _load(cache_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _still_true(hit: Any, dirs: list[Stamp]) -> bool:
    if not isinstance(hit, dict) or hit.get("dirs") != dirs:
        return False
    files = hit.get("files")
    if not isinstance(files, list):
        return False
    for item in files:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return False
        if _stamp(item[0]) != item[1]:
            return False
    return True


def _settled(stamps: list[Stamp]) -> bool:
    """Whether every time stamp is at least :data:`RACY_S` old."""
    newest = time.time_ns() - int(RACY_S * 1e9)
    return all(stamp is None or stamp[0] <= newest for stamp in stamps)
