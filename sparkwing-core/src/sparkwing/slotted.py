"""A cheap base for small value classes that every ``sparkwing run`` loads.

Making a ``@dataclass`` costs about 3 M instructions at import (each
generated method is compiled from source text), 0.3-1.2 ms each, against
about 0.1 M for a plain class; ``sparkwing run hello`` made 46 of them
(bench/RESULTS.md, "Dataclasses on the start-up path"). Classes on that
path that need no ``dataclasses.fields()`` or ``asdict()`` derive from
:class:`Slotted` instead: they write their own ``__init__`` and list their
fields in ``__slots__``; ``repr``, ``==`` and :meth:`Slotted.replace` (for
``dataclasses.replace``) come from here. The store records that every run
makes (``storage.records.Run``, ``Node``, ``TriggerRow``) need ``fields()``
and ``asdict()``, so they stay slotted dataclasses made with ``init=False,
repr=False, eq=False``, write their own ``__init__`` and take ``repr`` and
``==`` from here.
"""

from __future__ import annotations

from typing import Any, Self


class Slotted:
    """Base class: ``repr()`` and ``==`` over the fields named in the subclass's ``__slots__``.

    Instances compare equal when they are of the same class and every field
    is equal; like a dataclass with ``eq=True``, they are not hashable.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]
    #: Every field of the class, base classes' first (set for each subclass).
    _field_names: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("__slots__", ())
            names.extend([own] if isinstance(own, str) else own)
        cls._field_names = tuple(names)

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._field_names)

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._field_names)
        return f"{type(self).__name__}({parts})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Slotted)
        return self._fields() == other._fields()

    def replace(self, **changes: Any) -> Self:
        """A copy with the named fields changed (``dataclasses.replace`` for these classes).

        Raises :class:`TypeError` for a name that is not a field.
        """
        unknown = changes.keys() - set(self._field_names)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        copy = object.__new__(type(self))
        for name in self._field_names:
            setattr(copy, name, changes[name] if name in changes else getattr(self, name))
        return copy
