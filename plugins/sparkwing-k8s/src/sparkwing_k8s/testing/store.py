"""The fake API server's object store: objects by resource, resource versions, watch streams.

Every change bumps one cluster-wide resource version (as etcd's revision
does) and is kept in a bounded history, so a watch can resume from a
resource version it saw; one older than the history is answered ``410
Gone`` like a compacted etcd. All access happens on the server's event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from .timefmt import rfc3339

#: Changes kept for watches to resume from.
HISTORY = 4096

Obj = dict[str, Any]
T = TypeVar("T")
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


def _clone(obj: Any) -> Any:
    kind = type(obj)
    if kind is dict:
        return {k: _clone(v) for k, v in obj.items()}
    if kind is list:
        return [_clone(v) for v in obj]
    return obj


def clone(obj: T) -> T:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), faster than ``copy.deepcopy``."""
    return cast(T, _clone(obj))


class ObjectStore:
    """Objects of the fake cluster, by resource, then ``(namespace, name)``.

    Stored objects, the objects in :class:`Change` records and what
    :meth:`view` returns are shared and must not be mutated; :meth:`get`,
    :meth:`list` and the write methods hand out copies.
    """

    def __init__(self, history: int = HISTORY) -> None:
        self.rv = 0
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self.history: deque[Change] = deque(maxlen=history)
        self.watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Change], None]] = []

    # -- reads ------------------------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """A copy of the object, or ``None``."""
        obj = self.objects.get(resource, {}).get((namespace, name))
        return clone(obj) if obj is not None else None

    def peek(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object itself (read-only!), or ``None``."""
        return self.objects.get(resource, {}).get((namespace, name))

    def view(self, resource: str, namespace: str = "") -> builtins.list[Obj]:
        """The stored objects of *resource* (read-only!), by namespace and name."""
        table = self.objects.get(resource, {})
        return [table[k] for k in sorted(table) if not namespace or k[0] == namespace]

    def list(self, resource: str, namespace: str = "") -> builtins.list[Obj]:
        """Copies of the objects of *resource* (in *namespace*, or all), by namespace and name."""
        return [clone(o) for o in self.view(resource, namespace)]

    def oldest_rv(self) -> int:
        """The oldest resource version a watch may resume from."""
        return self.history[0].rv - 1 if self.history else self.rv

    # -- writes -----------------------------------------------------------------------
    def _commit(self, resource: str, kind: str, obj: Obj, old: Obj | None) -> Obj:
        """Store *obj* (which the store now owns) and publish the change; return a copy."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        table = self.objects.setdefault(resource, {})
        if kind == "DELETED":
            table.pop(key, None)
        else:
            table[key] = obj
        change = Change(self.rv, resource, kind, obj, old)
        self.history.append(change)
        for watcher in builtins.list(self.watchers):
            if watcher.wants(change):
                watcher.queue.put_nowait(change)
        for listener in builtins.list(self.listeners):
            listener(change)
        return clone(obj)

    def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object (uid, creation time and generation filled in)."""
        obj = clone(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", rfc3339(time.time()))
        if resource != "pods" and resource != "secrets":
            meta.setdefault("generation", 1)
        return self._commit(resource, "ADDED", obj, None)

    def update(self, resource: str, obj: Obj) -> Obj:
        """Replace a stored object (a MODIFIED event)."""
        meta = obj["metadata"]
        old = self.objects.get(resource, {}).get((meta.get("namespace", ""), meta["name"]))
        return self._commit(resource, "MODIFIED", clone(obj), old)

    def mutate(self, resource: str, namespace: str, name: str,
               change: Callable[[Obj], None]) -> Obj | None:
        """Apply *change* to a copy of the object and store it; ``None`` when it is gone."""
        old = self.objects.get(resource, {}).get((namespace, name))
        if old is None:
            return None
        obj = clone(old)
        change(obj)
        obj["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        if obj == old:
            return clone(obj)
        return self._commit(resource, "MODIFIED", obj, old)

    def remove(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Delete the object (a DELETED event); return its last state, or ``None``."""
        old = self.objects.get(resource, {}).get((namespace, name))
        if old is None:
            return None
        return self._commit(resource, "DELETED", clone(old), old)

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
