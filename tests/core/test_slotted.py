"""The Slotted base: repr and equality over __slots__, like a dataclass, without its import cost."""

from __future__ import annotations

import pytest
from sparkwing.dsl.nodes import Approval, ShellBody
from sparkwing.execution.contracts import ExecutorContext
from sparkwing.slotted import Slotted


class Pair(Slotted):
    """Two fields."""

    __slots__ = ("left", "right")

    def __init__(self, left: int, right: object = None) -> None:
        self.left = left
        self.right = right


class OtherPair(Pair):
    """Same fields, another class."""

    __slots__ = ()


class Triple(Pair):
    """A subclass adding a field."""

    __slots__ = ("third",)

    def __init__(self, left: int, right: object, third: object) -> None:
        super().__init__(left, right)
        self.third = third


def test_repr_names_every_field_in_slot_order() -> None:
    assert repr(Pair(1, "x")) == "Pair(left=1, right='x')"
    assert repr(ShellBody("make", cwd="sub")) == "ShellBody(command='make', cwd='sub', env={})"


def test_equal_when_same_class_and_fields() -> None:
    assert Pair(1, [2]) == Pair(1, [2])
    assert Pair(1, 2) != Pair(1, 3)
    assert Approval("ok?", 5.0) == Approval("ok?", 5.0)
    assert ExecutorContext(home=__import__("pathlib").Path("/h")) != ExecutorContext(
        home=__import__("pathlib").Path("/h"), workers=2)


def test_other_classes_never_equal() -> None:
    assert OtherPair(1, 2) != Pair(1, 2)
    assert Pair(1, 2) != (1, 2)


def test_subclasses_compare_and_show_inherited_fields() -> None:
    assert OtherPair(1, 2) != OtherPair(1, 3)
    assert Triple(1, 2, 3) != Triple(1, 2, 4)
    assert Triple(1, 2, 3) == Triple(1, 2, 3)
    assert repr(Triple(1, 2, 3)) == "Triple(left=1, right=2, third=3)"


def test_not_hashable_like_an_eq_dataclass() -> None:
    with pytest.raises(TypeError):
        hash(Pair(1, 2))


def test_no_instance_dict() -> None:
    with pytest.raises(AttributeError):
        Pair(1).extra = 3  # type: ignore[attr-defined]


def test_replace_copies_with_changes_and_leaves_the_original() -> None:
    base = Triple(1, [2], 3)
    changed = base.replace(right="r", third=4)
    assert changed == Triple(1, "r", 4)
    assert type(changed) is Triple
    assert base == Triple(1, [2], 3)
    assert base.replace() == base and base.replace() is not base
    assert base.replace().right is base.right  # a shallow copy, like dataclasses.replace


def test_replace_refuses_unknown_fields() -> None:
    with pytest.raises(TypeError, match="'fourth'"):
        Triple(1, 2, 3).replace(fourth=4)


def test_start_up_classes_made_no_dataclass() -> None:
    """``sparkwing run``'s option, context and attempt classes are Slotted, not dataclasses."""
    import dataclasses

    from sparkwing.config.profiles import Profile
    from sparkwing.dsl.inputs import InputSpec
    from sparkwing.execution.contracts import Attempt, AttemptResult
    from sparkwing.orchestrator.options import RunOptions
    from sparkwing.project import PipelineDef
    from sparkwing.runs.start import StartOptions
    from sparkwing.runtime.context import RunContext, Trigger
    from sparkwing.runtime.git import GitInfo
    from sparkwing.triggers.request import RunRequest, TriggerMeta
    from sparkwing_cli.runner import RunArgs

    for cls in (Profile, InputSpec, Attempt, AttemptResult, PipelineDef, StartOptions,
                RunContext, Trigger, GitInfo, RunArgs, RunOptions, RunRequest, TriggerMeta):
        assert issubclass(cls, Slotted) and not dataclasses.is_dataclass(cls), cls


def test_default_containers_are_not_shared() -> None:
    from pathlib import Path

    from sparkwing.execution.contracts import Attempt
    from sparkwing.runs.start import StartOptions
    from sparkwing.runtime.context import RunContext

    a, b = StartOptions(), StartOptions()
    a.allow.append("x")
    assert b.allow == [] and b.flags == {}
    one, two = RunContext("r", "p", Path(".")), RunContext("r", "p", Path("."))
    one.args["k"] = 1
    assert two.args == {} and one.git is not two.git and one.trigger is not two.trigger
    at = Attempt("r", "n", 1, "p", Path("."))
    at.env["A"] = "1"
    assert Attempt("r", "n", 1, "p", Path(".")).env == {}
