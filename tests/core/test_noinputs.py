"""NoInputs behaves as the field-less dataclass it was, with its methods written out."""

from __future__ import annotations

import dataclasses

import pytest
import sparkwing
from sparkwing.dsl.inputs import NoInputs, input_specs, parse_inputs


def test_a_field_less_dataclass() -> None:
    value = NoInputs()
    assert dataclasses.is_dataclass(value) and dataclasses.is_dataclass(NoInputs)
    assert dataclasses.fields(value) == ()
    assert dataclasses.asdict(value) == {}
    assert dataclasses.replace(value) == value
    assert repr(value) == "NoInputs()"
    assert value == NoInputs() and value != object() and value != 3
    with pytest.raises(TypeError):
        hash(value)
    with pytest.raises(AttributeError):
        value.extra = 1  # type: ignore[attr-defined]  # slotted: no per-instance dict
    assert sparkwing.NoInputs is NoInputs


def test_it_takes_no_flags() -> None:
    assert input_specs(NoInputs) == []
    assert parse_inputs(NoInputs, [], pipeline="p") == (NoInputs(), {})
