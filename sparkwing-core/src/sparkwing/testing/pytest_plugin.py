"""pytest plugin shipped with sparkwing-core (auto-loaded through the ``pytest11`` entry point)."""

from __future__ import annotations
