"""Two state stores on one database file in one process, with other processes writing too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sparkwing.storage.records import Run
from sparkwing_sqlite.store import SqliteStateStore


def _in_child(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_opening_a_second_store_does_not_lose_the_first_ones_writes(tmp_path: Path) -> None:
    # An executor reading results opens its own store beside the orchestrator's; job
    # processes append events and exit. Every commit of the first store must survive.
    db = tmp_path / "state.db"
    first = SqliteStateStore(db)
    first.create_run(Run(id="r1", pipeline="p", created_at=time.time()))
    first.append_event("r1", "one", {})
    second = SqliteStateStore(db)
    child = (f"from sparkwing_sqlite.store import SqliteStateStore\n"
             f"s = SqliteStateStore({str(db)!r}); s.append_event('r1', 'child', {{}}); s.close()")
    _in_child(child)
    first.append_event("r1", "two", {})
    second.close()
    _in_child(child)
    first.append_event("r1", "three", {})
    kinds = _in_child(f"from sparkwing_sqlite.store import SqliteStateStore\n"
                      f"s = SqliteStateStore({str(db)!r})\n"
                      f"print(','.join(e.kind for e in s.list_events('r1', 0, 0)))")
    first.close()
    assert kinds.strip() == "one,child,two,child,three"
