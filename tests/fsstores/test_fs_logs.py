"""Filesystem log store specifics: file layout, names, partial lines, several processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sparkwing.errors import PlanError, StoreError, UsageError
from sparkwing.plugins.registry import BackendContext
from sparkwing.storage import builtin
from sparkwing.storage.contracts import ENVELOPE
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.storage.logrecord import make_record, parse_record

RUN = "run-20261123-174143-0123abcd"


def rec(msg: str, node: str = "n") -> str:
    return make_record(msg, node=node, ts=1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path) -> FilesystemLogStore:
    return FilesystemLogStore(tmp_path / "runs")


def test_layout_one_file_per_node_plus_envelope(store: FilesystemLogStore) -> None:
    store.append(RUN, "build", [rec("b", "build")])
    store.append(RUN, ENVELOPE, [make_record(event="run_start", ts=1.0)])
    store.append(RUN, "build/linux", [rec("bl", "build/linux")])
    store.append(RUN, "test:unit", [rec("t", "test:unit")])
    run_dir = store.root / RUN
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "_envelope.ndjson",
        "_streams.ndjson",
        "build.log",
        "build__linux.log",
        "test__unit.log",
    ]
    assert (run_dir / "build.log").read_text() == rec("b", "build") + "\n"
    assert (run_dir / "build__linux.log").read_text() == rec("bl", "build/linux") + "\n"
    assert json.loads((run_dir / "_envelope.ndjson").read_text())["event"] == "run_start"
    index = (run_dir / "_streams.ndjson").read_text().splitlines()
    claims = [json.loads(x)["node"] for x in index if x]
    assert claims == ["build", "build/linux", "test:unit"]
    assert store.path_for(RUN, "build/linux") == run_dir / "build__linux.log"


def test_colliding_names_get_a_suffix_and_map_back(tmp_path: Path) -> None:
    store = FilesystemLogStore(tmp_path)
    for node in ("a/b", "a__b", "Build", "build"):
        store.append(RUN, node, [rec(node, node)])
    names = sorted(p.name for p in (tmp_path / RUN).glob("*.log"))
    assert names[0] == "Build.log"
    assert names[1] == "a__b.log"
    assert names[2].startswith("a__b~") and names[2].endswith(".log")
    assert names[3].startswith("build~")
    assert (tmp_path / RUN / "a__b.log").read_text() == rec("a/b", "a/b") + "\n"
    fresh = FilesystemLogStore(tmp_path)
    assert sorted(fresh.streams(RUN)) == ["Build", "a/b", "a__b", "build"]
    assert fresh.read(RUN, "a__b").lines == [rec("a__b", "a__b")]


def test_a_very_long_node_id_gets_a_short_file_name(store: FilesystemLogStore) -> None:
    node = "/".join(["segment-" + "x" * 40] * 8)
    store.append(RUN, node, [rec("long", node)])
    (path,) = (store.root / RUN).glob("*.log")
    assert len(path.name.encode()) < 255
    assert FilesystemLogStore(store.root).streams(RUN) == [node]
    assert store.read(RUN, node).lines == [rec("long", node)]


def test_a_damaged_index_line_does_not_lose_later_claims(store: FilesystemLogStore) -> None:
    store.append(RUN, "first", [rec("1", "first")])
    with open(store.root / RUN / "_streams.ndjson", "a") as f:
        f.write('{"node": "half-writ')  # a writer died mid-claim
    other = FilesystemLogStore(store.root)
    other.append(RUN, "a/b", [rec("2", "a/b")])
    other.append(RUN, "a__b", [rec("3", "a__b")])
    fresh = FilesystemLogStore(store.root)
    assert fresh.streams(RUN) == ["a/b", "a__b", "first"]
    assert fresh.read(RUN, "a__b").lines == [rec("3", "a__b")]


def test_files_written_without_the_index_are_still_read(store: FilesystemLogStore) -> None:
    run_dir = store.root / RUN
    run_dir.mkdir(parents=True)
    (run_dir / "legacy.log").write_text(rec("old") + "\n")
    assert store.read(RUN, "legacy").lines == [rec("old")]
    assert store.streams(RUN) == ["legacy"]


def test_a_partial_last_line_is_held_back(store: FilesystemLogStore) -> None:
    store.append(RUN, "n", [rec("one"), rec("two")])
    path = store.path_for(RUN, "n")
    assert path is not None
    complete = path.stat().st_size
    partial = rec("three")
    with open(path, "a") as f:
        f.write(partial[:10])
    chunk = store.read(RUN, "n")
    assert chunk.lines == [rec("one"), rec("two")]
    assert chunk.next_offset == complete
    assert store.tail(RUN, "n", 5) == [rec("one"), rec("two")]
    with open(path, "a") as f:
        f.write(partial[10:] + "\n")
    assert store.read(RUN, "n", chunk.next_offset).lines == [partial]
    assert store.tail(RUN, "n", 1) == [partial]


def test_blank_lines_are_skipped_but_counted_in_offsets(store: FilesystemLogStore) -> None:
    store.append(RUN, "n", [rec("a")])
    path = store.path_for(RUN, "n")
    assert path is not None
    with open(path, "a") as f:
        f.write("\n\n" + rec("b") + "\n\n")
    chunk = store.read(RUN, "n", 0, limit=2)
    assert chunk.lines == [rec("a"), rec("b")]
    assert store.read(RUN, "n", chunk.next_offset).lines == []
    assert store.tail(RUN, "n", 2) == [rec("a"), rec("b")]


def test_writer_buffers_until_flush_and_creates_the_file_lazily(
    store: FilesystemLogStore,
) -> None:
    writer = store.writer(RUN, "n")
    path = store.path_for(RUN, "n")
    assert path is not None
    assert not path.exists()
    writer.write([rec("a")])
    assert not path.exists()
    writer.flush()
    assert path.read_text() == rec("a") + "\n"
    writer.close()
    with pytest.raises(StoreError):
        writer.write([rec("b")])
    idle = store.writer(RUN, "idle")
    idle.close()
    assert store.streams(RUN) == ["n"]


def test_writer_rejects_text_that_would_break_framing(store: FilesystemLogStore) -> None:
    with store.writer(RUN, "n") as writer:
        with pytest.raises(StoreError):
            writer.write_raw(rec("no newline"))
        with pytest.raises(StoreError):
            writer.write([rec("a") + "\n" + rec("b")])
        with pytest.raises(StoreError):
            writer.write_bytes(rec("no newline").encode())
        writer.write_raw(rec("ok") + "\n")
    assert store.read(RUN, "n").lines == [rec("ok")]


def test_store_close_flushes_open_writers(store: FilesystemLogStore) -> None:
    writer = store.writer(RUN, "n")
    writer.write([rec("pending")])
    store.close()
    assert FilesystemLogStore(store.root).read(RUN, "n").lines == [rec("pending")]


def test_error_kinds_and_nothing_escapes_the_root(tmp_path: Path) -> None:
    store = FilesystemLogStore(tmp_path / "root")
    with pytest.raises(UsageError):
        store.append("../evil", "n", [rec("x")])
    with pytest.raises(PlanError):
        store.append(RUN, "../../evil", [rec("x")])
    with pytest.raises(StoreError):
        store.read(RUN, "n", -1)
    assert list(tmp_path.iterdir()) == []  # nothing written, inside the root or out


def test_delete_run_removes_the_directory(store: FilesystemLogStore) -> None:
    store.append(RUN, "n", [rec("x")])
    store.delete_run(RUN)
    assert not (store.root / RUN).exists()


def test_tail_does_not_read_a_huge_file(tmp_path: Path) -> None:
    """tail() on a 4 GiB (sparse) stream stays far below the file's size in memory."""
    store = FilesystemLogStore(tmp_path)
    store.append(RUN, "n", [rec("first")])
    path = store.path_for(RUN, "n")
    assert path is not None
    with open(path, "r+b") as f:
        f.seek(4 * 1024**3)
        f.write(b"\n" + "\n".join(rec(f"last {i}") for i in range(30)).encode() + b"\n")
    script = textwrap.dedent(
        f"""
        import resource
        from pathlib import Path
        from sparkwing.storage.fs_logs import FilesystemLogStore
        lines = FilesystemLogStore(Path({str(tmp_path)!r})).tail({RUN!r}, "n", 20)
        print(len(lines), lines[0])
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "20 " + rec("last 10")
    assert int(out[1]) < 512 * 1024  # KiB: nowhere near the 4 GiB a full read would take


WRITER_SCRIPT = """
import json, sys, time
from pathlib import Path
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.storage.logrecord import make_record
root, run, proc, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
store = FilesystemLogStore(root, buffer_bytes=8192)
while not go.exists():
    time.sleep(0.001)
writer = store.writer(run, "shared")
for i in range(count):
    pad = "x" * ((i * 37 + proc * 11) % 3000)
    writer.write([make_record(f"p{proc}-{i}", node="shared", attrs={"p": proc, "i": i, "pad": pad})])
    if i % (7 + proc) == 0:
        writer.flush()
writer.close()
for node in ("a/b", "a__b", "A/b", "a:b"):
    store.append(run, node, [make_record(f"{node} from p{proc}", node=node)])
"""


def test_four_processes_append_to_one_stream(tmp_path: Path) -> None:
    root, go = tmp_path / "runs", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(root), RUN, str(p), "2000", str(go)]
        )
        for p in range(4)
    ]
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=240) == 0
    store = FilesystemLogStore(root)
    lines = store.read(RUN, "shared").lines
    assert len(lines) == 8000
    seen: dict[int, list[int]] = {p: [] for p in range(4)}
    for line in lines:
        attrs = parse_record(line)["attrs"]  # every line is one whole JSON record
        assert parse_record(line)["msg"] == f"p{attrs['p']}-{attrs['i']}"
        assert len(attrs["pad"]) == (attrs["i"] * 37 + attrs["p"] * 11) % 3000
        seen[attrs["p"]].append(attrs["i"])
    for p in range(4):
        assert seen[p] == list(range(2000))
    # the racing claims of look-alike ids resolved the same way in every process
    assert sorted(store.streams(RUN)) == sorted(["shared", "a/b", "a__b", "A/b", "a:b"])
    for node in ("a/b", "a__b", "A/b", "a:b"):
        msgs = sorted(parse_record(x)["msg"] for x in store.read(RUN, node).lines)
        assert msgs == sorted(f"{node} from p{p}" for p in range(4))


def test_builtin_factories_build_filesystem_stores(tmp_path: Path) -> None:
    ctx = BackendContext(home=tmp_path / "home")
    logs = builtin.make_log_store({}, ctx)
    assert isinstance(logs, FilesystemLogStore)
    assert logs.root == tmp_path / "home" / "runs"
    custom = builtin.make_log_store({"path": str(tmp_path / "elsewhere")}, ctx)
    custom.append(RUN, "n", [rec("x")])
    assert (tmp_path / "elsewhere" / RUN / "n.log").is_file()


# -- small streams kept in the index ------------------------------------------------------
def _index_entries(store: FilesystemLogStore) -> list[dict[str, str]]:
    text = (store.root / RUN / "_streams.ndjson").read_text()
    return [json.loads(x) for x in text.splitlines() if x]


def test_a_small_stream_closed_unflushed_lives_in_the_index(store: FilesystemLogStore) -> None:
    writer = store.writer(RUN, "quick")
    writer.write([rec("started", "quick"), rec("succeeded", "quick")])
    writer.close()
    assert not list((store.root / RUN).glob("*.log"))
    assert _index_entries(store) == [
        {"node": "quick", "text": rec("started", "quick") + "\n" + rec("succeeded", "quick") + "\n"}]
    fresh = FilesystemLogStore(store.root)  # another process
    chunk = fresh.read(RUN, "quick")
    assert chunk.lines == [rec("started", "quick"), rec("succeeded", "quick")]
    assert fresh.read(RUN, "quick", chunk.next_offset).lines == []
    assert fresh.read(RUN, "quick", 0, limit=1).lines == [rec("started", "quick")]
    assert fresh.tail(RUN, "quick", 1) == [rec("succeeded", "quick")]
    assert fresh.streams(RUN) == ["quick"]


def test_flushed_or_large_streams_get_their_file(store: FilesystemLogStore) -> None:
    flushed = store.writer(RUN, "flushed")
    flushed.write([rec("a", "flushed")])
    flushed.flush()
    flushed.write([rec("b", "flushed")])
    flushed.close()
    big = store.writer(RUN, "big")
    lines = [rec("x" * 100 + str(i), "big") for i in range(40)]
    big.write(lines)
    big.close()
    assert sorted(p.name for p in (store.root / RUN).glob("*.log")) == ["big.log", "flushed.log"]
    assert all("text" not in e for e in _index_entries(store))
    assert store.read(RUN, "flushed").lines == [rec("a", "flushed"), rec("b", "flushed")]
    assert store.read(RUN, "big").lines == lines


def test_a_later_writer_continues_a_stream_kept_in_the_index(store: FilesystemLogStore) -> None:
    first = store.writer(RUN, "n")
    first.write([rec("one"), rec("two")])
    first.close()
    head = store.read(RUN, "n")
    assert head.lines == [rec("one"), rec("two")]
    other = FilesystemLogStore(store.root)  # e.g. a retry in another process
    later = other.writer(RUN, "n")
    later.write([rec("three"), rec("four")])
    later.close()  # the node has a claim: this part goes to n.log
    assert (store.root / RUN / "n.log").read_text() == rec("three") + "\n" + rec("four") + "\n"
    rest = store.read(RUN, "n", head.next_offset)
    assert rest.lines == [rec("three"), rec("four")]
    whole = store.read(RUN, "n")
    assert whole.lines == [rec("one"), rec("two"), rec("three"), rec("four")]
    assert whole.next_offset == rest.next_offset
    page = store.read(RUN, "n", 0, limit=3)
    assert page.lines == [rec("one"), rec("two"), rec("three")]
    assert store.read(RUN, "n", page.next_offset).lines == [rec("four")]
    assert store.tail(RUN, "n", 3) == [rec("two"), rec("three"), rec("four")]
    assert store.tail(RUN, "n", 10) == whole.lines
    assert store.streams(RUN) == ["n"]


def test_two_processes_cannot_both_keep_one_stream_in_the_index(tmp_path: Path) -> None:
    a, b = FilesystemLogStore(tmp_path), FilesystemLogStore(tmp_path)
    wa, wb = a.writer(RUN, "shared"), b.writer(RUN, "shared")
    wa.write([rec("from a", "shared")])
    wb.write([rec("from b", "shared")])
    wa.close()
    wb.close()
    fresh = FilesystemLogStore(tmp_path)
    assert fresh.read(RUN, "shared").lines == [rec("from a", "shared"), rec("from b", "shared")]
    assert sum("text" in e for e in _index_entries(fresh)) == 1


def test_names_stay_reversible_with_streams_in_the_index(tmp_path: Path) -> None:
    store = FilesystemLogStore(tmp_path)
    quick = store.writer(RUN, "a/b")
    quick.write([rec("inline", "a/b")])
    quick.close()
    store.append(RUN, "a__b", [rec("file", "a__b")])
    fresh = FilesystemLogStore(tmp_path)
    assert fresh.streams(RUN) == ["a/b", "a__b"]
    assert fresh.read(RUN, "a/b").lines == [rec("inline", "a/b")]
    assert fresh.read(RUN, "a__b").lines == [rec("file", "a__b")]
    assert [p.name.startswith("a__b~") for p in (tmp_path / RUN).glob("*.log")] == [True]
