"""Conformance suite for :class:`~sparkwing.storage.contracts.ArtifactStore` backends.

Use it by subclassing and providing ``store_factory``::

    from sparkwing.testing.suites.artifacts import ArtifactStoreSuite

    class TestMyArtifactStore(ArtifactStoreSuite):
        __test__ = True

        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: MyArtifactStore(tmp_path / "artifacts")

``store_factory`` is a zero-argument callable that opens a *new* store
instance on the same backing location each time it is called. Every test
keeps its keys under a fresh prefix, so a location shared between tests is
fine. ``list(prefix)`` is checked as a plain string prefix (``"a/b"``
matches ``a/b/c`` and ``a/bc``), as object stores list.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from sparkwing.errors import NotFoundError, SparkwingError
from sparkwing.storage.contracts import ArtifactStore

BAD_KEYS = ["", "/abs", "../x", "a/../b", "a//b", "a/./b", "a\\b", "x/", "a\x00b", "."]


class ArtifactStoreSuite:
    """Behaviour every artifact store must show. Subclass, set ``__test__ = True``,
    and override the ``store_factory`` fixture."""

    __test__ = False

    @pytest.fixture
    def store_factory(self) -> Callable[[], ArtifactStore]:
        """Return a callable opening a new store on one backing location (override this)."""
        raise NotImplementedError("an ArtifactStoreSuite subclass must override store_factory")

    @pytest.fixture
    def store(self, store_factory: Callable[[], ArtifactStore]) -> Iterator[ArtifactStore]:
        """One store instance, closed after the test."""
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def other(self, store_factory: Callable[[], ArtifactStore]) -> Iterator[ArtifactStore]:
        """A second instance on the same location (as another process would open it)."""
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def ns(self) -> str:
        """A fresh key prefix ending in ``/``."""
        return f"suite-{uuid.uuid4().hex[:12]}/"

    # -- blobs ------------------------------------------------------------------
    def test_implements_the_protocol(self, store: ArtifactStore) -> None:
        assert isinstance(store, ArtifactStore)

    def test_blob_round_trip_and_digest_is_sha256(self, store: ArtifactStore) -> None:
        data = b"hello artifacts " + uuid.uuid4().bytes
        digest = store.put_blob(data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert store.has_blob(digest)
        assert store.get_blob(digest) == data

    def test_same_content_dedups_to_one_digest(
        self, store: ArtifactStore, other: ArtifactStore
    ) -> None:
        data = uuid.uuid4().bytes * 100
        first = store.put_blob(data)
        assert store.put_blob(data) == first
        assert other.put_blob(data) == first
        assert other.get_blob(first) == data

    def test_binary_empty_and_large_blobs(self, store: ArtifactStore) -> None:
        for data in (b"", bytes(range(256)) * 64, os.urandom(3 * 1024 * 1024 + 7)):
            digest = store.put_blob(data)
            assert store.get_blob(digest) == data

    def test_missing_blob(self, store: ArtifactStore) -> None:
        digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        assert not store.has_blob(digest)
        with pytest.raises(NotFoundError):
            store.get_blob(digest)

    def test_another_instance_sees_blobs(
        self, store: ArtifactStore, other: ArtifactStore
    ) -> None:
        data = uuid.uuid4().bytes
        digest = store.put_blob(data)
        assert other.has_blob(digest)
        assert other.get_blob(digest) == data

    # -- keys ---------------------------------------------------------------------
    def test_key_put_get_replace_exists_delete(self, store: ArtifactStore, ns: str) -> None:
        key = ns + "cache/entry.json"
        assert not store.exists(key)
        store.put(key, b"one")
        assert store.exists(key)
        assert store.get(key) == b"one"
        store.put(key, b"two, longer than one")
        assert store.get(key) == b"two, longer than one"
        store.put(key, b"")
        assert store.get(key) == b""
        assert store.delete(key) is True
        assert store.delete(key) is False
        assert not store.exists(key)
        with pytest.raises(NotFoundError):
            store.get(key)

    def test_missing_key(self, store: ArtifactStore, ns: str) -> None:
        assert not store.exists(ns + "nothing")
        assert store.delete(ns + "nothing") is False
        with pytest.raises(NotFoundError):
            store.get(ns + "nothing")
        with pytest.raises(NotFoundError):
            store.get(ns + "no/such/dir/key")

    def test_list_by_prefix(self, store: ArtifactStore, ns: str) -> None:
        keys = [
            ns + "runs/r1/state.ndjson",
            ns + "runs/r1/logs/a.ndjson",
            ns + "runs/r2/state.ndjson",
            ns + "runs-old/x",
            ns + "cache/k",
            ns + "top",
        ]
        for key in keys:
            store.put(key, key.encode())
        assert store.list(ns) == sorted(keys)
        assert store.list(ns + "runs/") == sorted(k for k in keys if k.startswith(ns + "runs/"))
        assert store.list(ns + "runs/r1/") == sorted(
            [ns + "runs/r1/state.ndjson", ns + "runs/r1/logs/a.ndjson"]
        )
        assert store.list(ns + "runs") == sorted(k for k in keys if k.startswith(ns + "runs"))
        assert store.list(ns + "runs/r") == sorted(k for k in keys if k.startswith(ns + "runs/r"))
        assert store.list(ns + "to") == [ns + "top"]
        assert store.list(ns + "zzz") == []
        assert store.list(ns + "zzz/") == []
        assert set(keys) <= set(store.list())
        store.delete(ns + "runs/r2/state.ndjson")
        assert store.list(ns + "runs/r2") == []

    def test_keys_with_unusual_characters(self, store: ArtifactStore, ns: str) -> None:
        key = ns + "dir with space/héllo wörld+v1.2 (final).tar.gz"
        store.put(key, b"data")
        assert store.get(key) == b"data"
        assert store.list(ns) == [key]

    @pytest.mark.parametrize("bad", BAD_KEYS)
    def test_bad_keys_are_rejected(self, store: ArtifactStore, bad: str) -> None:
        with pytest.raises(SparkwingError):
            store.put(bad, b"x")
        with pytest.raises(SparkwingError):
            store.get(bad)
        with pytest.raises(SparkwingError):
            store.exists(bad)
        with pytest.raises(SparkwingError):
            store.delete(bad)

    def test_another_instance_sees_keys(
        self, store: ArtifactStore, other: ArtifactStore, ns: str
    ) -> None:
        store.put(ns + "k", b"v1")
        assert other.get(ns + "k") == b"v1"
        assert other.list(ns) == [ns + "k"]
        other.put(ns + "k", b"v2")
        assert store.get(ns + "k") == b"v2"
        assert other.delete(ns + "k") is True
        assert not store.exists(ns + "k")
        assert store.list(ns) == []
