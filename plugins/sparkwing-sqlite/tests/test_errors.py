"""SQLite failures surface as StoreError and leave the store usable."""

from __future__ import annotations

from pathlib import Path

import pytest
from sparkwing.errors import StoreError
from sparkwing.storage.records import Node, Run
from sparkwing_sqlite.store import SqliteStateStore


def test_constraint_failure_is_a_store_error_and_rolls_back(tmp_path: Path) -> None:
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.create_run(Run(id="run-1", pipeline="p"))
        store.create_nodes("run-1", [Node("run-1", "a")])
        with pytest.raises(StoreError, match=r"state store .*NOT NULL.*nodes\.error"):
            store.update_node("run-1", "a", {"error": None}, event=("x", {}))
        assert store.list_events("run-1") == []  # the event went with the failed update
        with pytest.raises(StoreError, match=r"runs\.pipeline"):
            store.update_run("run-1", {"pipeline": None})
        # the connection is not left inside a transaction
        assert store.update_node("run-1", "a", {"error": "boom"}, event=("x", {})) == 1
        got = store.get_run("run-1")
        assert got is not None and got.pipeline == "p"


def test_unserialisable_json_value_is_rejected_before_writing(tmp_path: Path) -> None:
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.create_run(Run(id="run-1", pipeline="p"))
        with pytest.raises(TypeError):
            store.update_run("run-1", {"args": {"x": object()}})
        store.update_run("run-1", {"status": "running"})
        got = store.get_run("run-1")
        assert got is not None and got.args == {} and got.status == "running"
