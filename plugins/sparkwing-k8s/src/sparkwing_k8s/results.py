"""Reading an attempt's result: the ``attempt_finished`` event ``sparkwing node exec`` records.

The pod's ``node exec`` appends the event to the run's stream in the state
store before it exits (outcome, exit code, failure reason, error and the
JSON output, masked). The executor reads the run's events once, from where
it last stopped, and keeps the results of attempts it has not asked for
yet, so a run with many jobs reads each event once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

#: Event kind written by ``node exec`` (``sparkwing.events.ATTEMPT_FINISHED``).
ATTEMPT_FINISHED = "attempt_finished"
PAGE = 500


class EventSource(Protocol):
    """The part of a state store this module reads."""

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Any]:
        """Events of *run_id* after *after_seq*, in order."""
        ...


class ResultReader:
    """Finds ``attempt_finished`` payloads in a state store's event streams."""

    def __init__(self, state: EventSource) -> None:
        self.state = state
        self._cursor: dict[str, int] = {}
        self._found: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    def _scan(self, run_id: str) -> None:
        after = self._cursor.get(run_id, 0)
        while True:
            batch = self.state.list_events(run_id, after_seq=after, limit=PAGE)
            for ev in batch:
                after = max(after, int(ev.seq))
                if ev.kind != ATTEMPT_FINISHED or not isinstance(ev.payload, Mapping):
                    continue
                try:
                    attempt = int(ev.payload.get("attempt", 0))
                except (TypeError, ValueError):
                    continue
                self._found[(run_id, str(ev.node_id), attempt)] = dict(ev.payload)
            if len(batch) < PAGE:
                break
        self._cursor[run_id] = after

    async def find(self, run_id: str, node_id: str, attempt: int) -> dict[str, Any] | None:
        """The payload node exec recorded for this attempt, or ``None`` when there is none."""
        key = (run_id, node_id, attempt)
        async with self._lock:
            if key not in self._found:
                await asyncio.to_thread(self._scan, run_id)
            return self._found.pop(key, None)


class StateOpener:
    """Opens the state store of the run's profile once (the pod writes results there)."""

    def __init__(self) -> None:
        self._stores: Any = None
        self.reader: ResultReader | None = None
        self._lock = asyncio.Lock()

    async def get(self, workdir: Path, profile: str) -> ResultReader:
        """A reader over the state store of *profile* in the project at *workdir*."""
        async with self._lock:
            if self.reader is None:
                self._stores = await asyncio.to_thread(_open, workdir, profile)
                self.reader = ResultReader(self._stores.state)
            return self.reader

    def close(self) -> None:
        """Close the stores that were opened."""
        if self._stores is not None:
            self._stores.close()
            self._stores = None
            self.reader = None


def _open(workdir: Path, profile: str) -> Any:
    from sparkwing.config import load_project, open_stores, resolve_profile

    project = load_project(workdir)
    resolved = resolve_profile(flag=profile or None, pipeline=None, project=project)
    return open_stores(resolved)
