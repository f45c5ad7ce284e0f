"""Filesystem artifact store specifics: layout, atomic writes, damage, key/prefix clashes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from sparkwing.errors import NotFoundError, PlanError, StoreError
from sparkwing.plugins.registry import BackendContext
from sparkwing.storage import builtin
from sparkwing.storage.fs_artifacts import FilesystemArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> FilesystemArtifactStore:
    return FilesystemArtifactStore(tmp_path / "artifacts")


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_layout(store: FilesystemArtifactStore) -> None:
    digest = store.put_blob(b"blob data")
    store.put("runs/r1/state.ndjson", b"{}")
    store.put("top", b"t")
    assert all_files(store.root) == sorted(
        [f"blobs/{digest[:2]}/{digest}", "keys/runs/r1/state.ndjson", "keys/top"]
    )
    assert (store.root / "blobs" / digest[:2] / digest).read_bytes() == b"blob data"
    assert (store.root / "keys" / "runs" / "r1" / "state.ndjson").read_bytes() == b"{}"


def test_damaged_blob_is_reported(store: FilesystemArtifactStore) -> None:
    digest = store.put_blob(b"original")
    store.blob_path(digest).write_bytes(b"tampered")
    with pytest.raises(StoreError, match="damaged"):
        store.get_blob(digest)


def test_a_truncated_blob_is_repaired_by_the_next_put(store: FilesystemArtifactStore) -> None:
    digest = store.put_blob(b"complete content")
    store.blob_path(digest).write_bytes(b"compl")
    assert store.put_blob(b"complete content") == digest
    assert store.get_blob(digest) == b"complete content"


def test_digest_forms(store: FilesystemArtifactStore) -> None:
    digest = store.put_blob(b"x")
    assert store.get_blob(digest.upper()) == b"x"
    for bad in ("", "abc", "../" + digest[3:], "g" * 64):
        with pytest.raises(StoreError):
            store.get_blob(bad)
        with pytest.raises(StoreError):
            store.has_blob(bad)


def test_bad_keys_are_plan_errors(store: FilesystemArtifactStore) -> None:
    for bad in ("../x", "/etc/passwd", "a/.sw-tmp-1234"):
        with pytest.raises(PlanError):
            store.put(bad, b"x")
    assert not store.root.exists()


def test_a_key_cannot_also_be_a_prefix(store: FilesystemArtifactStore) -> None:
    store.put("a", b"leaf")
    with pytest.raises(StoreError):
        store.put("a/b", b"x")
    store.put("c/d", b"x")
    with pytest.raises(StoreError):
        store.put("c", b"x")
    assert not store.exists("c")
    assert store.delete("c") is False
    with pytest.raises(NotFoundError):
        store.get("c")
    assert store.list() == ["a", "c/d"]
    assert not [p for p in store.root.rglob(".sw-tmp-*")]


def test_delete_prunes_empty_directories(store: FilesystemArtifactStore) -> None:
    store.put("x/y/z", b"1")
    store.put("x/keep", b"2")
    assert store.delete("x/y/z")
    assert not (store.root / "keys" / "x" / "y").exists()
    assert (store.root / "keys" / "x" / "keep").is_file()


def test_temp_files_are_not_listed(store: FilesystemArtifactStore) -> None:
    store.put("d/k", b"1")
    (store.root / "keys" / "d" / ".sw-tmp-deadbeef").write_bytes(b"half")
    assert store.list() == ["d/k"]


PUT_SCRIPT = """
import sys
from pathlib import Path
from sparkwing.storage.fs_artifacts import FilesystemArtifactStore
store = FilesystemArtifactStore(Path(sys.argv[1]), durable=False)
payload = sys.argv[2].encode() * 200_000
for _ in range(20):
    store.put("shared/key", payload)
    store.put_blob(b"same blob" * 1000)
"""


def test_concurrent_writers_never_leave_a_mix(tmp_path: Path) -> None:
    root = tmp_path / "a"
    procs = [
        subprocess.Popen([sys.executable, "-c", PUT_SCRIPT, str(root), letter])
        for letter in "ABC"
    ]
    for proc in procs:
        assert proc.wait(timeout=240) == 0
    store = FilesystemArtifactStore(root)
    data = store.get("shared/key")
    assert data in (b"A" * 200_000, b"B" * 200_000, b"C" * 200_000)
    assert store.get_blob(hashlib.sha256(b"same blob" * 1000).hexdigest()) == b"same blob" * 1000
    assert not list(root.rglob(".sw-tmp-*"))


def test_builtin_factory(tmp_path: Path) -> None:
    ctx = BackendContext(home=tmp_path / "home")
    store = builtin.make_artifact_store({}, ctx)
    assert isinstance(store, FilesystemArtifactStore)
    assert store.root == tmp_path / "home" / "artifacts"
    other = builtin.make_artifact_store({"path": str(tmp_path / "x")}, ctx)
    other.put("k", b"v")
    assert (tmp_path / "x" / "keys" / "k").read_bytes() == b"v"
