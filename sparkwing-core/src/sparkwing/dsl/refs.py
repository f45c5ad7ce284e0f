"""Refs: handles on a job's (or a step's) output, read while a job runs.

A ref is plain data (the producing node and step ids); it is resolved by
whatever can read outputs at run time (a :class:`~sparkwing.runtime.context.Context`),
typed here as :class:`RefReader` so this module imports nothing of the runtime.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class RefReader(Protocol):
    """What a ref is read from: anything with ``read_ref(ref)`` (a job's Context)."""

    def read_ref(self, ref: Ref[Any]) -> Any:
        """Return the output *ref* points at."""
        ...


class Ref(Generic[T]):
    """A handle on a node's (or a step's) output, read at run time with :meth:`get`.

    A ref adds no edge: pair it with ``.needs(node)``.
    """

    __slots__ = ("node_id", "step_id")

    def __init__(self, node_id: str | None, step_id: str | None = None) -> None:
        self.node_id = node_id
        self.step_id = step_id

    def get(self, ctx: RefReader) -> T:
        """Return the referenced output (the producer must have finished)."""
        return ctx.read_ref(self)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        target = self.node_id or ""
        if self.step_id:
            target += f"#{self.step_id}"
        return f"Ref({target})"
