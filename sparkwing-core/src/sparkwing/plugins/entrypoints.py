"""Entry-point discovery without importing :mod:`importlib.metadata`.

Importing ``importlib.metadata`` costs ~12 ms here (it pulls in email, zipfile,
csv...), which is a twentieth of the ``sparkwing run`` start-up budget. The
scan below reads ``*.dist-info/entry_points.txt`` on ``sys.path`` directly,
in path order, first distribution of a name winning, as ``importlib.metadata``
does; a test checks both agree.
"""

from __future__ import annotations

import importlib
import os
import re
import sys

from ..slotted import Slotted

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_NORMALISE = r"[-_.]+"


class EntryPoint(Slotted):
    """One entry point: ``name = module[:attr]`` published by a distribution."""

    __slots__ = ("dist", "group", "name", "value", "version")

    def __init__(self, name: str, value: str, group: str, dist: str, version: str) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist
        self.version = version

    def load(self) -> object:
        """Import the module and return it (or the named attribute)."""
        module, _, attr = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
        return obj


def _sections(text: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1].strip(), [])
        elif current is not None and "=" in line:
            name, _, value = line.partition("=")
            current.append((name.strip(), value.strip()))
    return out


def _name_version(dist_info: str) -> tuple[str, str]:
    """Name and version from METADATA (only its first lines are read)."""
    name = version = ""
    try:
        with open(os.path.join(dist_info, "METADATA"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if (name and version) or not line.strip():
                    break
    except OSError:
        pass
    if not name:
        stem = os.path.basename(dist_info)[: -len(".dist-info")]
        name, _, version = stem.partition("-")
    return name, version


def entry_points(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """Entry points of *group* from every distribution on *path* (default ``sys.path``)."""
    return scan(group, path)[0]


def scan(group: str, path: list[str] | None = None) -> tuple[list[EntryPoint], list[str]]:
    """:func:`entry_points`, and the path of every ``entry_points.txt`` it read (any group)."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    read: list[str] = []
    for entry in path if path is not None else sys.path:
        base = entry or "."
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for fname in names:
            if not fname.endswith(".dist-info"):
                continue
            key = re.sub(_NORMALISE, "_", fname[: -len(".dist-info")].partition("-")[0]).lower()
            if key in seen:
                continue
            seen.add(key)
            dist_info = os.path.join(base, fname)
            listing = os.path.join(dist_info, "entry_points.txt")
            try:
                with open(listing, encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            read.append(listing)
            items = _sections(text).get(group)
            if not items:
                continue
            dist, version = _name_version(dist_info)
            found.extend(EntryPoint(n, v, group, dist, version) for n, v in items)
    return found, read
