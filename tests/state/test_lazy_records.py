"""Record classes become dataclasses on first use, and are then ordinary dataclasses."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import subprocess
import sys
import textwrap

from sparkwing.storage import records


def test_a_record_is_a_slotted_dataclass_with_its_fields() -> None:
    run = records.Run(id="r1", pipeline="p")
    assert dataclasses.is_dataclass(records.Run)
    assert [f.name for f in dataclasses.fields(records.Run)][:3] == ["id", "pipeline", "status"]
    assert not hasattr(run, "__dict__")
    assert dataclasses.replace(run, status="running").status == "running"
    assert run == records.Run(id="r1", pipeline="p") and "pipeline='p'" in repr(run)
    assert pickle.loads(pickle.dumps(run)) == run
    assert records.Run is records.Run  # made once


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        records.NoSuchRecord  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchRecord" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_opening_the_sqlite_store_makes_only_the_records_it_uses() -> None:
    code = textwrap.dedent("""
        import sys
        import sparkwing.storage.contracts
        import sparkwing_sqlite.store
        from sparkwing.storage import records
        made = sorted(n for n in ("Run", "Node", "Step", "Event", "Approval", "Pause",
                                  "CacheEntry", "Lease", "TriggerRow", "AcquireResult",
                                  "RunFilter") if n in vars(records))
        print(" ".join(made) or "none")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


HAND_WRITTEN = ("Run", "Node", "TriggerRow")


def test_hand_written_initialisers_match_the_fields() -> None:
    """Run, Node and TriggerRow write their own ``__init__``: same parameters, order and
    defaults as the dataclass would generate, a fresh list or dict per instance."""
    for name in HAND_WRITTEN:
        cls = getattr(records, name)
        fields = dataclasses.fields(cls)
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        assert [p.name for p in params] == [f.name for f in fields], name
        required = {f.name: f"{f.name}-value" for f in fields
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        made, other = cls(**required), cls(**required)
        for f in fields:
            if f.name in required:
                assert getattr(made, f.name) == required[f.name]
            elif f.default_factory is not dataclasses.MISSING:
                assert getattr(made, f.name) == f.default_factory(), (name, f.name)
                assert getattr(made, f.name) is not getattr(other, f.name), (name, f.name)
            else:
                assert getattr(made, f.name) == f.default, (name, f.name)
        # Every field given positionally lands on its own attribute.
        values = [f"v{i}" for i in range(len(fields))]
        placed = cls(*values)
        assert [getattr(placed, f.name) for f in fields] == values, name
        assert dataclasses.asdict(placed) == {f.name: v for f, v in zip(fields, values, strict=True)}
        assert made == cls(**required) and made != placed
        assert repr(made).startswith(f"{name}(") and f"{fields[0].name}=" in repr(made)
        try:
            hash(made)
        except TypeError:
            pass
        else:
            raise AssertionError(f"{name} is hashable, a dataclass with eq=True is not")
