"""The box slot API in one process: parsing, no-wait, reports, release, state."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sparkwing.errors import ConfigError
from sparkwing.orchestrator.boxslots import (
    BoxSlotsFull,
    BoxSlotWait,
    acquire_box_slot,
    box_slot_state,
    parse_box_slots,
    resolve_box_slots,
    take_box_slot,
)
from sparkwing.testing.procs import wait_for


@pytest.mark.parametrize("text,expected", [
    ("3", 3), (" 2 ", 2), ("off", 0), ("None", 0), ("disable", 0), ("DISABLED", 0),
    ("0", 0), ("-4", 0),
])
def test_parse(text: str, expected: int) -> None:
    assert parse_box_slots(text, "X") == expected


@pytest.mark.parametrize("text", ["", "many", "2.5", "1e3", "two"])
def test_parse_junk_names_the_source(text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_box_slots(text, "SPARKWING_BOX_SLOTS")
    assert str(exc.value).startswith("SPARKWING_BOX_SLOTS: ")
    assert "\n" not in str(exc.value)


def test_resolve_flag_wins_over_environment() -> None:
    env = {"SPARKWING_BOX_SLOTS": "4"}
    assert resolve_box_slots(None, False, env) == (4, False)
    assert resolve_box_slots(0, False, env) == (0, False)
    assert resolve_box_slots(2, False, env) == (2, False)
    assert resolve_box_slots(None, False, {}) == (0, False)
    assert resolve_box_slots(None, False, {"SPARKWING_BOX_NO_WAIT": "yes"}) == (0, True)
    assert resolve_box_slots(None, True, {"SPARKWING_BOX_NO_WAIT": "0"}) == (0, True)
    with pytest.raises(ConfigError):
        resolve_box_slots(None, False, {"SPARKWING_BOX_SLOTS": "lots"})


def test_off_touches_nothing(tmp_path: Path) -> None:
    with acquire_box_slot(tmp_path, 0) as slot:
        assert slot is None
    assert list(tmp_path.iterdir()) == []


def test_no_wait_and_release(tmp_path: Path) -> None:
    a = take_box_slot(tmp_path, 2, on_wait=None)
    b = take_box_slot(tmp_path, 2, on_wait=None)
    assert box_slot_state(tmp_path).holders == 2
    with pytest.raises(BoxSlotsFull, match=r"^box slots full \(max=2\)"):
        take_box_slot(tmp_path, 2, no_wait=True, on_wait=None)
    assert box_slot_state(tmp_path).waiters == 0
    a.release()
    a.release()  # idempotent
    assert not a.held and not a.path.exists()
    with acquire_box_slot(tmp_path, 2, no_wait=True) as c:
        assert c is not None and c.held
        assert box_slot_state(tmp_path).holders == 2
    assert not c.held
    b.release()
    assert box_slot_state(tmp_path).holders == 0
    assert sorted(p.name for p in (tmp_path / "box-slots").iterdir()) == ["coord.lock"]


def test_waiter_reports_then_gets_the_slot(tmp_path: Path) -> None:
    holder = take_box_slot(tmp_path, 1, on_wait=None)
    reports: list[BoxSlotWait] = []
    got: list[object] = []

    def wait() -> None:
        with acquire_box_slot(tmp_path, 1, on_wait=reports.append, report_every=0) as slot:
            got.append(slot)

    t = threading.Thread(target=wait)
    t.start()
    wait_for(lambda: len(reports) >= 3)
    assert not got
    holder.release()
    t.join(timeout=60)
    assert got and not t.is_alive()
    assert reports[0].first and not any(r.first for r in reports[1:])
    assert (reports[0].active, reports[0].max_slots, reports[0].ahead) == (1, 1, 0)
    assert reports[0].message() == (
        "waiting for box slot (1 active, max 1). Raise the cap with --sw-box-slots N "
        "or fail fast with --sw-no-wait."
    )
    assert reports[1].message().startswith("waiting for box slot (1 active, max 1; waited ")
    assert box_slot_state(tmp_path) == box_slot_state(tmp_path).__class__(0, 0)


def test_message_counts_waiters_ahead() -> None:
    info = BoxSlotWait(active=2, max_slots=2, ahead=3, waited=12.7, first=False)
    assert info.message() == "waiting for box slot (2 active, max 2, 3 ahead; waited 12s)"


def test_run_start_reads_the_same_box_slots_variable() -> None:
    """``sparkwing.runs.start`` tests the variable without importing boxslots: same name."""
    from sparkwing.orchestrator import boxslots
    from sparkwing.runs import start

    assert start.BOX_SLOTS_ENV == boxslots.SLOTS_ENV
