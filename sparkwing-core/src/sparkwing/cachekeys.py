"""Memoization keys: ``sw.key(*parts)``, ``sw.hash_files(*globs)``, ``sw.hash_env(*names)``.

Keys carry their own identity: two nodes (in any pipeline) whose key
functions return the same key share one cache entry, so include what makes
the result unique (a name, the inputs, the files it reads).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .dsl.planning import ensure_not_planning
from .dsl.refs import Ref

#: Return this from a key function to run the node uncached.
NO_CACHE = "ck:nocache"

_SEP = "\x1e"


def _canon(part: Any) -> str:
    if part is None:
        return "null"
    if isinstance(part, Ref):
        return f"ref:{part.node_id or ''}#{part.step_id or ''}"
    if isinstance(part, str):
        return part
    if isinstance(part, dict | list | tuple | int | float | bool):
        return json.dumps(part, sort_keys=True, separators=(",", ":"), default=str)
    return str(part)


def key(*parts: Any) -> str:
    """Return a cache key ``ck:<16 hex>`` from *parts* (strings, numbers, lists, dicts, None)."""
    h = hashlib.sha256(_SEP.join(_canon(p) for p in parts).encode()).hexdigest()
    return f"ck:{h[:16]}"


def hash_files(*patterns: str, root: str | os.PathLike[str] | None = None) -> str:
    """Hash the paths and contents of files matching the glob *patterns* (``**`` recursive).

    Patterns are relative to *root* (default: the current directory, which is
    the repository root while a run executes). Reads files, so it cannot be
    called while a plan is built.
    """
    ensure_not_planning("sw.hash_files()")
    base = Path(root) if root is not None else Path.cwd()
    files: set[Path] = set()
    for pattern in patterns:
        for match in glob.glob(str(base / pattern), recursive=True):
            p = Path(match)
            if p.is_file():
                files.add(p)
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(str(p.relative_to(base) if p.is_relative_to(base) else p).encode())
        h.update(b"\0")
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return f"files:{h.hexdigest()[:16]}:{len(files)}"


def hash_env(*names: str) -> str:
    """Hash the values of environment variables *names* (unset and empty differ)."""
    ensure_not_planning("sw.hash_env()")
    h = hashlib.sha256()
    for name in sorted(names):
        value = os.environ.get(name)
        h.update(f"{name}={'<unset>' if value is None else value}\0".encode())
    return f"env:{h.hexdigest()[:16]}"
