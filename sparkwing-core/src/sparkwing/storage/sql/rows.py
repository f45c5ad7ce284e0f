"""Mapping between records (:mod:`sparkwing.storage.records`) and table rows.

A :class:`RowCodec` pairs one record class with one table of
:mod:`.schema`: it knows which columns hold which attributes, encodes
attribute values into column values (JSON as compact text, booleans as
0/1) and builds records back from rows selected with :attr:`RowCodec.select`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from ...jsontext import dumps as _dumps
from .schema import Table

_loads = json.loads


#: The text of the empty values most rows and events hold (deps, groups, annotations,
#: payloads), written without a call into the encoder.
_EMPTY_JSON: dict[type, str] = {list: "[]", dict: "{}"}


def encode_json(value: Any) -> str:
    """Return compact JSON text for *value*."""
    if not value:
        text: str | None = _EMPTY_JSON.get(type(value))
        if text is not None:
            return text
    return _dumps(value)


_enc_json = encode_json


def _enc_json_nullable(value: Any) -> str | None:
    return None if value is None else _dumps(value)


def _dec_json(value: Any) -> Any:
    return None if value is None else _loads(value)


def _enc_bool(value: Any) -> int:
    return 1 if value else 0


_IDENTITY: Callable[[Any], Any] = lambda value: value  # noqa: E731


class RowCodec:
    """Encode/decode one record class against one table.

    * :attr:`columns`: the table's columns that map to record attributes, in
      table order; :attr:`select` is their comma-separated list.
    * :meth:`values` encodes a whole record, in :attr:`columns` order.
    * :meth:`assignments` encodes a partial ``{attribute: value}`` mapping.
    * :meth:`decode` builds a record from a row in :attr:`columns` order.
    """

    def __init__(self, table: Table, record: type | str, immutable: Iterable[str] = ()) -> None:
        """Map *table* to *record*: a dataclass, or the name of one in
        :mod:`sparkwing.storage.records` (looked up, and so made, on first use)."""
        self.table = table
        self._record: type | None = None if isinstance(record, str) else record
        self._record_name = record if isinstance(record, str) else record.__name__
        cols = [c for c in table.columns if c.attr]
        self._mapped = cols
        if self._record is not None:
            self._check(self._record)
        self.columns: tuple[str, ...] = tuple(c.name for c in cols)
        self.attrs: tuple[str, ...] = tuple(str(c.attr) for c in cols)
        self.select = ", ".join(self.columns)
        self._immutable = frozenset(immutable)
        self._encoders: dict[str, tuple[str, Callable[[Any], Any]]] = {}
        decoders: list[Callable[[Any], Any] | None] = []
        for c in cols:
            enc: Callable[[Any], Any]
            if c.codec == "json":
                enc = _enc_json_nullable if c.nullable else _enc_json
                dec: Callable[[Any], Any] | None = _dec_json
            elif c.codec == "bool":
                enc, dec = _enc_bool, bool
            else:
                enc, dec = _IDENTITY, None
            self._encoders[str(c.attr)] = (c.name, enc)
            decoders.append(dec)
        self._decoders = tuple(decoders)
        self._plain = all(d is None for d in decoders)
        # whole records: every attribute read in one C call, then the few encoded columns
        self._read_all = attrgetter(*self.attrs) if len(self.attrs) > 1 else None
        self._encoded = tuple((i, self._encoders[a][1]) for i, a in enumerate(self.attrs)
                              if self._encoders[a][1] is not _IDENTITY)
        #: Per set of updated attributes (in order): their columns and encoders.
        self._plans: dict[tuple[str, ...], tuple[tuple[str, ...],
                                                 tuple[Callable[[Any], Any] | None, ...]]] = {}

    @property
    def record_type(self) -> type:
        """The record class rows decode into."""
        rec = self._record
        if rec is None:
            from .. import records

            rec = getattr(records, self._record_name)
            self._check(rec)
            self._record = rec
        return rec

    def _check(self, record: type) -> None:
        names = {f.name for f in fields(record)}
        for c in self._mapped:
            if c.attr not in names:
                raise ValueError(f"{self.table.name}.{c.name}: {record.__name__} has no {c.attr!r}")

    def values(self, rec: Any) -> tuple[Any, ...]:
        """Return the column values of a whole record, in :attr:`columns` order."""
        if self._read_all is None:
            enc = self._encoders
            return tuple(enc[a][1](getattr(rec, a)) for a in self.attrs)
        raw = self._read_all(rec)
        if not self._encoded:
            return raw
        out = list(raw)
        for i, encode in self._encoded:
            out[i] = encode(out[i])
        return tuple(out)

    def assignments(self, changes: Mapping[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
        """Return ``(column names, encoded values)`` for a partial update.

        Raises :class:`ValueError` for an unknown or immutable attribute.
        """
        key = tuple(changes)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(key)
        cols, encoders = plan
        return cols, [v if e is None else e(v)
                      for e, v in zip(encoders, changes.values(), strict=True)]

    def _plan(self, attrs: tuple[str, ...]) -> tuple[tuple[str, ...],
                                                     tuple[Callable[[Any], Any] | None, ...]]:
        cols: list[str] = []
        encoders: list[Callable[[Any], Any] | None] = []
        for attr in attrs:
            pair = self._encoders.get(attr)
            if pair is None or attr in self._immutable:
                what = "immutable" if pair is not None else "unknown"
                raise ValueError(f"cannot update {what} {self._record_name} field {attr!r}")
            cols.append(pair[0])
            encoders.append(None if pair[1] is _IDENTITY else pair[1])
        return tuple(cols), tuple(encoders)

    def decode(self, row: Sequence[Any]) -> Any:
        """Build a record from a row selected with :attr:`select`."""
        if not self._plain:
            row = [v if d is None else d(v) for d, v in zip(self._decoders, row, strict=True)]
        return (self._record or self.record_type)(**dict(zip(self.attrs, row, strict=True)))
