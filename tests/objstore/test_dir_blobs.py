"""The ``dir`` blob backend passes the blob conformance suite, and keeps its promises on disk."""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

import pytest
from sparkwing.errors import StoreError
from sparkwing.storage.blobs.dirstore import DirBlobStore, decode_segment, encode_segment
from sparkwing.testing.suites.blobs import BlobFactory0, BlobStoreSuite


class TestDirBlobStore(BlobStoreSuite):
    __test__ = True

    @pytest.fixture
    def blob_factory(self, tmp_path: Path) -> BlobFactory0:
        return functools.partial(DirBlobStore, tmp_path / "store")

    @pytest.fixture
    def bad_blob_factory(self, tmp_path: Path) -> BlobFactory0:
        (tmp_path / "a-file").write_text("not a directory")
        return functools.partial(DirBlobStore, tmp_path / "a-file")


class TestDirBlobStoreWithPrefix(BlobStoreSuite):
    """The same behaviour below a prefix, with another prefix's objects beside it."""

    __test__ = True

    @pytest.fixture
    def blob_factory(self, tmp_path: Path) -> BlobFactory0:
        DirBlobStore(tmp_path / "store", "other").put("suite-zzz/x", b"neighbour")
        return functools.partial(DirBlobStore, tmp_path / "store", "team/state")

    @pytest.fixture
    def bad_blob_factory(self, tmp_path: Path) -> BlobFactory0:
        (tmp_path / "a-file").write_text("not a directory")
        return functools.partial(DirBlobStore, tmp_path / "a-file" / "below", "p")


@pytest.mark.parametrize("seg", ["a", "A", "Ab-c_d.e", ".hidden", "a b", "%", "^", "日本",
                                 "~x", ".sw-tmp-1"])
def test_segment_names_round_trip_and_are_case_safe(seg: str) -> None:
    name = encode_segment(seg)
    assert decode_segment(name) == seg
    assert name == name.lower() or "^" not in seg  # no upper-case letter reaches the disk
    assert not name.startswith(".")


def test_files_are_owner_only_and_prefixed(tmp_path: Path) -> None:
    store = DirBlobStore(tmp_path / "root", "state")
    store.put("runs/Run-1.json", b"{}")
    path = tmp_path / "root" / "state" / "runs" / "^run-1.json"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.close()


def test_a_key_cannot_be_object_and_prefix(tmp_path: Path) -> None:
    store = DirBlobStore(tmp_path)
    store.put("a", b"1")
    with pytest.raises(StoreError, match="clashes"):
        store.put("a/b", b"2")
    store.put("c/d", b"3")
    with pytest.raises(StoreError, match="clashes"):
        store.put("c", b"4")


@pytest.mark.parametrize("bad", ["", "/a", "a/", "a//b"])
def test_bad_keys_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(StoreError):
        DirBlobStore(tmp_path).put(bad, b"x")


def test_delete_prunes_empty_directories(tmp_path: Path) -> None:
    store = DirBlobStore(tmp_path / "root")
    store.put("x/y/z", b"1")
    store.delete("x/y/z")
    assert sorted(os.listdir(tmp_path / "root")) == [".sw-locks", "x"]
    assert os.listdir(tmp_path / "root" / "x") == []


def test_temporary_files_are_not_listed(tmp_path: Path) -> None:
    store = DirBlobStore(tmp_path)
    store.put("d/k", b"1")
    (tmp_path / "d" / ".sw-tmp-123-abc").write_bytes(b"half")
    assert [i.key for i in store.list_page("").items] == ["d/k"]
