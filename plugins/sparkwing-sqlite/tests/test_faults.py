"""State faults are reported, not hidden: lost history, corruption, a full disk.

Real SQLite files; the full-disk tests run a real store in a private mount
namespace holding a small tmpfs (``unshare``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sparkwing.errors import StoreError
from sparkwing.storage.records import Run
from sparkwing_sqlite.store import SqliteStateStore

PAGE = 4096


def _history(home: Path, runs: int = 2) -> Path:
    """A home whose runs/ holds the log directories of *runs* earlier runs."""
    for i in range(runs):
        (home / "runs" / f"run-20260101-00000{i}-aaaaaaaa").mkdir(parents=True)
    return home / "state.db"


def _filled(path: Path, runs: int = 400) -> None:
    """A database with enough rows to span many pages, closed cleanly."""
    with SqliteStateStore(path) as store:
        for i in range(runs):
            store.create_run(Run(id=f"run-{i:05d}", pipeline="p", error="x" * 200))


def _smash_page(path: Path, page: int, keep_identity: bool = False) -> None:
    """Overwrite one page in the middle of the file with garbage."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(PAGE * page)
        f.write(bytes((i * 37 + 11) % 256 for i in range(PAGE)))
    if keep_identity:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_missing_database_next_to_run_logs_is_refused(tmp_path: Path) -> None:
    path = _history(tmp_path)
    with pytest.raises(StoreError) as info:
        SqliteStateStore(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"state store {path} is missing" in msg
    assert f"{tmp_path / 'runs'} holds the logs of 2 earlier runs" in msg
    assert "Restore state.db from a backup" in msg and "aside" in msg
    assert not path.exists()  # no silent new database


def test_zero_byte_database_next_to_run_logs_is_refused(tmp_path: Path) -> None:
    path = _history(tmp_path, runs=1)
    path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\).*logs of 1 earlier run;"):
        SqliteStateStore(path)
    assert path.stat().st_size == 0


def test_a_new_home_or_empty_runs_dir_still_starts_a_database(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".space-reserve").write_bytes(b"\0")  # not a run
    with SqliteStateStore(tmp_path / "state.db") as store:
        store.create_run(Run(id="run-1", pipeline="p"))
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert store.get_run("run-1") is not None


def test_corruption_is_found_on_open_after_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _filled(path)
    assert path.stat().st_size > 20 * PAGE
    _smash_page(path, page=10)
    with pytest.raises(StoreError) as info:
        SqliteStateStore(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"cannot open state store {path}: it is corrupted (quick check: ")
    assert "restore" in msg and ".recover" in msg and "sparkwing doctor" in msg


def test_a_damaged_header_is_reported_with_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _filled(path, runs=5)
    with open(path, "r+b") as f:
        f.write(b"definitely not sqlite")
    with pytest.raises(StoreError, match=r"cannot open state store .*: it is corrupted \(.*restore"):
        SqliteStateStore(path)


def test_an_unchanged_file_is_not_checked_again_but_doctor_checks_it(tmp_path: Path) -> None:
    """The quick check runs only when the file changed since the last clean close.

    Damage that keeps the file's identity (size and modification time) is
    invisible to that test, and the open stays cheap; the doctor's full
    check finds it.
    """
    from sparkwing_sqlite.connection import fingerprint, read_clean
    from sparkwing_sqlite.health import check_database

    path = tmp_path / "state.db"
    _filled(path)
    assert read_clean(path) == fingerprint(path)
    _smash_page(path, page=10, keep_identity=True)
    with SqliteStateStore(path) as store:
        assert store.get_run("run-00000") is not None
    found = {f.check: f for f in check_database(path)}
    assert found["state.integrity"].status == "fail"
    assert ".recover" in found["state.integrity"].hint


def test_writes_that_checkpoint_keep_the_clean_record(tmp_path: Path) -> None:
    """A store left open (as `sparkwing run` leaves it) keeps the record current."""
    from sparkwing_sqlite.connection import fingerprint, read_clean

    path = tmp_path / "state.db"
    SqliteStateStore(path).close()
    store = SqliteStateStore(path)
    for i in range(600):  # enough pages for SQLite to checkpoint into the file
        store.create_run(Run(id=f"run-{i:05d}", pipeline="p", error="y" * 2000))
    assert path.stat().st_size > 100 * PAGE
    assert read_clean(path) == fingerprint(path)
    # ... while a change by anyone else is not recorded
    other = SqliteStateStore(path)
    os.utime(path, ns=(0, 10**18))
    other.create_run(Run(id="run-other", pipeline="p"))
    assert read_clean(path) != fingerprint(path)
    store.close()
    other.close()


def test_doctor_check_of_a_healthy_database(tmp_path: Path) -> None:
    from sparkwing_sqlite.health import check_database

    path = tmp_path / "state.db"
    _filled(path, runs=3)
    found = {f.check: f.status for f in check_database(path)}
    assert found == {"state.file": "ok", "state.integrity": "ok", "state.references": "ok",
                     "state.schema": "ok", "state.closed": "ok"}


def _in_small_fs(tmp_path: Path, script: str, size: str = "2m") -> dict[str, object]:
    """Run *script* (Python) in a new mount namespace with a tmpfs of *size* at ``fs``."""
    fs = tmp_path / "fs"
    fs.mkdir()
    code = tmp_path / "script.py"
    code.write_text(textwrap.dedent(script))
    shell = f"mount -t tmpfs -o size={size} tmpfs {fs} && exec {sys.executable} {code} {fs}"
    cmd = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd.append("--map-root-user")
    proc = subprocess.run([*cmd, "sh", "-c", shell], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


FILL = '''
    import json, os, sys
    from pathlib import Path
    from sparkwing.errors import StoreError
    from sparkwing.storage.records import Run
    from sparkwing_sqlite.store import SqliteStateStore

    fs = Path(sys.argv[1])
    out = {}
    store = SqliteStateStore(fs / "state.db")
    store.create_run(Run(id="run-1", pipeline="p", status="running"))
    out["reserve"] = (fs / ".space-reserve").exists()
    fd = os.open(fs / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"x" * 512)
    except OSError as exc:
        out["filled"] = exc.strerror
    os.close(fd)
'''


def test_a_full_disk_still_records_the_run_after_freeing_the_reserve(tmp_path: Path) -> None:
    out = _in_small_fs(tmp_path, FILL + '''
    store.update_run("run-1", {"status": "failed", "error": "no space left on device: x" * 20,
                               "finished_at": 1.0})
    got = store.get_run("run-1")
    out["status"] = got.status
    out["reserve_after"] = (fs / ".space-reserve").exists()
    print(json.dumps(out))
''')
    assert out["reserve"] is True and out["filled"] == "No space left on device"
    assert out["status"] == "failed"
    assert out["reserve_after"] is False


def test_a_full_disk_with_nothing_to_free_is_one_line_naming_the_cause(tmp_path: Path) -> None:
    out = _in_small_fs(tmp_path, FILL + '''
    os.unlink(fs / ".space-reserve")
    big = "z" * 200_000
    try:
        for i in range(50):
            store.create_run(Run(id=f"run-big-{i}", pipeline="p", error=big))
        out["error"] = ""
    except StoreError as exc:
        out["error"] = str(exc)
    print(json.dumps(out))
''')
    assert "database or disk is full" in str(out["error"])
    assert "no space left on device" in str(out["error"])
    assert "\n" not in str(out["error"])
