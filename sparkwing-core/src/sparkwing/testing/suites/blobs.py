"""Conformance suite for :class:`~sparkwing.storage.blobs.contracts.BlobStore` backends.

Use it by subclassing and providing two fixtures::

    from sparkwing.testing.suites.blobs import BlobStoreSuite

    class TestMyBlobStore(BlobStoreSuite):
        __test__ = True

        @pytest.fixture
        def blob_factory(self, emulator):
            return functools.partial(MyBlobStore, bucket="test", endpoint_url=emulator.url)

        @pytest.fixture
        def bad_blob_factory(self, emulator):
            return functools.partial(MyBlobStore, bucket="no-such-bucket",
                                     endpoint_url=emulator.url)

``blob_factory`` is a zero-argument callable opening a *new* store on one
backing location each time it is called; it must be picklable (a
``functools.partial`` of the class) because the race tests call it in
spawned processes. Every test keeps its keys under a fresh prefix, so the
location may be shared between tests. ``bad_blob_factory`` opens a store
whose :meth:`~BlobStore.check` must fail with a one-line
:class:`~sparkwing.errors.ConfigError` (a missing bucket, say).

Semantics pinned here beyond the contract's docstrings (every backend must
agree, whatever its provider's dialect):

* ``put(if_match=etag)`` on a missing object raises ``PreconditionFailed``
  (S3 answers 404 there: map it);
* ``delete`` of a missing object returns ``False``, with or without
  ``if_match``; ``delete(if_match=stale)`` of an existing one raises
  ``PreconditionFailed`` and leaves it;
* a write of other bytes returns an etag different from the previous
  version's; writing the same bytes again may return the same etag (S3's
  ETag is their MD5), which is safe for compare-and-swap: a swap that
  matches it replaces the very content its writer read;
* ``list_page`` is by plain string prefix (``a/b`` matches ``a/b/c`` and
  ``a/bc``), in key order (Unicode code point order, which is UTF-8 byte
  order), pages never repeat or skip a key, and ``next_token`` is ``""``
  exactly on the last page;
* ``get_range`` with *start* at or past the end returns ``b""`` and an
  *end* past the end is cut at the end.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from sparkwing.errors import ConfigError, NotFoundError
from sparkwing.storage.blobs.contracts import BlobInfo, BlobStore, PreconditionFailed

from .state import run_in_processes

BlobFactory0 = Callable[[], BlobStore]


# -- helpers run in other processes (module level: picklable) ---------------------------


def create_once(factory: BlobFactory0, key: str, worker: int) -> bool:
    """Try to create *key* with ``if_none_match="*"``; return whether this call won."""
    store = factory()
    try:
        store.put(key, f"worker {worker}".encode(), if_none_match="*")
        return True
    except PreconditionFailed:
        return False
    finally:
        store.close()


def increment(factory: BlobFactory0, key: str, times: int) -> int:
    """Add one to the decimal counter in *key*, *times* times, by compare-and-swap; return conflicts."""
    store = factory()
    conflicts = 0
    try:
        for _ in range(times):
            while True:
                blob = store.get(key)
                assert blob is not None, f"counter {key} vanished"
                value = int(blob.data.decode())
                try:
                    store.put(key, str(value + 1).encode(), if_match=blob.info.etag)
                    break
                except PreconditionFailed:
                    conflicts += 1
    finally:
        store.close()
    return conflicts


def list_all(store: BlobStore, prefix: str, page_size: int = 1000) -> list[BlobInfo]:
    """Every object under *prefix*, following pages (fails on a page that repeats or skips)."""
    out: list[BlobInfo] = []
    token = ""
    for _ in range(100_000):
        page = store.list_page(prefix, page_token=token, page_size=page_size)
        assert len(page.items) <= page_size
        out.extend(page.items)
        if not page.next_token:
            return out
        assert page.items, "a page with a next token must not be empty"
        token = page.next_token
    raise AssertionError("listing did not end")


class BlobStoreSuite:
    """Behaviour every blob store must show. Subclass, set ``__test__ = True``, and
    override ``blob_factory`` and ``bad_blob_factory``."""

    __test__ = False

    @pytest.fixture
    def blob_factory(self) -> BlobFactory0:
        """Return a picklable callable opening a new store on one location (override this)."""
        raise NotImplementedError("a BlobStoreSuite subclass must override blob_factory")

    @pytest.fixture
    def bad_blob_factory(self) -> BlobFactory0:
        """Return a callable opening a store whose check() fails (override this)."""
        raise NotImplementedError("a BlobStoreSuite subclass must override bad_blob_factory")

    @pytest.fixture
    def store(self, blob_factory: BlobFactory0) -> Iterator[BlobStore]:
        """One store, closed after the test."""
        store = blob_factory()
        yield store
        store.close()

    @pytest.fixture
    def other(self, blob_factory: BlobFactory0) -> Iterator[BlobStore]:
        """A second store on the same location (as another process would open it)."""
        store = blob_factory()
        yield store
        store.close()

    @pytest.fixture
    def ns(self) -> str:
        """A fresh key prefix ending in ``/``."""
        return f"suite-{uuid.uuid4().hex[:12]}/"

    # -- basics ----------------------------------------------------------------------
    def test_implements_the_protocol(self, store: BlobStore) -> None:
        assert isinstance(store, BlobStore)
        assert isinstance(store.kind, str) and store.kind

    def test_check_passes(self, store: BlobStore) -> None:
        store.check()

    def test_check_fails_in_one_line_for_a_bad_location(
        self, bad_blob_factory: BlobFactory0
    ) -> None:
        store = bad_blob_factory()
        try:
            with pytest.raises(ConfigError) as info:
                store.check()
            assert "\n" not in str(info.value) and str(info.value)
        finally:
            store.close()

    def test_put_get_head_round_trip(self, store: BlobStore, other: BlobStore, ns: str) -> None:
        data = b"hello " + uuid.uuid4().bytes
        info = store.put(ns + "a/b.json", data, content_type="application/json")
        assert (info.key, info.size) == (ns + "a/b.json", len(data)) and info.etag
        blob = other.get(ns + "a/b.json")
        assert blob is not None and blob.data == data
        assert (blob.info.key, blob.info.etag, blob.info.size) == (ns + "a/b.json", info.etag,
                                                                    len(data))
        head = other.head(ns + "a/b.json")
        assert head is not None and (head.etag, head.size) == (info.etag, len(data))

    def test_missing_objects(self, store: BlobStore, ns: str) -> None:
        assert store.get(ns + "nothing") is None
        assert store.head(ns + "nothing") is None
        assert store.get(ns + "no/such/dir/key") is None
        with pytest.raises(NotFoundError):
            store.get_range(ns + "nothing", 0, 10)
        assert store.delete(ns + "nothing") is False
        assert store.delete(ns + "nothing", if_match="some-etag") is False

    def test_empty_binary_and_large_objects(self, store: BlobStore, ns: str) -> None:
        for i, data in enumerate((b"", bytes(range(256)) * 64, os.urandom(2 * 1024 * 1024 + 3))):
            info = store.put(ns + f"obj{i}", data)
            assert info.size == len(data)
            blob = store.get(ns + f"obj{i}")
            assert blob is not None and blob.data == data
            assert hashlib.sha256(blob.data).digest() == hashlib.sha256(data).digest()

    def test_overwrite_changes_the_etag(self, store: BlobStore, ns: str) -> None:
        first = store.put(ns + "k", b"one")
        second = store.put(ns + "k", b"two")
        assert second.etag != first.etag
        # The same bytes again may bring the first etag back (S3's ETag is their MD5);
        # it still differs from the version it replaced, so a CAS on that one fails.
        third = store.put(ns + "k", b"one")
        assert third.etag != second.etag
        with pytest.raises(PreconditionFailed):
            store.put(ns + "k", b"stale", if_match=second.etag)
        blob = store.get(ns + "k")
        assert blob is not None and blob.data == b"one" and blob.info.etag == third.etag

    def test_get_range(self, store: BlobStore, ns: str) -> None:
        data = bytes(range(200))
        store.put(ns + "r", data)
        assert store.get_range(ns + "r", 0, 10) == data[:10]
        assert store.get_range(ns + "r", 50, 60) == data[50:60]
        assert store.get_range(ns + "r", 150) == data[150:]
        assert store.get_range(ns + "r", 190, 1000) == data[190:]
        assert store.get_range(ns + "r", 200) == b""
        assert store.get_range(ns + "r", 500) == b""
        assert store.get_range(ns + "r", 0) == data

    # -- conditional writes ------------------------------------------------------------
    def test_create_only(self, store: BlobStore, other: BlobStore, ns: str) -> None:
        made = store.put(ns + "lock", b"one", if_none_match="*")
        with pytest.raises(PreconditionFailed):
            other.put(ns + "lock", b"two", if_none_match="*")
        blob = store.get(ns + "lock")
        assert blob is not None and blob.data == b"one" and blob.info.etag == made.etag
        assert store.delete(ns + "lock") is True
        store.put(ns + "lock", b"three", if_none_match="*")  # free again after delete

    def test_compare_and_swap(self, store: BlobStore, other: BlobStore, ns: str) -> None:
        v1 = store.put(ns + "doc", b"v1")
        v2 = other.put(ns + "doc", b"v2", if_match=v1.etag)
        with pytest.raises(PreconditionFailed):
            store.put(ns + "doc", b"stale", if_match=v1.etag)
        blob = store.get(ns + "doc")
        assert blob is not None and (blob.data, blob.info.etag) == (b"v2", v2.etag)
        v3 = store.put(ns + "doc", b"v3", if_match=blob.info.etag)
        assert v3.etag not in (v1.etag, v2.etag)

    def test_compare_and_swap_on_a_missing_object_fails(self, store: BlobStore, ns: str) -> None:
        etag = store.put(ns + "gone", b"x").etag
        assert store.delete(ns + "gone") is True
        with pytest.raises(PreconditionFailed):
            store.put(ns + "gone", b"y", if_match=etag)
        with pytest.raises(PreconditionFailed):
            store.put(ns + "never", b"y", if_match=etag)
        assert store.get(ns + "gone") is None and store.get(ns + "never") is None

    def test_conditional_delete(self, store: BlobStore, ns: str) -> None:
        old = store.put(ns + "d", b"1")
        new = store.put(ns + "d", b"2")
        with pytest.raises(PreconditionFailed):
            store.delete(ns + "d", if_match=old.etag)
        assert store.get(ns + "d") is not None
        assert store.delete(ns + "d", if_match=new.etag) is True
        assert store.get(ns + "d") is None
        assert store.delete(ns + "d", if_match=new.etag) is False

    def test_create_race_between_threads_has_one_winner(
        self, blob_factory: BlobFactory0, ns: str
    ) -> None:
        key = ns + "race"
        stores = [blob_factory() for _ in range(8)]
        barrier = threading.Barrier(len(stores))
        wins: list[bool] = [False] * len(stores)

        def attempt(i: int) -> None:
            barrier.wait(30)
            try:
                stores[i].put(key, f"thread {i}".encode(), if_none_match="*")
                wins[i] = True
            except PreconditionFailed:
                pass

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        try:
            assert sum(wins) == 1
            blob = stores[0].get(key)
            assert blob is not None and blob.data == f"thread {wins.index(True)}".encode()
        finally:
            for s in stores:
                s.close()

    def test_cas_counter_from_threads_loses_no_update(
        self, blob_factory: BlobFactory0, store: BlobStore, ns: str
    ) -> None:
        key = ns + "counter"
        store.put(key, b"0")
        threads = [threading.Thread(target=increment, args=(blob_factory, key, 25))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        blob = store.get(key)
        assert blob is not None and blob.data == b"100"

    def test_create_race_between_processes_has_one_winner(
        self, blob_factory: BlobFactory0, ns: str
    ) -> None:
        results = run_in_processes(create_once, [(blob_factory, ns + "p-race", w) for w in range(4)])
        assert sorted(results) == [False, False, False, True]

    def test_cas_counter_from_processes_loses_no_update(
        self, blob_factory: BlobFactory0, store: BlobStore, ns: str
    ) -> None:
        key = ns + "p-counter"
        store.put(key, b"0")
        run_in_processes(increment, [(blob_factory, key, 30) for _ in range(3)])
        blob = store.get(key)
        assert blob is not None and blob.data == b"90"

    # -- listing ------------------------------------------------------------------------
    def test_list_by_plain_prefix_in_key_order(self, store: BlobStore, ns: str) -> None:
        keys = [
            ns + "runs/r1/events/0000000001.json",
            ns + "runs/r1/events/0000000002.json",
            ns + "runs/r1/head.json",
            ns + "runs/r2/head.json",
            ns + "runs-old/x",
            ns + "top",
        ]
        for key in reversed(keys):
            store.put(key, key.encode())
        listed = list_all(store, ns)
        assert [i.key for i in listed] == sorted(keys)
        assert [i.size for i in listed] == [len(k.encode()) for k in sorted(keys)]

        def under(prefix: str) -> list[str]:
            return sorted(k for k in keys if k.startswith(prefix))

        assert [i.key for i in list_all(store, ns + "runs/")] == under(ns + "runs/")
        assert len(under(ns + "runs/")) == 4
        assert [i.key for i in list_all(store, ns + "runs")] == under(ns + "runs")
        assert [i.key for i in list_all(store, ns + "runs/r1/")] == keys[:3]
        assert [i.key for i in list_all(store, ns + "runs/r1/ev")] == keys[:2]
        assert [i.key for i in list_all(store, ns + "to")] == [ns + "top"]
        assert list_all(store, ns + "zzz") == []
        assert list_all(store, ns + "zzz/") == []

    def test_list_items_carry_the_etag(self, store: BlobStore, ns: str) -> None:
        made = {store.put(ns + f"e{i}", b"x" * i).etag for i in range(3)}
        listed = list_all(store, ns)
        assert {i.etag for i in listed} == made
        for info in listed:
            head = store.head(info.key)
            assert head is not None and head.etag == info.etag and head.size == info.size

    def test_list_pages(self, store: BlobStore, other: BlobStore, ns: str) -> None:
        keys = [ns + f"page/{i:04d}" for i in range(23)]
        for key in keys:
            store.put(key, b"p")
        first = other.list_page(ns + "page/", page_size=10)
        assert [i.key for i in first.items] == keys[:10] and first.next_token
        second = other.list_page(ns + "page/", page_token=first.next_token, page_size=10)
        assert [i.key for i in second.items] == keys[10:20] and second.next_token
        third = other.list_page(ns + "page/", page_token=second.next_token, page_size=10)
        assert [i.key for i in third.items] == keys[20:] and third.next_token == ""
        assert [i.key for i in list_all(other, ns + "page/", page_size=7)] == keys
        exact = other.list_page(ns + "page/", page_size=23)
        assert len(exact.items) == 23 and exact.next_token == ""

    def test_keys_with_unusual_characters_stay_distinct(self, store: BlobStore, ns: str) -> None:
        names = ["A", "a", "a b", "a%20b", "a+b", "héllo", "日本", "a~1", "a.b", ".dot",
                 "x=y&z", "emoji-\U0001f680", "UPPER/lower", "upper/lower"]
        for name in names:
            store.put(ns + name, name.encode())
        for name in names:
            blob = store.get(ns + name)
            assert blob is not None and blob.data == name.encode(), name
        assert [i.key for i in list_all(store, ns)] == sorted(ns + n for n in names)

    def test_delete_removes_from_listing(self, store: BlobStore, ns: str) -> None:
        for i in range(3):
            store.put(ns + f"dir/{i}", b"x")
        assert store.delete(ns + "dir/1") is True
        assert [i.key for i in list_all(store, ns + "dir/")] == [ns + "dir/0", ns + "dir/2"]
        store.delete(ns + "dir/0")
        store.delete(ns + "dir/2")
        assert list_all(store, ns) == []
        store.put(ns + "dir/again", b"y")  # a prefix emptied by deletes takes new objects
        assert [i.key for i in list_all(store, ns)] == [ns + "dir/again"]
