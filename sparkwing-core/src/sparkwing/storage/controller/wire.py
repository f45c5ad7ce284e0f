"""The JSON form of store records on the controller's wire, shared by client and server.

A record travels as its dataclass fields (``Run.to_dict()`` and so on). On
the way in, :func:`record_from` refuses a key that is not a field and a
missing field that has no default, raising :class:`WireError` naming it,
so the controller answers 400 with the field's name. Only the standard
library is used: this module is on ``sparkwing run``'s start-up path when a
profile points at a controller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_FIELDS: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


class WireError(ValueError):
    """A JSON value that is not the record it should be; ``field`` names the culprit."""

    def __init__(self, message: str, field: str = "", code: str = "bad_request") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def _fields_of(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    known = _FIELDS.get(cls)
    if known is None:
        fields = dataclasses.fields(cls)
        names = tuple(f.name for f in fields)
        required = frozenset(f.name for f in fields if f.default is dataclasses.MISSING
                             and f.default_factory is dataclasses.MISSING)
        known = _FIELDS[cls] = (names, required)
    return known


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of record class *cls*, in declaration order."""
    return _fields_of(cls)[0]


def record_from(cls: type[T], data: Any, where: str = "") -> T:
    """Build a *cls* record from its JSON object *data*; :class:`WireError` naming a bad key."""
    label = where or cls.__name__.lower()
    if not isinstance(data, Mapping):
        raise WireError(f"{label} must be an object", where)
    names, required = _fields_of(cls)
    for key in data:
        if key not in names:
            name = f"{where}.{key}" if where else str(key)
            raise WireError(f"unknown field {name!r}; allowed: {', '.join(names)}", name,
                            "unknown_field")
    for key in required:
        if key not in data:
            name = f"{where}.{key}" if where else key
            raise WireError(f"field {name!r} is required", name)
    try:
        return cls(**data)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        raise WireError(f"{label}: {exc}", where) from None


def record_or_none(cls: type[T], data: Any, where: str = "") -> T | None:
    """:func:`record_from`, or ``None`` for a JSON ``null``."""
    return None if data is None else record_from(cls, data, where)


def to_json(record: Any) -> dict[str, Any]:
    """A record's fields as a dict (nested values shared, not copied)."""
    return {name: getattr(record, name) for name in field_names(type(record))}
