"""The fake API server's object store: objects by resource, resource versions, watch streams.

Every change bumps one cluster-wide resource version (as etcd's revision
does) and is kept in a bounded history, so a watch can resume from a
resource version it saw; one older than the history is answered ``410
Gone`` like a compacted etcd. All access happens on the server's event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .timefmt import rfc3339

#: Changes kept for watches to resume from.
HISTORY = 4096

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource, namespace, name)


@dataclass(slots=True)
class Change:
    """One change of one object (what a watch event carries)."""

    rv: int
    resource: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None = None


class Expired(Exception):
    """A watch asked to resume from a resource version no longer in the history."""


@dataclass(eq=False)
class Watcher:
    """A subscriber to one resource's changes in one namespace ("" for all)."""

    resource: str
    namespace: str
    queue: asyncio.Queue[Change] = field(default_factory=asyncio.Queue)

    def wants(self, change: Change) -> bool:
        """True when *change* is about this watcher's resource and namespace."""
        if change.resource != self.resource:
            return False
        ns = change.obj.get("metadata", {}).get("namespace", "")
        return not self.namespace or ns == self.namespace


class ObjectStore:
    """Objects of the fake cluster, keyed by ``(resource, namespace, name)``."""

    def __init__(self, history: int = HISTORY) -> None:
        self.rv = 0
        self.objects: dict[Key, Obj] = {}
        self.history: deque[Change] = deque(maxlen=history)
        self.watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Change], None]] = []

    # -- reads ------------------------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """A copy of the object, or ``None``."""
        obj = self.objects.get((resource, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource: str, namespace: str = "") -> list[Obj]:
        """Copies of the objects of *resource* (in *namespace*, or all), by namespace and name."""
        keys = sorted(k for k in self.objects
                      if k[0] == resource and (not namespace or k[1] == namespace))
        return [copy.deepcopy(self.objects[k]) for k in keys]

    def oldest_rv(self) -> int:
        """The oldest resource version a watch may resume from."""
        return self.history[0].rv - 1 if self.history else self.rv

    # -- writes -----------------------------------------------------------------------
    def _commit(self, resource: str, kind: str, obj: Obj, old: Obj | None) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = copy.deepcopy(obj)
        change = Change(self.rv, resource, kind, copy.deepcopy(obj), old)
        self.history.append(change)
        for watcher in list(self.watchers):
            if watcher.wants(change):
                watcher.queue.put_nowait(change)
        for listener in list(self.listeners):
            listener(change)
        return copy.deepcopy(obj)

    def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object (uid, creation time and generation filled in)."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", rfc3339(time.time()))
        if resource != "pods" and resource != "secrets":
            meta.setdefault("generation", 1)
        return self._commit(resource, "ADDED", obj, None)

    def update(self, resource: str, obj: Obj) -> Obj:
        """Replace a stored object (a MODIFIED event)."""
        meta = obj["metadata"]
        old = self.objects.get((resource, meta.get("namespace", ""), meta["name"]))
        return self._commit(resource, "MODIFIED", obj, copy.deepcopy(old) if old else None)

    def mutate(self, resource: str, namespace: str, name: str,
               change: Callable[[Obj], None]) -> Obj | None:
        """Apply *change* to a copy of the object and store it; ``None`` when it is gone."""
        obj = self.get(resource, namespace, name)
        if obj is None:
            return None
        before = copy.deepcopy(obj)
        change(obj)
        if obj == before:
            return obj
        return self.update(resource, obj)

    def remove(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Delete the object (a DELETED event); return its last state, or ``None``."""
        obj = self.objects.get((resource, namespace, name))
        if obj is None:
            return None
        return self._commit(resource, "DELETED", copy.deepcopy(obj), copy.deepcopy(obj))

    # -- watches ----------------------------------------------------------------------
    def watch(self, resource: str, namespace: str,
              since: int | None) -> tuple[Watcher, builtins.list[Change]]:
        """Subscribe; return the watcher and the changes after *since* it missed.

        *since* ``None`` means "from now" (the caller sends the current
        objects as ADDED first). Raises :class:`Expired` when *since* is
        older than the history.
        """
        watcher = Watcher(resource, namespace)
        backlog: builtins.list[Change] = []
        if since is not None:
            if since < self.oldest_rv():
                raise Expired(since)
            backlog = [c for c in self.history if c.rv > since and watcher.wants(c)]
        self.watchers.add(watcher)
        return watcher, backlog

    def unwatch(self, watcher: Watcher) -> None:
        """Drop a subscriber."""
        self.watchers.discard(watcher)


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    """True when *obj* names *uid* among its owner references."""
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])
