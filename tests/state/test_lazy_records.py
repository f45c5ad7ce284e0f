"""Record classes become dataclasses on first use, and are then ordinary dataclasses."""

from __future__ import annotations

import dataclasses
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
