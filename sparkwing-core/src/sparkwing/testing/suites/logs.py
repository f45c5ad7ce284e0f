"""Conformance suite for :class:`~sparkwing.storage.contracts.LogStore` backends.

Use it by subclassing and providing ``store_factory``::

    from sparkwing.testing.suites.logs import LogStoreSuite

    class TestMyLogStore(LogStoreSuite):
        __test__ = True

        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: MyLogStore(tmp_path / "logs")

``store_factory`` is a zero-argument callable that opens a *new* store
instance on the same backing location each time it is called (tests use
a second instance to check what other processes would see). Every test
uses fresh run ids, so a location shared between tests is fine. The suite
uses nothing but the contract.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator

import pytest

from sparkwing.errors import SparkwingError
from sparkwing.events import LOG_EXEC_START, LOG_RUN_START
from sparkwing.ids import new_run_id
from sparkwing.storage.contracts import ENVELOPE, LogStore
from sparkwing.storage.follow import afollow, follow
from sparkwing.storage.logrecord import format_output_lines, make_record, parse_record

BAD_NODE_IDS = ["../x", "/abs", "a/../b", "a//b", "a/./b", "a\\b", "a\nb", "x/", "."]
BAD_RUN_IDS = ["", ".", "..", "a/b", "../x", "a\\b", "a\x00b"]


def _records(node: str, n: int, tag: str = "r") -> list[str]:
    return [make_record(f"{tag}-{i}", node=node, ts=1_800_000_000 + i) for i in range(n)]


class LogStoreSuite:
    """Behaviour every log store must show. Subclass, set ``__test__ = True``,
    and override the ``store_factory`` fixture."""

    __test__ = False

    @pytest.fixture
    def store_factory(self) -> Callable[[], LogStore]:
        """Return a callable opening a new store on one backing location (override this)."""
        raise NotImplementedError("a LogStoreSuite subclass must override store_factory")

    @pytest.fixture
    def store(self, store_factory: Callable[[], LogStore]) -> Iterator[LogStore]:
        """One store instance, closed after the test."""
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def other(self, store_factory: Callable[[], LogStore]) -> Iterator[LogStore]:
        """A second instance on the same location (as another process would open it)."""
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def run_id(self) -> str:
        """A fresh run id."""
        return new_run_id()

    # -- basics -----------------------------------------------------------------
    def test_implements_the_protocol(self, store: LogStore) -> None:
        assert isinstance(store, LogStore)

    def test_append_then_read_round_trip(self, store: LogStore, run_id: str) -> None:
        recs = _records("build", 3)
        store.append(run_id, "build", recs)
        chunk = store.read(run_id, "build")
        assert chunk.lines == recs
        assert chunk.next_offset > 0
        again = store.read(run_id, "build", chunk.next_offset)
        assert again.lines == []
        assert again.next_offset == chunk.next_offset

    def test_offsets_continue_across_reads_and_appends(
        self, store: LogStore, run_id: str
    ) -> None:
        a, b, c, d = _records("n", 4)
        store.append(run_id, "n", [a, b])
        first = store.read(run_id, "n", 0, limit=1)
        assert first.lines == [a]
        second = store.read(run_id, "n", first.next_offset)
        assert second.lines == [b]
        store.append(run_id, "n", [c])
        store.append(run_id, "n", [d])
        third = store.read(run_id, "n", second.next_offset)
        assert third.lines == [c, d]
        assert store.read(run_id, "n", 0).lines == [a, b, c, d]
        assert store.read(run_id, "n", 0).next_offset == third.next_offset

    def test_limit_pages_through_a_long_stream(self, store: LogStore, run_id: str) -> None:
        lines = [f"line {i}" for i in range(12_000)]
        store.append(run_id, "big", [])  # appending nothing is allowed
        writer = store.writer(run_id, "big")
        writer.write_raw(format_output_lines("big", "", lines, 1_800_000_000.0))
        writer.close()
        got: list[str] = []
        offset = 0
        while True:
            chunk = store.read(run_id, "big", offset, limit=1000)
            assert len(chunk.lines) <= 1000
            if not chunk.lines:
                assert chunk.next_offset == offset
                break
            got.extend(chunk.lines)
            offset = chunk.next_offset
        assert [parse_record(line)["msg"] for line in got] == lines

    def test_writer_write_and_write_raw(self, store: LogStore, run_id: str) -> None:
        start = make_record("$ make", node="n", step="compile", event=LOG_EXEC_START, ts=1.5)
        batch = format_output_lines("n", "compile", ["one", "", 'quote " and \\ tab\t'], 2.0)
        writer = store.writer(run_id, "n")
        writer.write([start])
        writer.write_raw(batch)
        writer.write_raw("")
        writer.write([])
        writer.close()
        lines = store.read(run_id, "n").lines
        assert lines[0] == start
        msgs = [parse_record(line)["msg"] for line in lines[1:]]
        assert msgs == ["one", "", 'quote " and \\ tab\t']
        for line in lines:
            json.loads(line)

    def test_writer_write_bytes_mixed_with_text(self, store: LogStore, run_id: str) -> None:
        texts = [make_record("$ make", node="n", event=LOG_EXEC_START, ts=1.5),
                 make_record("déjà vu ✓ \U0001f680", node="n", ts=2.0)]
        writer = store.writer(run_id, "n")
        writer.write_bytes(texts[0].encode() + b"\n")
        writer.write_raw(texts[1] + "\n")
        writer.write_bytes(b"")
        writer.write_bytes((texts[1] + "\n" + texts[0] + "\n").encode())
        writer.close()
        assert store.read(run_id, "n").lines == [*texts, *texts[::-1]]

    def test_flush_makes_records_visible_to_another_instance(
        self, store: LogStore, other: LogStore, run_id: str
    ) -> None:
        writer = store.writer(run_id, "n")
        recs = _records("n", 2)
        writer.write(recs[:1])
        writer.flush()
        assert other.read(run_id, "n").lines == recs[:1]
        writer.write(recs[1:])
        writer.close()
        assert other.read(run_id, "n").lines == recs

    def test_unicode_survives(self, store: LogStore, run_id: str) -> None:
        recs = [make_record("héllo ✓ 日本語 \U0001f680", node="n", ts=3.0)]
        store.append(run_id, "n", recs)
        assert store.read(run_id, "n").lines == recs
        assert parse_record(store.tail(run_id, "n", 1)[0])["msg"] == "héllo ✓ 日本語 \U0001f680"

    def test_missing_stream_reads_empty(self, store: LogStore, run_id: str) -> None:
        chunk = store.read(run_id, "nothing")
        assert chunk.lines == []
        assert chunk.next_offset == 0
        assert store.tail(run_id, "nothing", 5) == []
        assert store.read(run_id, ENVELOPE).lines == []
        assert store.streams(run_id) == []
        store.append(run_id, "something", _records("something", 1))
        assert store.read(run_id, "nothing").lines == []

    # -- tail ---------------------------------------------------------------------
    def test_tail_returns_the_last_records(self, store: LogStore, run_id: str) -> None:
        recs = _records("n", 50)
        store.append(run_id, "n", recs)
        assert store.tail(run_id, "n", 5) == recs[-5:]
        assert store.tail(run_id, "n", 1) == recs[-1:]
        assert store.tail(run_id, "n", 50) == recs
        assert store.tail(run_id, "n", 500) == recs
        assert store.tail(run_id, "n", 0) == []

    def test_tail_of_a_long_stream(self, store: LogStore, run_id: str) -> None:
        lines = [f"output line number {i} " + "x" * (i % 97) for i in range(40_000)]
        writer = store.writer(run_id, "long")
        for start in range(0, len(lines), 10_000):
            writer.write_raw(format_output_lines("long", "s", lines[start : start + 10_000], 9.0))
        writer.close()
        assert [parse_record(line)["msg"] for line in store.tail(run_id, "long", 20)] == lines[-20:]

    # -- streams and the envelope ----------------------------------------------------
    def test_envelope_is_separate_from_nodes(self, store: LogStore, run_id: str) -> None:
        env = [make_record(event=LOG_RUN_START, attrs={"pipeline": "p"}, ts=1.0)]
        node = _records("build", 2)
        store.append(run_id, ENVELOPE, env)
        store.append(run_id, "build", node)
        assert store.read(run_id, ENVELOPE).lines == env
        assert store.read(run_id, "build").lines == node
        assert store.tail(run_id, ENVELOPE, 10) == env

    def test_streams_lists_every_stream(self, store: LogStore, run_id: str) -> None:
        ids = [ENVELOPE, "build", "build/linux", "build/linux/arm64", "test:unit", "deploy prod"]
        for node_id in ids:
            store.append(run_id, node_id, _records(node_id, 1))
        assert sorted(store.streams(run_id)) == sorted(ids)
        for node_id in ids:
            assert parse_record(store.read(run_id, node_id).lines[0])["node"] == node_id

    def test_ids_that_look_alike_on_disk_stay_distinct(
        self, store: LogStore, other: LogStore, run_id: str
    ) -> None:
        ids = ["a/b", "a__b", "A/b", "a:b", "a*b"]
        for node_id in ids:
            store.append(run_id, node_id, _records(node_id, 2, tag=node_id))
        for node_id in ids:
            for s in (store, other):
                assert s.read(run_id, node_id).lines == _records(node_id, 2, tag=node_id)
        assert sorted(other.streams(run_id)) == sorted(ids)

    def test_runs_are_separate(self, store: LogStore, run_id: str) -> None:
        second = new_run_id()
        store.append(run_id, "n", _records("n", 1, tag="first"))
        store.append(second, "n", _records("n", 1, tag="second"))
        assert store.read(run_id, "n").lines == _records("n", 1, tag="first")
        assert store.read(second, "n").lines == _records("n", 1, tag="second")

    # -- validation -------------------------------------------------------------------
    @pytest.mark.parametrize("bad", BAD_NODE_IDS)
    def test_invalid_node_ids_are_rejected(self, store: LogStore, run_id: str, bad: str) -> None:
        with pytest.raises(SparkwingError):
            store.append(run_id, bad, _records("x", 1))
        with pytest.raises(SparkwingError):
            store.writer(run_id, bad)
        with pytest.raises(SparkwingError):
            store.read(run_id, bad)
        with pytest.raises(SparkwingError):
            store.tail(run_id, bad, 1)

    @pytest.mark.parametrize("bad", BAD_RUN_IDS)
    def test_invalid_run_ids_are_rejected(self, store: LogStore, bad: str) -> None:
        with pytest.raises(SparkwingError):
            store.append(bad, "n", _records("n", 1))
        with pytest.raises(SparkwingError):
            store.read(bad, "n")
        with pytest.raises(SparkwingError):
            store.streams(bad)
        with pytest.raises(SparkwingError):
            store.delete_run(bad)

    # -- several writers ---------------------------------------------------------------
    def test_two_writers_from_two_instances_both_land(
        self, store: LogStore, other: LogStore, run_id: str
    ) -> None:
        w1 = store.writer(run_id, "shared")
        w2 = other.writer(run_id, "shared")
        ones = _records("shared", 600, tag="one")
        twos = _records("shared", 600, tag="two")
        for i in range(600):
            w1.write([ones[i]])
            w2.write_raw(twos[i] + "\n")
            if i % 50 == 49:
                w1.flush()
                w2.flush()
        w1.close()
        w2.close()
        lines = store.read(run_id, "shared").lines
        assert len(lines) == 1200
        assert [line for line in lines if '"one-' in line] == ones
        assert [line for line in lines if '"two-' in line] == twos

    def test_another_instance_sees_appends(
        self, store: LogStore, other: LogStore, run_id: str
    ) -> None:
        store.append(run_id, "n", _records("n", 3))
        assert other.read(run_id, "n").lines == _records("n", 3)
        assert other.streams(run_id) == ["n"]
        other.append(run_id, "n", _records("n", 1, tag="late"))
        assert store.tail(run_id, "n", 1) == _records("n", 1, tag="late")

    # -- following ------------------------------------------------------------------------
    def test_follow_yields_later_records_and_ends_on_stop(
        self, store: LogStore, other: LogStore, run_id: str
    ) -> None:
        recs = _records("n", 30)
        got: list[str] = []
        first = threading.Event()
        stop = threading.Event()

        def consume() -> None:
            for line in follow(other, run_id, "n", poll=0.01, stop=stop.is_set):
                got.append(line)
                first.set()

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        store.append(run_id, "n", recs[:1])
        assert first.wait(60), "follow never yielded the first record"
        writer = store.writer(run_id, "n")
        for rec in recs[1:]:
            writer.write([rec])
            writer.flush()
        writer.close()
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "follow did not end after stop"
        assert got == recs

    def test_follow_from_an_offset_and_with_stop_already_set(
        self, store: LogStore, run_id: str
    ) -> None:
        recs = _records("n", 5)
        store.append(run_id, "n", recs[:2])
        offset = store.read(run_id, "n").next_offset
        store.append(run_id, "n", recs[2:])
        assert list(follow(store, run_id, "n", offset, poll=0.01, stop=lambda: True)) == recs[2:]
        assert list(follow(store, run_id, "gone", poll=0.01, stop=lambda: True)) == []

    def test_afollow_yields_later_records_and_ends_on_stop(
        self, store: LogStore, run_id: str
    ) -> None:
        recs = _records("n", 10)
        stop = threading.Event()

        async def scenario() -> list[str]:
            got: list[str] = []

            async def consume() -> None:
                async for line in afollow(store, run_id, "n", poll=0.01, stop=stop.is_set):
                    got.append(line)

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.05)
            for rec in recs:
                await asyncio.to_thread(store.append, run_id, "n", [rec])
            stop.set()
            await asyncio.wait_for(task, 60)
            return got

        assert asyncio.run(scenario()) == recs

    # -- deletion ---------------------------------------------------------------------------
    def test_delete_run_removes_every_stream(
        self, store: LogStore, other: LogStore, run_id: str
    ) -> None:
        keep = new_run_id()
        for node_id in (ENVELOPE, "a", "b/c"):
            store.append(run_id, node_id, _records(node_id or "env", 2))
        store.append(keep, "a", _records("a", 1))
        other.delete_run(run_id)
        assert store.streams(run_id) == []
        assert other.streams(run_id) == []
        for node_id in (ENVELOPE, "a", "b/c"):
            assert store.read(run_id, node_id).lines == []
        assert store.read(keep, "a").lines == _records("a", 1)
        store.delete_run(run_id)  # deleting again is not an error
        store.delete_run(new_run_id())
        store.append(run_id, "a", _records("a", 1, tag="again"))
        assert store.read(run_id, "a").lines == _records("a", 1, tag="again")
