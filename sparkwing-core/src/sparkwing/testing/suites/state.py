"""Conformance suite for :class:`~sparkwing.storage.contracts.StateStore` backends.

Use it by subclassing and providing ``store_factory``::

    from sparkwing.testing.suites.state import StateStoreSuite

    class TestMyStateStore(StateStoreSuite):
        __test__ = True

        @pytest.fixture
        def store_factory(self, tmp_path):
            return functools.partial(MyStateStore, tmp_path / "state")

A backend whose store objects may be shared by the threads of a process
subclasses :class:`ThreadSafeStateStoreSuite` instead, which adds a
threaded check.

``store_factory`` is a zero-argument callable that opens a *new* store
instance on the same backing location each time it is called; the location
must be empty at the start of each test (state is global: ``list_runs``
sees every run). Tests open a second instance to check what another process
would see. The suite uses nothing but the contract.

Semantics pinned here beyond the contract's docstrings (every backend must
agree):

* updating a missing run or node, creating nodes of (or appending an event
  to) a missing run raises :class:`~sparkwing.errors.NotFoundError`;
* updating an unknown field, or a key field (``id``, ``run_id``, ``node_id``),
  raises :class:`ValueError`, as does resolving an approval with anything but
  ``approved``/``denied``/``timed_out``;
* a cache entry with ``expires_at <= 0`` never expires; one with
  ``0 < expires_at <= now`` is expired;
* a lease is live while ``lease_expires_at > now``;
* a run's heartbeat for :meth:`reap_stale_runs` is the newest of its own
  ``last_heartbeat_at`` (falling back to ``started_at``, then ``created_at``)
  and its nodes' ``last_heartbeat_at``; live runs are ``pending``/``running``;
* a trigger lease is live while ``lease_expires_at > now``; rows with equal
  ``created_at`` order by ``id``.

Module-level helpers (:func:`run_in_processes`, :func:`write_runs`,
:func:`append_events`, :func:`open_each`, :func:`insert_trigger_key`,
:func:`claim_triggers`) drive a store from several processes at once; a
backend's own tests use them with a picklable factory (for example a
``functools.partial`` of the store class).
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sparkwing.errors import NotFoundError, StoreError
from sparkwing.events import NODE_FAILED, NODE_SKIPPED, NODE_STARTED, NODE_SUCCEEDED, RUN_STARTED
from sparkwing.storage.contracts import StateStore
from sparkwing.storage.records import (
    Approval,
    CacheEntry,
    Lease,
    Node,
    Pause,
    Run,
    RunFilter,
    Step,
    TriggerRow,
)

#: A fixed epoch for explicit ``now`` values (2023-11-14T22:13:20Z).
T0 = 1_700_000_000.0

StoreFactory = Callable[[], StateStore]


def rid(i: int, suffix: str = "") -> str:
    """Return a run id that sorts by *i* (``run-20231114-<i>-<hex>``)."""
    return f"run-20231114-{i:06d}-{i:08x}{suffix}"


def make_run(i: int, **kw: Any) -> Run:
    """Return a run with id :func:`rid` ``(i)`` created at ``T0 + i``."""
    kw.setdefault("pipeline", "build")
    kw.setdefault("created_at", T0 + i)
    return Run(id=rid(i), **kw)


# -- cross-process helpers ------------------------------------------------------------


def write_runs(factory: StoreFactory, worker: int, count: int, nodes_per_run: int = 3) -> int:
    """Commit *count* runs the way the orchestrator does; return how many were written.

    Per run: ``create_run``, ``create_nodes`` (*nodes_per_run* nodes),
    ``update_node`` of the first node with a ``node_started`` event, and
    ``update_run`` to ``success``. Run ids are ``run-w<worker>-<j>``.
    """
    store = factory()
    try:
        for j in range(count):
            run_id = f"run-w{worker:03d}-{j:05d}"
            store.create_run(Run(id=run_id, pipeline=f"p{worker}", status="running",
                                 created_at=T0 + j))
            store.create_nodes(
                run_id, [Node(run_id, f"n{k}", deps=[f"n{k - 1}"] if k else [])
                         for k in range(nodes_per_run)],
            )
            store.update_node(
                run_id, "n0", {"status": "running", "started_at": T0 + j},
                event=(NODE_STARTED, {"worker": worker, "j": j}),
            )
            store.update_run(run_id, {"status": "success", "finished_at": T0 + j + 1})
    finally:
        store.close()
    return count


def append_events(factory: StoreFactory, run_id: str, count: int, tag: str = "") -> list[int]:
    """Append *count* events to *run_id* and return the sequence numbers received."""
    store = factory()
    try:
        return [store.append_event(run_id, "tick", {"tag": tag, "i": i}) for i in range(count)]
    finally:
        store.close()


def open_each(factories: list[StoreFactory], worker: int) -> int:
    """Open a store with each factory in turn and create run ``run-opener-<worker>`` in it.

    Several processes running this over the same list of *fresh* locations
    race on creating every one of them. Returns how many were opened.
    """
    for factory in factories:
        store = factory()
        try:
            store.create_run(Run(id=f"run-opener-{worker}", pipeline="opener", created_at=T0))
        finally:
            store.close()
    return len(factories)


def make_trigger(i: int, **kw: Any) -> TriggerRow:
    """Return a pending trigger row ``trg-<i>`` with key ``key-<i>`` created at ``T0 + i``."""
    kw.setdefault("idempotency_key", f"key-{i}")
    kw.setdefault("pipeline", "build")
    kw.setdefault("created_at", T0 + i)
    kw.setdefault("request", {"pipeline": kw["pipeline"], "inputs": {"n": i}})
    return TriggerRow(id=f"trg-{i:06d}", **kw)


def insert_trigger_key(factory: StoreFactory, worker: int, key: str, rounds: int = 20) -> list[bool]:
    """Insert a row under *key* *rounds* times (ids ``trg-w<worker>-<r>``); return each ``created``."""
    store = factory()
    try:
        out = []
        for r in range(rounds):
            row = TriggerRow(id=f"trg-w{worker:03d}-{r:04d}", idempotency_key=f"{key}-{r}",
                             pipeline="race", created_at=T0 + r, request={"worker": worker})
            stored, created = store.insert_trigger(row)
            assert stored.idempotency_key == row.idempotency_key
            assert created == (stored.id == row.id)
            out.append(created)
        return out
    finally:
        store.close()


def claim_triggers(factory: StoreFactory, holder: str) -> list[str]:
    """Claim pending rows for *holder* until none is left; return the ids it got."""
    store = factory()
    try:
        got: list[str] = []
        while True:
            row = store.claim_trigger(holder, lease_s=600, now=T0)
            if row is None:
                return got
            assert row.claimed_by == holder and row.status == "claimed"
            got.append(row.id)
    finally:
        store.close()


def _child(
    target: Callable[..., Any], index: int, args: tuple[Any, ...], barrier: Any, results: Any,
) -> None:
    try:
        barrier.wait(timeout=120)
        results.put((index, True, target(*args)))
    except BaseException:
        results.put((index, False, traceback.format_exc()))


def run_in_processes(
    target: Callable[..., Any], args_list: list[tuple[Any, ...]], timeout: float = 300.0,
) -> list[Any]:
    """Run ``target(*args)`` in one spawned process per *args_list* entry, all started together.

    The processes wait on a barrier so their work overlaps. Returns the
    results in *args_list* order; raises :class:`AssertionError` carrying
    every child's traceback when any child failed. *target* and the
    arguments must be picklable (module-level functions, ``functools.partial``).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args_list))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(target, i, args, barrier, results), daemon=True)
        for i, args in enumerate(args_list)
    ]
    for p in procs:
        p.start()
    collected: dict[int, tuple[bool, Any]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(collected) < len(procs):
            try:
                index, ok, value = results.get(timeout=0.5)
                collected[index] = (ok, value)
                continue
            except queue_module.Empty:
                pass
            silent = [i for i, p in enumerate(procs) if p.exitcode is not None
                      and i not in collected]
            if silent:
                try:  # a result may still be in flight from a process that just exited
                    index, ok, value = results.get(timeout=2)
                    collected[index] = (ok, value)
                    continue
                except queue_module.Empty:
                    codes = {i: procs[i].exitcode for i in silent}
                    raise AssertionError(
                        f"processes exited without reporting (exit codes {codes}); is the "
                        "target importable by module name in a fresh interpreter?"
                    ) from None
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(collected)} of {len(procs)} processes reported within {timeout} s"
                )
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    failures = [f"process {i}:\n{v}" for i, (ok, v) in sorted(collected.items()) if not ok]
    if failures:
        raise AssertionError("\n".join(failures))
    return [collected[i][1] for i in range(len(procs))]


# -- the suite ----------------------------------------------------------------------------


class StateStoreSuite:
    """Behaviour every state store must show. Subclass, set ``__test__ = True``,
    and override the ``store_factory`` fixture."""

    __test__ = False

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Return a callable opening a new store on one fresh location (override this)."""
        raise NotImplementedError("a StateStoreSuite subclass must override store_factory")

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> Iterator[StateStore]:
        """One store instance, closed after the test."""
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def open_store(self, store_factory: StoreFactory) -> Iterator[StoreFactory]:
        """Open further instances on the same location; all closed after the test."""
        opened: list[StateStore] = []

        def factory() -> StateStore:
            s = store_factory()
            opened.append(s)
            return s

        yield factory
        for s in opened:
            s.close()

    @staticmethod
    def _run_with_nodes(store: StateStore, i: int, node_ids: list[str], **kw: Any) -> str:
        run = make_run(i, **kw)
        store.create_run(run)
        store.create_nodes(run.id, [Node(run.id, n) for n in node_ids])
        return run.id

    # -- protocol ---------------------------------------------------------------

    def test_implements_protocol(self, store: StateStore) -> None:
        assert isinstance(store, StateStore)

    # -- runs -------------------------------------------------------------------

    def test_run_round_trips_every_field(self, store: StateStore, open_store: StoreFactory) -> None:
        run = Run(
            id=rid(1), pipeline="release", status="running", trigger_source="push",
            trigger_user="ada", git_branch="main", git_sha="abc123", git_repo="org/repo",
            git_dirty=True, args={"version": "1.2", "n": 3, "nested": {"x": [1, 2]}},
            secret_args=["token"], plan={"nodes": [{"id": "a", "deps": []}]}, error="",
            created_at=T0, started_at=T0 + 1, finished_at=None, last_heartbeat_at=T0 + 2,
            cancel_requested_at=None, retry_of=rid(0), profile="laptop", host="box",
            pid=4242, invocation={"cwd": "/src", "flags": ["--sw-x"], "ünï": "cödé"},
        )
        store.create_run(run)
        assert store.get_run(run.id) == run
        assert open_store().get_run(run.id) == run

    def test_get_missing_run_is_none(self, store: StateStore) -> None:
        assert store.get_run(rid(404)) is None

    def test_create_duplicate_run_raises(self, store: StateStore) -> None:
        store.create_run(make_run(1))
        with pytest.raises(StoreError):
            store.create_run(make_run(1, pipeline="other"))
        got = store.get_run(rid(1))
        assert got is not None and got.pipeline == "build"

    def test_update_run_sets_fields(self, store: StateStore, open_store: StoreFactory) -> None:
        store.create_run(make_run(1))
        store.update_run(rid(1), {
            "status": "failed", "error": "nodes failed: [a]", "finished_at": T0 + 9,
            "args": {"k": "v"}, "plan": {"p": 1}, "git_dirty": True, "pid": 7,
            "invocation": {"cwd": "/x"},
        })
        got = open_store().get_run(rid(1))
        assert got is not None
        assert (got.status, got.error, got.finished_at) == ("failed", "nodes failed: [a]", T0 + 9)
        assert (got.args, got.plan, got.git_dirty, got.pid) == ({"k": "v"}, {"p": 1}, True, 7)
        assert got.invocation == {"cwd": "/x"}
        assert got.pipeline == "build" and got.created_at == T0 + 1
        store.update_run(rid(1), {"plan": None, "finished_at": None})
        got = store.get_run(rid(1))
        assert got is not None and got.plan is None and got.finished_at is None

    def test_update_missing_run_raises_not_found(self, store: StateStore) -> None:
        with pytest.raises(NotFoundError):
            store.update_run(rid(9), {"status": "running"})

    def test_update_run_rejects_unknown_and_key_fields(self, store: StateStore) -> None:
        store.create_run(make_run(1))
        with pytest.raises(ValueError):
            store.update_run(rid(1), {"no_such_field": 1})
        with pytest.raises(ValueError):
            store.update_run(rid(1), {"id": rid(2)})
        assert store.get_run(rid(1)) is not None

    def test_list_runs_newest_first_with_limit(self, store: StateStore) -> None:
        for i in (3, 1, 5, 2, 4):
            store.create_run(make_run(i))
        assert [r.id for r in store.list_runs()] == [rid(i) for i in (5, 4, 3, 2, 1)]
        assert [r.id for r in store.list_runs(RunFilter(limit=2))] == [rid(5), rid(4)]

    def test_list_runs_default_limit_is_20(self, store: StateStore) -> None:
        for i in range(25):
            store.create_run(make_run(i))
        runs = store.list_runs()
        assert len(runs) == 20 and runs[0].id == rid(24)
        assert store.list_runs(None) == runs

    def test_list_runs_cursor_pagination(self, store: StateStore) -> None:
        for i in range(23):
            store.create_run(make_run(i))
        seen: list[str] = []
        cursor = ""
        for _ in range(10):  # 5 pages + the empty one; a cursor that stalls fails below
            page = store.list_runs(RunFilter(limit=5, before_id=cursor))
            if not page:
                break
            assert len(page) <= 5
            seen.extend(r.id for r in page)
            cursor = page[-1].id
        assert seen == [rid(i) for i in reversed(range(23))]

    def test_list_runs_pipeline_and_status_filters(self, store: StateStore) -> None:
        store.create_run(make_run(1, pipeline="build", status="success"))
        store.create_run(make_run(2, pipeline="test", status="failed"))
        store.create_run(make_run(3, pipeline="deploy", status="running"))
        store.create_run(make_run(4, pipeline="build", status="failed"))

        def ids(**kw: Any) -> list[str]:
            return [r.id for r in store.list_runs(RunFilter(**kw))]

        assert ids(pipelines=["build"]) == [rid(4), rid(1)]
        assert ids(pipelines=["build", "test"]) == [rid(4), rid(2), rid(1)]
        assert ids(pipelines=["!build"]) == [rid(3), rid(2)]
        assert ids(pipelines=["!build", "!test"]) == [rid(3)]
        assert ids(statuses=["failed"]) == [rid(4), rid(2)]
        assert ids(statuses=["!failed"]) == [rid(3), rid(1)]
        assert ids(pipelines=["build"], statuses=["failed"]) == [rid(4)]
        assert ids(pipelines=["!deploy"], statuses=["!success"]) == [rid(4), rid(2)]
        assert ids(pipelines=["nope"]) == []

    def test_list_runs_branch_sha_since(self, store: StateStore) -> None:
        store.create_run(make_run(1, git_branch="main", git_sha="abcdef01"))
        store.create_run(make_run(2, git_branch="feature/x", git_sha="abc99999"))
        store.create_run(make_run(3, git_branch="main", git_sha="ffff0000"))

        def ids(**kw: Any) -> list[str]:
            return [r.id for r in store.list_runs(RunFilter(**kw))]

        assert ids(branch="main") == [rid(3), rid(1)]
        assert ids(branch="feature/x") == [rid(2)]
        assert ids(branch="mai") == []
        assert ids(sha_prefix="abc") == [rid(2), rid(1)]
        assert ids(sha_prefix="abcdef") == [rid(1)]
        assert ids(sha_prefix="bcd") == []
        assert ids(since=T0 + 2) == [rid(3), rid(2)]
        assert ids(since=T0 + 2, branch="main", before_id=rid(3)) == []

    def test_list_runs_search(self, store: StateStore) -> None:
        store.create_run(make_run(1, pipeline="release-web"))
        store.create_run(make_run(2, git_branch="hotfix/Login"))
        store.create_run(make_run(3, git_sha="deadbeef42"))
        store.create_run(make_run(4, error="disk full on runner"))
        store.create_run(make_run(5))

        def ids(text: str) -> list[str]:
            return [r.id for r in store.list_runs(RunFilter(search=text))]

        assert ids("release") == [rid(1)]
        assert ids("LOGIN") == [rid(2)]
        assert ids("beef") == [rid(3)]
        assert ids("disk full") == [rid(4)]
        assert ids(rid(5)[-8:]) == [rid(5)]
        assert ids("100%") == []
        assert ids("nothing-matches") == []

    def test_delete_run_removes_everything_under_it(
        self, store: StateStore, open_store: StoreFactory,
    ) -> None:
        a = self._run_with_nodes(store, 1, ["x", "y"])
        b = self._run_with_nodes(store, 2, ["x"])
        for run_id in (a, b):
            store.upsert_step(Step(run_id, "x", "s1"))
            store.append_event(run_id, "k", {})
            store.create_approval(Approval(run_id, "x", requested_at=T0))
            store.create_pause(Pause(run_id, "x", "pause-before", T0, T0 + 60))
        assert store.delete_run(a) is True
        other = open_store()
        assert other.get_run(a) is None
        assert other.list_nodes(a) == [] and other.list_steps(a) == []
        assert other.list_events(a) == []
        assert other.get_approval(a, "x") is None and other.get_pause(a, "x") is None
        assert store.delete_run(a) is False
        assert other.get_run(b) is not None and len(other.list_nodes(b)) == 1
        assert len(other.list_events(b)) == 1 and other.get_pause(b, "x") is not None
        # a recreated run starts afresh
        store.create_run(make_run(1))
        assert store.append_event(a, "k", {}) == 1

    def test_reap_stale_runs(self, store: StateStore) -> None:
        now = T0 + 1000
        stale_before = now - 60
        # stale: old heartbeat, one node done, one running, one pending, one running step
        stale = self._run_with_nodes(store, 1, ["done", "busy", "todo"], status="running",
                                     last_heartbeat_at=now - 300)
        store.update_node(stale, "done", {"status": "done", "outcome": "success",
                                          "finished_at": now - 400})
        store.update_node(stale, "busy", {"status": "running", "started_at": now - 350})
        store.upsert_step(Step(stale, "busy", "s", status="running", started_at=now - 350))
        # stale pending run with no heartbeat at all (falls back to created_at)
        pending = make_run(2, status="pending")
        store.create_run(pending)
        # fresh: recent run heartbeat
        fresh = self._run_with_nodes(store, 3, ["a"], status="running",
                                     last_heartbeat_at=now - 5)
        # fresh: old run heartbeat but a node heartbeat is recent
        node_alive = self._run_with_nodes(store, 4, ["a"], status="running",
                                          last_heartbeat_at=now - 300)
        store.update_node(node_alive, "a", {"status": "running", "last_heartbeat_at": now - 1})
        # terminal runs are never reaped
        finished = make_run(5, status="success", last_heartbeat_at=now - 300)
        store.create_run(finished)

        reaped = store.reap_stale_runs(stale_before, now)
        assert sorted(reaped) == sorted([stale, pending.id])
        got = store.get_run(stale)
        assert got is not None and got.status == "failed" and got.finished_at == now
        assert "lost" in got.error
        nodes = {n.node_id: n for n in store.list_nodes(stale)}
        assert (nodes["done"].status, nodes["done"].outcome) == ("done", "success")
        assert nodes["done"].finished_at == now - 400
        for n in ("busy", "todo"):
            assert (nodes[n].status, nodes[n].outcome) == ("done", "cancelled")
        steps = store.list_steps(stale, "busy")
        assert steps[0].status == "cancelled"
        for run_id, status in ((fresh, "running"), (node_alive, "running"),
                               (finished.id, "success")):
            r = store.get_run(run_id)
            assert r is not None and r.status == status
        assert store.reap_stale_runs(stale_before, now) == []

    # -- nodes ------------------------------------------------------------------

    def test_nodes_round_trip_in_insertion_order(
        self, store: StateStore, open_store: StoreFactory,
    ) -> None:
        store.create_run(make_run(1))
        full = Node(
            rid(1), "zeta", kind="approval", status="done", outcome="success",
            deps=["alpha", "mid"], groups=["g1"], started_at=T0, finished_at=T0 + 3,
            error="", output={"wheel": "dist/x.whl", "n": [1, 2]}, has_output=True,
            failure_reason="timeout", exit_code=2, status_detail="compiling", attempts=3,
            annotations=["note 1", "note 2"], summary="## ok", last_heartbeat_at=T0 + 2,
        )
        store.create_nodes(rid(1), [full, Node(rid(1), "alpha"), Node(rid(1), "mid")])
        store.create_nodes(rid(1), [Node(rid(1), "later")])
        other = open_store()
        assert [n.node_id for n in other.list_nodes(rid(1))] == ["zeta", "alpha", "mid", "later"]
        assert other.get_node(rid(1), "zeta") == full
        assert other.get_node(rid(1), "alpha") == Node(rid(1), "alpha")
        assert other.get_node(rid(1), "nope") is None
        assert other.list_nodes(rid(404)) == []

    def test_node_output_values(self, store: StateStore) -> None:
        store.create_run(make_run(1))
        values: list[Any] = ["text", 0, 1.5, False, [1, "a"], {"k": None}]
        store.create_nodes(rid(1), [
            Node(rid(1), f"n{i}", output=v, has_output=True) for i, v in enumerate(values)
        ])
        got = [n.output for n in store.list_nodes(rid(1))]
        assert got == values
        store.update_node(rid(1), "n0", {"output": None, "has_output": True})
        n0 = store.get_node(rid(1), "n0")
        assert n0 is not None and n0.output is None and n0.has_output is True

    def test_create_nodes_errors(self, store: StateStore) -> None:
        with pytest.raises(NotFoundError):
            store.create_nodes(rid(7), [Node(rid(7), "a")])
        store.create_run(make_run(1))
        store.create_nodes(rid(1), [Node(rid(1), "a")])
        with pytest.raises(StoreError):
            store.create_nodes(rid(1), [Node(rid(1), "b"), Node(rid(1), "a")])
        # the failed batch left nothing behind
        assert [n.node_id for n in store.list_nodes(rid(1))] == ["a"]

    def test_update_node_fields_and_event(self, store: StateStore, open_store: StoreFactory) -> None:
        run_id = self._run_with_nodes(store, 1, ["a", "b"])
        assert store.update_node(run_id, "a", {"status": "running", "started_at": T0}) is None
        seq = store.update_node(
            run_id, "a", {"status": "done", "outcome": "failed", "error": "a: boom",
                          "exit_code": 1, "annotations": ["x"]},
            event=(NODE_FAILED, {"error": "a: boom"}),
        )
        assert seq == 1
        seq2 = store.update_node(run_id, "b", {}, event=(NODE_SKIPPED, {}))
        assert seq2 == 2
        other = open_store()
        a = other.get_node(run_id, "a")
        assert a is not None
        assert (a.status, a.outcome, a.error, a.exit_code) == ("done", "failed", "a: boom", 1)
        assert a.started_at == T0 and a.annotations == ["x"]
        events = other.list_events(run_id)
        assert [(e.seq, e.kind, e.node_id, e.payload) for e in events] == [
            (1, NODE_FAILED, "a", {"error": "a: boom"}), (2, NODE_SKIPPED, "b", {}),
        ]

    def test_update_missing_node_raises_and_appends_nothing(self, store: StateStore) -> None:
        run_id = self._run_with_nodes(store, 1, ["a"])
        with pytest.raises(NotFoundError):
            store.update_node(run_id, "ghost", {"status": "running"}, event=(NODE_STARTED, {}))
        with pytest.raises(NotFoundError):
            store.update_node(run_id, "ghost", {}, event=(NODE_STARTED, {}))
        with pytest.raises(NotFoundError):
            store.update_node(rid(99), "a", {"status": "running"})
        assert store.list_events(run_id) == []
        assert store.append_event(run_id, "k", {}) == 1

    def test_update_node_rejects_unknown_and_key_fields(self, store: StateStore) -> None:
        run_id = self._run_with_nodes(store, 1, ["a"])
        for bad in ({"bogus": 1}, {"node_id": "b"}, {"run_id": rid(2)}):
            with pytest.raises(ValueError):
                store.update_node(run_id, "a", bad, event=("x", {}))
        assert store.list_events(run_id) == []
        assert store.get_node(run_id, "a") == Node(run_id, "a")

    # -- steps ------------------------------------------------------------------

    def test_steps_upsert_and_order(self, store: StateStore, open_store: StoreFactory) -> None:
        run_id = self._run_with_nodes(store, 1, ["a", "b"])
        store.upsert_step(Step(run_id, "a", "zz", started_at=T0))
        store.upsert_step(Step(run_id, "b", "mm", started_at=T0 + 1))
        store.upsert_step(Step(run_id, "a", "aa", started_at=T0 + 2))
        done = Step(run_id, "a", "zz", status="passed", started_at=T0, finished_at=T0 + 5,
                    output={"r": 1}, has_output=True)
        store.upsert_step(done)
        other = open_store()
        assert [(s.node_id, s.step_id) for s in other.list_steps(run_id)] == [
            ("a", "zz"), ("b", "mm"), ("a", "aa"),
        ]
        assert [s.step_id for s in other.list_steps(run_id, "a")] == ["zz", "aa"]
        assert other.list_steps(run_id, "a")[0] == done
        assert other.list_steps(run_id, "none") == []
        skipped = Step(run_id, "b", "sk", status="skipped", started_at=T0, finished_at=T0,
                       error="outside --only")
        store.upsert_step(skipped)
        assert other.list_steps(run_id, "b")[-1] == skipped

    # -- events -----------------------------------------------------------------

    def test_events_append_and_list(self, store: StateStore) -> None:
        run_id = self._run_with_nodes(store, 1, ["a"])
        assert store.append_event(run_id, RUN_STARTED, {"args": {"x": 1}}, ts=T0) == 1
        assert store.append_event(run_id, NODE_STARTED, {}, node_id="a", ts=T0 + 1) == 2
        assert store.append_event(run_id, NODE_SUCCEEDED, {"ok": True}, node_id="a") == 3
        events = store.list_events(run_id)
        assert [e.seq for e in events] == [1, 2, 3]
        first = events[0]
        assert (first.run_id, first.kind, first.ts, first.node_id, first.payload) == (
            run_id, RUN_STARTED, T0, "", {"args": {"x": 1}},
        )
        assert events[2].ts > T0 and events[2].payload == {"ok": True}
        assert [e.seq for e in store.list_events(run_id, after_seq=1)] == [2, 3]
        assert [e.seq for e in store.list_events(run_id, after_seq=1, limit=1)] == [2]
        assert store.list_events(run_id, after_seq=3) == []
        assert store.list_events(rid(404)) == []

    def test_events_limit_default_500(self, store: StateStore) -> None:
        store.create_run(make_run(1))
        for i in range(510):
            store.append_event(rid(1), "tick", {"i": i}, ts=T0 + i)
        events = store.list_events(rid(1))
        assert len(events) == 500 and events[-1].seq == 500 and events[-1].payload == {"i": 499}
        assert [e.seq for e in store.list_events(rid(1), after_seq=500)] == list(range(501, 511))

    def test_event_seq_is_per_run(self, store: StateStore) -> None:
        store.create_run(make_run(1))
        store.create_run(make_run(2))
        assert [store.append_event(rid(1), "k", {}) for _ in range(3)] == [1, 2, 3]
        assert store.append_event(rid(2), "k", {}) == 1
        assert store.append_event(rid(1), "k", {}) == 4

    def test_event_seq_gap_free_across_instances(self, open_store: StoreFactory) -> None:
        one, two = open_store(), open_store()
        one.create_run(make_run(1))
        seqs = []
        for i in range(20):
            writer = one if i % 3 else two
            seqs.append(writer.append_event(rid(1), "k", {"i": i}))
        assert seqs == list(range(1, 21))
        assert [e.payload["i"] for e in two.list_events(rid(1))] == list(range(20))

    def test_append_event_to_missing_run_raises(self, store: StateStore) -> None:
        with pytest.raises(NotFoundError):
            store.append_event(rid(404), "k", {})

    # -- approvals --------------------------------------------------------------

    def test_approval_resolves_once(self, store: StateStore, open_store: StoreFactory) -> None:
        run_id = self._run_with_nodes(store, 1, ["gate"])
        req = Approval(run_id, "gate", requested_at=T0, message="ship it?", timeout_s=3600,
                       on_expiry="deny")
        store.create_approval(req)
        store.create_approval(Approval(run_id, "gate", requested_at=T0 + 5, message="again"))
        assert store.get_approval(run_id, "gate") == req
        other = open_store()
        assert other.resolve_approval(run_id, "gate", "approved", "ada", "lgtm", T0 + 10) is True
        assert store.resolve_approval(run_id, "gate", "denied", "bob", "no", T0 + 11) is False
        got = store.get_approval(run_id, "gate")
        assert got is not None
        assert (got.resolution, got.approver, got.comment, got.resolved_at) == (
            "approved", "ada", "lgtm", T0 + 10,
        )
        assert got.message == "ship it?" and got.on_expiry == "deny"
        # a later create does not reopen a resolved approval
        store.create_approval(req)
        again = store.get_approval(run_id, "gate")
        assert again is not None and again.resolution == "approved"
        assert store.resolve_approval(run_id, "missing", "approved", "x", "", T0) is False
        assert store.get_approval(run_id, "missing") is None

    def test_approval_resolution_is_validated(self, store: StateStore) -> None:
        run_id = self._run_with_nodes(store, 1, ["gate"])
        store.create_approval(Approval(run_id, "gate", requested_at=T0))
        for bad in ("", "maybe"):
            with pytest.raises(ValueError):
                store.resolve_approval(run_id, "gate", bad, "x", "", T0)
        assert store.resolve_approval(run_id, "gate", "timed_out", "", "", T0 + 1) is True

    def test_list_approvals(self, store: StateStore) -> None:
        a = self._run_with_nodes(store, 1, ["g1", "g2"])
        b = self._run_with_nodes(store, 2, ["g"])
        store.create_approval(Approval(a, "g2", requested_at=T0 + 2))
        store.create_approval(Approval(a, "g1", requested_at=T0 + 1))
        store.create_approval(Approval(b, "g", requested_at=T0 + 3))
        store.resolve_approval(a, "g1", "denied", "x", "", T0 + 4)

        def keys(**kw: Any) -> list[tuple[str, str]]:
            return [(x.run_id, x.node_id) for x in store.list_approvals(**kw)]

        assert keys() == [(a, "g1"), (a, "g2"), (b, "g")]
        assert keys(run_id=a) == [(a, "g1"), (a, "g2")]
        assert keys(pending_only=True) == [(a, "g2"), (b, "g")]
        assert keys(run_id=a, pending_only=True) == [(a, "g2")]
        assert keys(run_id=rid(404)) == []

    # -- memo cache index -------------------------------------------------------

    def test_cache_put_get_counts_hits(self, store: StateStore, open_store: StoreFactory) -> None:
        entry = CacheEntry("wheel:abc", rid(1), "build", output={"path": "dist/x.whl"},
                           pipeline="release", created_at=T0, expires_at=T0 + 100)
        store.cache_put(entry)
        got = store.cache_get("wheel:abc", T0 + 10)
        assert got is not None
        assert (got.run_id, got.node_id, got.output, got.pipeline) == (
            rid(1), "build", {"path": "dist/x.whl"}, "release",
        )
        assert (got.hits, got.last_hit_at, got.created_at, got.expires_at) == (
            1, T0 + 10, T0, T0 + 100,
        )
        other = open_store()
        again = other.cache_get("wheel:abc", T0 + 20)
        assert again is not None and (again.hits, again.last_hit_at) == (2, T0 + 20)
        assert store.cache_get("missing", T0) is None

    def test_cache_expiry(self, store: StateStore) -> None:
        store.cache_put(CacheEntry("k", rid(1), "n", output=1, created_at=T0, expires_at=T0 + 10))
        store.cache_put(CacheEntry("forever", rid(1), "n", output=2, created_at=T0,
                                   expires_at=0.0))
        assert store.cache_get("k", T0 + 10) is None  # expired exactly at expires_at
        listed = store.cache_list(include_expired=True)
        k = next(e for e in listed if e.key == "k")
        assert k.hits == 0  # a miss on an expired entry is not a hit
        forever = store.cache_get("forever", T0 + 10**9)
        assert forever is not None and forever.output == 2

    def test_cache_put_replaces(self, store: StateStore) -> None:
        store.cache_put(CacheEntry("k", rid(1), "a", output="old", created_at=T0))
        store.cache_get("k", T0 + 1)
        new = CacheEntry("k", rid(2), "b", output="new", created_at=T0 + 2, expires_at=0)
        store.cache_put(new)
        got = store.cache_get("k", T0 + 3)
        assert got is not None
        assert (got.run_id, got.node_id, got.output, got.created_at, got.hits) == (
            rid(2), "b", "new", T0 + 2, 1,
        )

    def test_cache_list_delete_prune(self, store: StateStore) -> None:
        far = 4_000_000_000.0  # far future: list without include_expired uses the clock
        store.cache_put(CacheEntry("go:1", rid(1), "a", created_at=T0 + 1, expires_at=far))
        store.cache_put(CacheEntry("go:2", rid(1), "a", created_at=T0 + 3, expires_at=0))
        store.cache_put(CacheEntry("py:1", rid(1), "a", created_at=T0 + 2, expires_at=far))
        store.cache_put(CacheEntry("go:old", rid(1), "a", created_at=T0 + 4, expires_at=T0 + 5))
        assert [e.key for e in store.cache_list()] == ["go:2", "py:1", "go:1"]
        assert [e.key for e in store.cache_list("go:")] == ["go:2", "go:1"]
        assert [e.key for e in store.cache_list("go:", include_expired=True)] == [
            "go:old", "go:2", "go:1",
        ]
        assert store.cache_list("G") == []
        assert store.cache_prune(T0 + 6) == 1
        assert store.cache_prune(T0 + 6) == 0
        assert [e.key for e in store.cache_list(include_expired=True)] == ["go:2", "py:1", "go:1"]
        assert store.cache_delete("py:1") is True
        assert store.cache_delete("py:1") is False
        assert store.cache_get("py:1", T0) is None
        assert store.cache_prune(far + 1) == 1  # go:1; go:2 never expires
        assert [e.key for e in store.cache_list(include_expired=True)] == ["go:2"]

    # -- concurrency leases -------------------------------------------------------

    @staticmethod
    def _acq(store: StateStore, holder: str, now: float, *, key: str = "deploy",
             capacity: int = 1, cost: int = 1, lease_s: float = 60.0) -> Any:
        return store.concurrency_acquire(
            key, holder, capacity=capacity, cost=cost, lease_s=lease_s, now=now,
            run_id=f"run-{holder}", node_id=f"node-{holder}",
        )

    def test_concurrency_capacity_one(self, store: StateStore) -> None:
        a = self._acq(store, "A", T0)
        assert (a.granted, a.active, a.ahead, a.holders) == (True, 1, 0, ["A"])
        b = self._acq(store, "B", T0 + 1)
        assert (b.granted, b.active, b.ahead, b.holders) == (False, 1, 0, ["A"])
        c = self._acq(store, "C", T0 + 2)
        assert (c.granted, c.ahead) == (False, 1)
        store.concurrency_release("deploy", "A")
        b = self._acq(store, "B", T0 + 3)
        assert (b.granted, b.active, b.ahead, b.holders) == (True, 1, 0, ["B"])
        c = self._acq(store, "C", T0 + 4)
        assert (c.granted, c.ahead) == (False, 0)

    def test_concurrency_fifo_oldest_waiter_first(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0).granted
        assert not self._acq(store, "B", T0 + 1).granted
        assert not self._acq(store, "C", T0 + 2).granted
        store.concurrency_release("deploy", "A")
        c = self._acq(store, "C", T0 + 3)  # C polls first, but B is older and would fit
        assert (c.granted, c.ahead, c.active) == (False, 1, 0)
        assert self._acq(store, "B", T0 + 4).granted
        assert not self._acq(store, "C", T0 + 5).granted

    def test_concurrency_waiter_keeps_arrival_time(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0).granted
        self._acq(store, "B", T0 + 1)
        self._acq(store, "C", T0 + 2)
        again = self._acq(store, "B", T0 + 3)  # repeat call: B stays ahead of C
        assert (again.granted, again.ahead) == (False, 0)
        holders, waiters = store.concurrency_state("deploy", T0 + 3)
        assert [w.holder_id for w in waiters] == ["B", "C"]
        assert waiters[0].arrived_at == T0 + 1 and waiters[0].lease_expires_at == T0 + 63
        assert self._acq(store, "C", T0 + 4).ahead == 1
        store.concurrency_release("deploy", "A")
        b = self._acq(store, "B", T0 + 5)
        assert b.granted
        holders, _ = store.concurrency_state("deploy", T0 + 5)
        assert holders[0].arrived_at == T0 + 1 and holders[0].claimed_at == T0 + 5

    def test_concurrency_ties_in_arrival_keep_call_order(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0).granted
        for h in ("Z", "M", "B"):
            self._acq(store, h, T0 + 1)
        _, waiters = store.concurrency_state("deploy", T0 + 1)
        assert [w.holder_id for w in waiters] == ["Z", "M", "B"]
        store.concurrency_release("deploy", "A")
        assert not self._acq(store, "B", T0 + 2).granted
        assert self._acq(store, "Z", T0 + 2).granted

    def test_concurrency_cost_and_capacity(self, store: StateStore) -> None:
        kw: dict[str, Any] = {"capacity": 3}
        a = self._acq(store, "A", T0, cost=2, **kw)
        assert (a.granted, a.active) == (True, 2)
        b = self._acq(store, "B", T0 + 1, cost=2, **kw)
        assert (b.granted, b.active, b.ahead) == (False, 2, 0)
        # C fits, and the older waiter B would not fit: C goes ahead of it
        c = self._acq(store, "C", T0 + 2, cost=1, **kw)
        assert (c.granted, c.active, c.ahead, c.holders) == (True, 3, 0, ["A", "C"])
        d = self._acq(store, "D", T0 + 3, cost=1, **kw)
        assert (d.granted, d.active, d.ahead) == (False, 3, 1)
        store.concurrency_release("deploy", "A")
        # D would fit, but the older B fits now too: B first
        assert not self._acq(store, "D", T0 + 4, cost=1, **kw).granted
        b = self._acq(store, "B", T0 + 5, cost=2, **kw)
        assert (b.granted, b.active, b.holders) == (True, 3, ["C", "B"])

    def test_concurrency_older_fitting_waiter_blocks(self, store: StateStore) -> None:
        kw: dict[str, Any] = {"capacity": 2}
        assert self._acq(store, "A", T0, cost=2, **kw).granted
        assert not self._acq(store, "B", T0 + 1, cost=1, **kw).granted
        assert not self._acq(store, "C", T0 + 2, cost=1, **kw).granted
        store.concurrency_release("deploy", "A")
        assert not self._acq(store, "C", T0 + 3, cost=1, **kw).granted
        assert self._acq(store, "B", T0 + 4, cost=1, **kw).granted
        c = self._acq(store, "C", T0 + 5, cost=1, **kw)
        assert (c.granted, c.active, c.holders) == (True, 2, ["B", "C"])

    def test_concurrency_regrant_renews_lease(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0, lease_s=10).granted
        again = self._acq(store, "A", T0 + 8, lease_s=10)
        assert (again.granted, again.active, again.holders) == (True, 1, ["A"])
        holders, _ = store.concurrency_state("deploy", T0 + 15)
        assert [h.holder_id for h in holders] == ["A"]
        assert holders[0].lease_expires_at == T0 + 18 and holders[0].claimed_at == T0
        assert not self._acq(store, "B", T0 + 15).granted

    def test_concurrency_expired_holder_is_reaped(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0, lease_s=10).granted
        assert not self._acq(store, "B", T0 + 5, lease_s=100).granted
        holders, _ = store.concurrency_state("deploy", T0 + 10)
        assert holders == []  # live only while lease_expires_at > now
        b = self._acq(store, "B", T0 + 10, lease_s=100)
        assert (b.granted, b.active, b.holders) == (True, 1, ["B"])
        # A comes back after losing its lease: it queues like anyone else
        a = self._acq(store, "A", T0 + 11, lease_s=10)
        assert (a.granted, a.holders) == (False, ["B"])

    def test_concurrency_expired_waiter_is_reaped(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0, lease_s=1000).granted
        assert not self._acq(store, "B", T0 + 1, lease_s=10).granted
        c = self._acq(store, "C", T0 + 20, lease_s=10)
        assert (c.granted, c.ahead) == (False, 0)
        _, waiters = store.concurrency_state("deploy", T0 + 20)
        assert [w.holder_id for w in waiters] == ["C"]
        # B returns: it lost its place and queues behind C
        assert self._acq(store, "B", T0 + 21, lease_s=10).ahead == 1

    def test_concurrency_renew(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0, lease_s=10).granted
        assert not self._acq(store, "B", T0 + 1, lease_s=10).granted
        assert self._acq(store, "A", T0, key="other", lease_s=10).granted
        store.concurrency_renew("A", T0 + 500)
        store.concurrency_renew("B", T0 + 500)
        holders, waiters = store.concurrency_state("deploy", T0 + 100)
        assert [(h.holder_id, h.lease_expires_at) for h in holders] == [("A", T0 + 500)]
        assert [(w.holder_id, w.lease_expires_at) for w in waiters] == [("B", T0 + 500)]
        other, _ = store.concurrency_state("other", T0 + 100)
        assert [h.lease_expires_at for h in other] == [T0 + 500]
        assert not self._acq(store, "C", T0 + 100).granted

    def test_concurrency_release_and_state(self, store: StateStore, open_store: StoreFactory) -> None:
        assert self._acq(store, "A", T0, capacity=2, cost=1).granted
        assert not self._acq(store, "B", T0 + 1, capacity=2, cost=2).granted
        store.concurrency_release("deploy", "nobody")  # no-op
        store.concurrency_release("elsewhere", "A")  # other key: no-op
        holders, waiters = open_store().concurrency_state("deploy", T0 + 2)
        assert holders == [
            Lease(
                key="deploy", holder_id="A", run_id="run-A", node_id="node-A", cost=1,
                capacity=2, arrived_at=T0, claimed_at=T0, lease_expires_at=T0 + 60,
            )
        ]
        w = waiters[0]
        assert (w.key, w.holder_id, w.run_id, w.node_id, w.cost, w.capacity) == (
            "deploy", "B", "run-B", "node-B", 2, 2,
        )
        assert (w.arrived_at, w.claimed_at, w.lease_expires_at) == (T0 + 1, None, T0 + 61)
        store.concurrency_release("deploy", "B")  # drops a wait
        store.concurrency_release("deploy", "A")  # drops a hold
        assert store.concurrency_state("deploy", T0 + 2) == ([], [])

    def test_concurrency_keys_are_independent(self, store: StateStore) -> None:
        assert self._acq(store, "A", T0, key="k1").granted
        assert self._acq(store, "B", T0, key="k2").granted
        assert not self._acq(store, "C", T0, key="k1").granted
        assert self._acq(store, "A", T0, key="k2", capacity=2).granted

    def test_concurrency_across_instances(self, open_store: StoreFactory) -> None:
        one, two = open_store(), open_store()
        assert self._acq(one, "A", T0).granted
        assert not self._acq(two, "B", T0 + 1).granted
        one.concurrency_release("deploy", "A")
        assert self._acq(two, "B", T0 + 2).granted

    # -- debug pauses -------------------------------------------------------------

    def test_pause_create_get_replace(self, store: StateStore, open_store: StoreFactory) -> None:
        run_id = self._run_with_nodes(store, 1, ["a"])
        first = Pause(run_id, "a", "pause-before", T0, T0 + 600)
        store.create_pause(first)
        assert open_store().get_pause(run_id, "a") == first
        assert store.get_pause(run_id, "b") is None
        assert store.release_pause(run_id, "a", "ada", "manual", T0 + 5) is True
        second = Pause(run_id, "a", "pause-after", T0 + 10, T0 + 610)
        store.create_pause(second)
        assert store.get_pause(run_id, "a") == second

    def test_pause_releases_once(self, store: StateStore) -> None:
        run_id = self._run_with_nodes(store, 1, ["a"])
        store.create_pause(Pause(run_id, "a", "pause-on-failure", T0, T0 + 600))
        assert store.release_pause(run_id, "a", "ada", "manual", T0 + 5) is True
        assert store.release_pause(run_id, "a", "sys", "timeout-released", T0 + 600) is False
        got = store.get_pause(run_id, "a")
        assert got is not None
        assert (got.released_at, got.released_by, got.release_kind) == (T0 + 5, "ada", "manual")
        assert store.release_pause(run_id, "zz", "ada", "manual", T0) is False

    def test_list_pauses(self, store: StateStore) -> None:
        a = self._run_with_nodes(store, 1, ["x", "y"])
        b = self._run_with_nodes(store, 2, ["x"])
        store.create_pause(Pause(a, "y", "pause-before", T0 + 2, T0 + 600))
        store.create_pause(Pause(a, "x", "pause-before", T0 + 1, T0 + 600))
        store.create_pause(Pause(b, "x", "pause-after", T0 + 3, T0 + 600))
        store.release_pause(a, "x", "ada", "manual", T0 + 4)

        def keys(**kw: Any) -> list[tuple[str, str]]:
            return [(p.run_id, p.node_id) for p in store.list_pauses(**kw)]

        assert keys() == [(a, "x"), (a, "y"), (b, "x")]
        assert keys(run_id=a) == [(a, "x"), (a, "y")]
        assert keys(held_only=True) == [(a, "y"), (b, "x")]
        assert keys(run_id=b, held_only=True) == [(b, "x")]
        assert keys(run_id=rid(404)) == []

    # -- triggers --------------------------------------------------------------------

    def test_trigger_round_trips_every_field(
        self, store: StateStore, open_store: StoreFactory,
    ) -> None:
        row = TriggerRow(
            id="trg-1", idempotency_key="github:delivery-1", pipeline="release",
            source="github", status="claimed", run_id="", error="",
            request={"pipeline": "release", "inputs": {"v": "1.2"}, "trigger": {"actor": "ann"}},
            created_at=T0, claimed_at=T0 + 1, lease_expires_at=T0 + 61, claimed_by="worker-a",
            claims=1, finished_at=None, claim_request="req-1",
        )
        stored, created = store.insert_trigger(row)
        assert created and stored == row
        assert open_store().get_trigger("trg-1") == row
        assert store.get_trigger("trg-404") is None

    def test_trigger_key_is_recorded_once(self, store: StateStore) -> None:
        first, created = store.insert_trigger(make_trigger(1, idempotency_key="k"))
        assert created
        again, created_again = store.insert_trigger(
            make_trigger(2, idempotency_key="k", pipeline="other", status="claimed"))
        assert not created_again
        assert again == first and again.id == make_trigger(1).id and again.pipeline == "build"
        assert [t.id for t in store.list_triggers()] == [first.id]

    def test_trigger_id_under_another_key_raises(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1))
        with pytest.raises(StoreError):
            store.insert_trigger(make_trigger(1, idempotency_key="another"))

    def test_list_triggers_newest_first_with_filters(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1, source="schedule"))
        store.insert_trigger(make_trigger(2, pipeline="deploy"))
        store.insert_trigger(make_trigger(3, source="schedule", status="done", run_id=rid(3)))
        store.insert_trigger(make_trigger(4, created_at=T0 + 3))  # ties order by id
        assert [t.id for t in store.list_triggers()] == [
            "trg-000004", "trg-000003", "trg-000002", "trg-000001"]
        assert [t.id for t in store.list_triggers(limit=2)] == ["trg-000004", "trg-000003"]
        assert [t.id for t in store.list_triggers(pipeline="deploy")] == ["trg-000002"]
        assert [t.id for t in store.list_triggers(source="schedule")] == [
            "trg-000003", "trg-000001"]
        assert [t.id for t in store.list_triggers(status="pending", source="schedule")] == [
            "trg-000001"]
        assert store.list_triggers(pipeline="nope") == []
        for i in range(5, 30):
            store.insert_trigger(make_trigger(i))
        assert len(store.list_triggers()) == 20
        assert len(store.list_triggers(limit=0)) == 29

    def test_claim_takes_the_oldest_pending(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(3))
        store.insert_trigger(make_trigger(1, status="done", run_id=rid(1)))
        store.insert_trigger(make_trigger(2))
        got = store.claim_trigger("a", lease_s=60, now=T0 + 100)
        assert got is not None and got.id == "trg-000002"
        assert (got.status, got.claimed_by, got.claimed_at, got.lease_expires_at, got.claims) == (
            "claimed", "a", T0 + 100, T0 + 160, 1)
        assert store.get_trigger("trg-000002") == got
        nxt = store.claim_trigger("b", lease_s=60, now=T0 + 101)
        assert nxt is not None and nxt.id == "trg-000003" and nxt.claimed_by == "b"
        assert store.claim_trigger("c", lease_s=60, now=T0 + 102) is None

    def test_claim_one_row_by_id(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1))
        store.insert_trigger(make_trigger(2))
        got = store.claim_trigger("a", lease_s=60, now=T0, trigger_id="trg-000002")
        assert got is not None and got.id == "trg-000002"
        assert store.claim_trigger("b", lease_s=60, now=T0, trigger_id="trg-000002") is None
        assert store.claim_trigger("b", lease_s=60, now=T0, trigger_id="trg-404") is None
        first = store.get_trigger("trg-000001")
        assert first is not None and first.status == "pending"

    def test_renew_trigger_only_for_its_holder(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1))
        store.claim_trigger("a", lease_s=60, now=T0)
        assert store.renew_trigger("trg-000001", "a", T0 + 500)
        assert not store.renew_trigger("trg-000001", "b", T0 + 900)
        assert not store.renew_trigger("trg-404", "a", T0 + 900)
        row = store.get_trigger("trg-000001")
        assert row is not None and row.lease_expires_at == T0 + 500

    def test_finish_trigger_is_fenced_by_its_holder(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1))
        store.insert_trigger(make_trigger(2))
        store.claim_trigger("a", lease_s=60, now=T0)
        store.claim_trigger("b", lease_s=60, now=T0)
        assert not store.finish_trigger("trg-000001", "b", status="done", now=T0 + 5,
                                        run_id=rid(1))
        assert store.finish_trigger("trg-000001", "a", status="done", now=T0 + 5, run_id=rid(1))
        assert not store.finish_trigger("trg-000001", "a", status="failed", now=T0 + 6,
                                        error="late")
        done = store.get_trigger("trg-000001")
        assert done is not None
        assert (done.status, done.run_id, done.finished_at, done.claimed_by,
                done.lease_expires_at, done.error) == ("done", rid(1), T0 + 5, "", None, "")
        assert store.finish_trigger("trg-000002", "b", status="failed", now=T0 + 7,
                                    error="unknown pipeline")
        failed = store.get_trigger("trg-000002")
        assert failed is not None
        assert (failed.status, failed.error, failed.run_id) == ("failed", "unknown pipeline", "")
        with pytest.raises(ValueError):
            store.finish_trigger("trg-000002", "b", status="pending", now=T0)

    def test_expired_claims_are_requeued(self, store: StateStore) -> None:
        for i in (1, 2, 3):
            store.insert_trigger(make_trigger(i))
        store.claim_trigger("a", lease_s=10, now=T0)        # trg-1 expires at T0 + 10
        store.claim_trigger("b", lease_s=100, now=T0)       # trg-2 expires at T0 + 100
        store.claim_trigger("c", lease_s=5, now=T0)         # trg-3 expires at T0 + 5
        assert store.requeue_expired_triggers(T0 + 4) == []
        assert store.requeue_expired_triggers(T0 + 10) == ["trg-000001", "trg-000003"]
        back = store.get_trigger("trg-000001")
        assert back is not None
        assert (back.status, back.claimed_by, back.lease_expires_at, back.claims) == (
            "pending", "", None, 1)
        assert not store.finish_trigger("trg-000001", "a", status="done", now=T0 + 11)
        again = store.claim_trigger("d", lease_s=10, now=T0 + 11)
        assert again is not None and again.id == "trg-000001" and again.claims == 2
        held = store.get_trigger("trg-000002")
        assert held is not None and held.status == "claimed" and held.claimed_by == "b"

    def test_claim_filters_by_pipeline_and_source(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1, pipeline="deploy"))
        store.insert_trigger(make_trigger(2, source="schedule"))
        store.insert_trigger(make_trigger(3, pipeline="deploy", source="schedule"))
        store.insert_trigger(make_trigger(4))
        assert store.claim_trigger("a", lease_s=60, now=T0, pipelines=["lint"]) is None
        got = store.claim_trigger("a", lease_s=60, now=T0, sources=["schedule"])
        assert got is not None and got.id == "trg-000002"
        got = store.claim_trigger("a", lease_s=60, now=T0, pipelines=["deploy", "x"],
                                  sources=["schedule"])
        assert got is not None and got.id == "trg-000003"
        got = store.claim_trigger("a", lease_s=60, now=T0, pipelines=["build"])
        assert got is not None and got.id == "trg-000004"
        assert store.claim_trigger("a", lease_s=60, now=T0, pipelines=["build"]) is None
        got = store.claim_trigger("a", lease_s=60, now=T0)
        assert got is not None and got.id == "trg-000001"

    def test_renew_and_finish_are_fenced_by_the_claim_number(self, store: StateStore) -> None:
        store.insert_trigger(make_trigger(1))
        first = store.claim_trigger("a", lease_s=10, now=T0)
        assert first is not None and first.claims == 1
        assert store.renew_trigger("trg-000001", "a", T0 + 20, claims=1)
        assert store.requeue_expired_triggers(T0 + 30) == ["trg-000001"]
        # The same holder claims the row again: its first claim's token is stale.
        again = store.claim_trigger("a", lease_s=60, now=T0 + 31)
        assert again is not None and again.claims == 2
        assert not store.renew_trigger("trg-000001", "a", T0 + 900, claims=1)
        assert not store.finish_trigger("trg-000001", "a", status="done", now=T0 + 32,
                                        run_id=rid(1), claims=1)
        row = store.get_trigger("trg-000001")
        assert row is not None and (row.status, row.lease_expires_at) == ("claimed", T0 + 91)
        assert store.renew_trigger("trg-000001", "a", T0 + 95, claims=2)
        assert store.finish_trigger("trg-000001", "a", status="done", now=T0 + 33,
                                    run_id=rid(1), claims=2)
        done = store.get_trigger("trg-000001")
        assert done is not None and (done.status, done.run_id) == ("done", rid(1))

    def test_a_repeated_claim_request_answers_the_same_trigger_claim(
        self, store: StateStore,
    ) -> None:
        for i in (1, 2, 3):
            store.insert_trigger(make_trigger(i))
        first = store.claim_trigger("a", lease_s=60, now=T0, request_id="req-1")
        assert first is not None and (first.id, first.claims, first.claim_request) == (
            "trg-000001", 1, "req-1")
        # The answer was lost; the retry repeats the id: the same claim, unchanged.
        assert store.claim_trigger("a", lease_s=60, now=T0 + 5, request_id="req-1") == first
        assert store.get_trigger("trg-000001") == first
        other = store.claim_trigger("a", lease_s=60, now=T0 + 6, request_id="req-2")
        assert other is not None and other.id == "trg-000002"
        # Another holder's id answers nothing and claims nothing.
        assert store.claim_trigger("b", lease_s=60, now=T0 + 7, request_id="req-1") is None
        row = store.get_trigger("trg-000003")
        assert row is not None and row.status == "pending"
        plain = store.claim_trigger("a", lease_s=60, now=T0 + 8)
        assert plain is not None and (plain.id, plain.claim_request) == ("trg-000003", None)
        # Nothing is pending any more: a repeat still gets its claim.
        assert store.claim_trigger("a", lease_s=60, now=T0 + 9, request_id="req-1") == first

    def test_a_stale_claim_request_resurrects_no_trigger_claim(self, store: StateStore) -> None:
        for i in (1, 2, 3):
            store.insert_trigger(make_trigger(i))
        store.claim_trigger("a", lease_s=60, now=T0, request_id="req-1")
        assert store.finish_trigger("trg-000001", "a", status="done", now=T0 + 1, run_id=rid(1),
                                    claims=1)
        done = store.get_trigger("trg-000001")
        # Finished: a late repeat claims nothing (neither the old row nor another one).
        assert store.claim_trigger("a", lease_s=60, now=T0 + 2, request_id="req-1") is None
        assert store.get_trigger("trg-000001") == done
        assert [t.id for t in store.list_triggers(status="pending")] == [
            "trg-000003", "trg-000002"]
        # Requeued after its lease ran out: the id is forgotten; a repeat is a new claim.
        store.claim_trigger("a", lease_s=10, now=T0, request_id="req-2")
        assert store.requeue_expired_triggers(T0 + 10) == ["trg-000002"]
        back = store.get_trigger("trg-000002")
        assert back is not None and (back.status, back.claim_request) == ("pending", None)
        again = store.claim_trigger("a", lease_s=60, now=T0 + 11, request_id="req-2")
        assert again is not None and (again.id, again.claims) == ("trg-000002", 2)
        assert not store.renew_trigger("trg-000002", "a", T0 + 90, claims=1)

    def test_trigger_key_race_across_processes(self, store_factory: StoreFactory) -> None:
        """Four processes insert the same 20 keys at once: each key is created exactly once."""
        store_factory().close()  # the location exists before the race
        results = run_in_processes(insert_trigger_key,
                                   [(store_factory, w, "race") for w in range(4)])
        for r in range(20):
            assert sum(worker[r] for worker in results) == 1
        store = store_factory()
        try:
            rows = store.list_triggers(limit=0)
        finally:
            store.close()
        assert sorted(t.idempotency_key for t in rows) == sorted(f"race-{r}" for r in range(20))

    def test_trigger_claims_race_across_processes(self, store_factory: StoreFactory) -> None:
        """Three processes claim from one queue of 30 rows: every row goes to exactly one."""
        store = store_factory()
        try:
            for i in range(30):
                store.insert_trigger(make_trigger(i))
        finally:
            store.close()
        results = run_in_processes(claim_triggers,
                                   [(store_factory, f"holder-{w}") for w in range(3)])
        claimed = [t for got in results for t in got]
        assert sorted(claimed) == sorted(make_trigger(i).id for i in range(30))

    # -- sharing -------------------------------------------------------------------

    def test_writes_are_visible_to_other_instances_at_once(
        self, store: StateStore, open_store: StoreFactory,
    ) -> None:
        reader = open_store()
        assert reader.list_runs() == []
        store.create_run(make_run(1))
        store.create_nodes(rid(1), [Node(rid(1), "a")])
        store.update_node(rid(1), "a", {"status": "running"}, event=(NODE_STARTED, {}))
        store.update_run(rid(1), {"status": "running"})
        got = reader.get_run(rid(1))
        assert got is not None and got.status == "running"
        node = reader.get_node(rid(1), "a")
        assert node is not None and node.status == "running"
        assert [e.kind for e in reader.list_events(rid(1))] == [NODE_STARTED]


class ThreadSafeStateStoreSuite(StateStoreSuite):
    """:class:`StateStoreSuite` plus the checks for a store shared by the threads of a process.

    Subclass this instead of :class:`StateStoreSuite` when the backend says
    one instance may be used from several threads at once.
    """

    __test__ = False

    def test_threads_sharing_one_store(self, store: StateStore) -> None:
        store.create_run(make_run(1))
        store.create_nodes(rid(1), [Node(rid(1), f"n{t}") for t in range(4)])
        errors: list[BaseException] = []
        seqs: list[int] = []

        def work(t: int) -> None:
            try:
                for i in range(50):
                    seqs.append(store.append_event(rid(1), "tick", {"t": t, "i": i}))
                    got = store.update_node(rid(1), f"n{t}", {"attempts": i}, event=("n", {}))
                    assert got is not None
                    seqs.append(got)
                    store.get_node(rid(1), f"n{t}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(seqs) == list(range(1, 401))
        assert [e.seq for e in store.list_events(rid(1), limit=1000)] == list(range(1, 401))
        assert [n.attempts for n in store.list_nodes(rid(1))] == [49] * 4
