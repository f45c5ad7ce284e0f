"""The GCS blob store against fake-gcs-server: every promise of the blob contract.

The same tests run for every object-store plugin; here they also cover the
GCS dialect's corners (generations as etags, 412 for a generation match on a
missing object, 416 for a range past the end, conditional deletes that the
emulator does not enforce itself).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sparkwing.errors import NotFoundError
from sparkwing.storage.blobs.contracts import BlobStore, PreconditionFailed

KIND = "gcs"


def test_is_a_blob_store(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    assert store.kind == KIND


def test_put_get_head_agree_on_the_etag(store: BlobStore) -> None:
    info = store.put("runs/r1/head.json", b'{"seq": 1}', content_type="application/json")
    assert info.key == "runs/r1/head.json" and info.size == 10 and info.etag
    blob = store.get("runs/r1/head.json")
    assert blob is not None
    assert blob.data == b'{"seq": 1}'
    assert blob.info.etag == info.etag and blob.info.size == 10
    head = store.head("runs/r1/head.json")
    assert head is not None and head.etag == info.etag and head.size == 10
    assert head.updated > 0


def test_missing_objects(store: BlobStore) -> None:
    assert store.get("nope") is None
    assert store.head("nope") is None
    assert store.delete("nope") is False
    with pytest.raises(NotFoundError):
        store.get_range("nope", 0, 10)


def test_bytes_survive_exactly(store: BlobStore) -> None:
    data = bytes(range(256)) * 4096 + b"\x00"  # 1 MiB and one byte, every byte value
    store.put("bin", data)
    blob = store.get("bin")
    assert blob is not None and blob.data == data
    store.put("empty", b"")
    empty = store.get("empty")
    assert empty is not None and empty.data == b"" and empty.info.size == 0


def test_create_only(store: BlobStore) -> None:
    first = store.put("lock", b"a", if_none_match="*")
    with pytest.raises(PreconditionFailed):
        store.put("lock", b"b", if_none_match="*")
    blob = store.get("lock")
    assert blob is not None and blob.data == b"a" and blob.info.etag == first.etag


def test_compare_and_swap(store: BlobStore) -> None:
    v1 = store.put("doc", b"one")
    v2 = store.put("doc", b"two", if_match=v1.etag)
    assert v2.etag != v1.etag
    with pytest.raises(PreconditionFailed):
        store.put("doc", b"stale", if_match=v1.etag)
    blob = store.get("doc")
    assert blob is not None and blob.data == b"two"
    with pytest.raises(PreconditionFailed):
        store.put("absent", b"x", if_match=v1.etag)
    assert store.head("absent") is None


def test_bad_conditions_are_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError):
        store.put("k", b"x", if_none_match="etag")
    with pytest.raises(ValueError):
        store.put("k", b"x", if_match='"a"', if_none_match="*")


def test_racing_creators_one_wins(open_store: Callable[..., BlobStore]) -> None:
    stores = [open_store() for _ in range(8)]
    wins: list[int] = []
    losses: list[int] = []
    barrier = threading.Barrier(len(stores))

    def create(i: int) -> None:
        barrier.wait()
        try:
            stores[i].put("lease", str(i).encode(), if_none_match="*")
            wins.append(i)
        except PreconditionFailed:
            losses.append(i)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == len(stores) - 1
    blob = stores[0].get("lease")
    assert blob is not None and blob.data == str(wins[0]).encode()


def test_racing_compare_and_swap_loses_no_update(open_store: Callable[..., BlobStore]) -> None:
    writers, rounds = 4, 10
    stores = [open_store() for _ in range(writers)]
    stores[0].put("counter", b"0")
    conflicts = [0]

    def bump(store: BlobStore) -> None:
        for _ in range(rounds):
            while True:
                blob = store.get("counter")
                assert blob is not None
                try:
                    store.put("counter", str(int(blob.data) + 1).encode(),
                              if_match=blob.info.etag)
                    break
                except PreconditionFailed:
                    conflicts[0] += 1

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = stores[0].get("counter")
    assert final is not None and int(final.data) == writers * rounds


def test_ranged_reads(store: BlobStore) -> None:
    store.put("log", b"0123456789")
    assert store.get_range("log", 0) == b"0123456789"
    assert store.get_range("log", 3) == b"3456789"
    assert store.get_range("log", 2, 5) == b"234"
    assert store.get_range("log", 8, 100) == b"89"
    assert store.get_range("log", 10) == b""
    assert store.get_range("log", 50, 60) == b""
    assert store.get_range("log", 4, 4) == b""
    store.put("nothing", b"")
    assert store.get_range("nothing", 0) == b""


def test_delete(store: BlobStore) -> None:
    v1 = store.put("gone", b"1")
    assert store.delete("gone") is True
    assert store.head("gone") is None
    v1 = store.put("cond", b"1")
    v2 = store.put("cond", b"2", if_match=v1.etag)
    with pytest.raises(PreconditionFailed):
        store.delete("cond", if_match=v1.etag)
    assert store.head("cond") is not None
    assert store.delete("cond", if_match=v2.etag) is True
    assert store.get("cond") is None
    assert store.delete("cond", if_match=v2.etag) is False


def test_listing_pages_in_key_order(store: BlobStore) -> None:
    keys = [f"runs/r{i:03d}/head.json" for i in range(25)]
    for key in reversed(keys):
        store.put(key, key.encode())
    store.put("runsx/other", b"x")
    store.put("elsewhere/y", b"y")
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = store.list_page("runs/", page_token=token, page_size=10)
        pages += 1
        assert len(page.items) <= 10
        seen.extend(item.key for item in page.items)
        token = page.next_token
        if not token:
            break
    assert pages == 3
    assert seen == keys
    first = store.list_page("runs/r000", page_size=10)
    assert [i.key for i in first.items] == ["runs/r000/head.json"] and first.next_token == ""
    assert first.items[0].size == len(b"runs/r000/head.json") and first.items[0].etag
    assert store.list_page("nothing/").items == []
    everything = store.list_page("", page_size=1000)
    assert len(everything.items) == 27


def test_prefixes_keep_stores_apart(open_store: Callable[..., BlobStore]) -> None:
    team = open_store(prefix="team")
    other = open_store(prefix="/other/")
    root = open_store(prefix="")
    team.put("k", b"team")
    other.put("k", b"other")
    team_blob, other_blob = team.get("k"), other.get("k")
    assert team_blob is not None and team_blob.data == b"team"
    assert other_blob is not None and other_blob.data == b"other"
    assert [i.key for i in team.list_page("").items] == ["k"]
    assert sorted(i.key for i in root.list_page("").items) == ["other/k", "team/k"]


def test_check_passes_on_a_good_bucket(store: BlobStore) -> None:
    store.check()
