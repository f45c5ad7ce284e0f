"""``sparkwing cache ls|rm|prune`` over entries written through the real SQLite state store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sparkwing.storage.records import CacheEntry
from sparkwing_sqlite.store import SqliteStateStore


class Env:
    """An isolated home and project, and the real CLI."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.repo = tmp / "repo"
        self.repo.mkdir()
        self.profiles = tmp / "profiles.yaml"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_")}
        env.update(HOME=str(tmp), SPARKWING_HOME=str(self.home),
                   XDG_CONFIG_HOME=str(tmp / "xdg"), SPARKWING_PROFILES=str(self.profiles))
        self.env = env

    def put(self, db: Path, key: str, *, age: float = 0, ttl: float = 3600,
            pipeline: str = "build", hits: int = 0, last_hit: float | None = None) -> CacheEntry:
        """Write one entry created *age* seconds ago expiring *ttl* seconds after that."""
        now = time.time()
        entry = CacheEntry(key=key, run_id=f"run-{key[-4:]}", node_id="compile",
                           output={"digest": key}, pipeline=pipeline, created_at=now - age,
                           expires_at=(now - age + ttl) if ttl else 0.0, hits=hits,
                           last_hit_at=last_hit)
        with SqliteStateStore(db) as st:
            st.cache_put(entry)
        return entry

    def keys(self, db: Path, include_expired: bool = True) -> list[str]:
        with SqliteStateStore(db) as st:
            return sorted(e.key for e in st.cache_list(include_expired=include_expired))

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "cache", *args],
                              cwd=cwd or self.repo, env=self.env, capture_output=True,
                              text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def db_of(env: Env) -> Path:
    env.home.mkdir(exist_ok=True)
    return env.home / "state.db"


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines()]


def test_ls_lists_live_entries_newest_first(env: Env) -> None:
    db = db_of(env)
    env.put(db, "ck:aaaa000000000001", age=300, hits=2, last_hit=time.time() - 60)
    env.put(db, "ck:bbbb000000000002", age=100, pipeline="test")
    env.put(db, "ck:cccc000000000003", age=7200, ttl=3600)  # expired an hour ago
    env.put(db, "ck:dddd000000000004", age=50, ttl=0)  # never expires
    r = env.cli("ls", "-o", "json")
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert [g["key"] for g in got] == ["ck:dddd000000000004", "ck:bbbb000000000002",
                                       "ck:aaaa000000000001"]
    first = got[2]
    assert set(first) == {"key", "pipeline", "run_id", "node_id", "created_at", "expires_at",
                          "expired", "hits", "last_hit_at"}
    assert (first["pipeline"], first["run_id"], first["node_id"], first["hits"]) == (
        "build", "run-0001", "compile", 2)
    assert first["expired"] is False and first["last_hit_at"] is not None
    assert got[0]["expires_at"] is None and got[1]["last_hit_at"] is None
    # --all includes the expired one, flagged
    got = lines(env.cli("ls", "--all", "-o", "json").stdout)
    assert len(got) == 4
    assert [g["key"] for g in got if g["expired"]] == ["ck:cccc000000000003"]


def test_ls_pretty_table(env: Env) -> None:
    db = db_of(env)
    env.put(db, "ck:aaaa000000000001", age=30, ttl=7 * 86400, hits=3, last_hit=time.time() - 5)
    env.put(db, "ck:cccc000000000003", age=7200, ttl=3600)
    r = env.cli("ls")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].split() == ["KEY", "PIPELINE", "ORIGIN", "CREATED", "EXPIRES", "HITS",
                              "LAST", "HIT"]
    assert len(out) == 2
    row = out[1]
    assert row.startswith("ck:aaaa000000000001  build     run-0001/compile  ")
    assert " in 6d23h " in row and row.rstrip().endswith("ago")
    r = env.cli("ls", "--all")
    assert re.search(r" expired 1h\d\dm ago ", r.stdout), r.stdout


def test_ls_prefix_and_empty(env: Env) -> None:
    db = db_of(env)
    env.put(db, "ck:aaaa000000000001")
    env.put(db, "ck:aabb000000000002")
    env.put(db, "ck:bbbb000000000003")
    got = lines(env.cli("ls", "--prefix", "ck:aa", "-o", "json").stdout)
    assert sorted(g["key"] for g in got) == ["ck:aaaa000000000001", "ck:aabb000000000002"]
    r = env.cli("ls", "--prefix", "ck:zz", "-o", "json")
    assert r.returncode == 0 and r.stdout == ""
    r = env.cli("ls", "--prefix", "ck:zz")
    assert r.stdout == "no cache entries (--all includes expired ones)\n"


def test_rm_one_key(env: Env) -> None:
    db = db_of(env)
    env.put(db, "ck:aaaa000000000001")
    env.put(db, "ck:bbbb000000000002")
    r = env.cli("rm", "--key", "ck:aaaa000000000001")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "removed ck:aaaa000000000001\n"
    assert env.keys(db) == ["ck:bbbb000000000002"]
    r = env.cli("rm", "--key", "ck:aaaa000000000001")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ['error: no cache entry with key "ck:aaaa000000000001"']
    assert env.keys(db) == ["ck:bbbb000000000002"]


def test_rm_all_needs_yes(env: Env) -> None:
    db = db_of(env)
    env.put(db, "ck:aaaa000000000001")
    env.put(db, "ck:bbbb000000000002", age=7200, ttl=60)
    r = env.cli("rm", "--all")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: cache rm --all removes every cache entry; add --yes to confirm"]
    assert len(env.keys(db)) == 2
    r = env.cli("rm", "--all", "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)["removed"]) == ["ck:aaaa000000000001",
                                                       "ck:bbbb000000000002"]
    assert env.keys(db) == []
    r = env.cli("rm", "--all", "--yes")
    assert r.stdout == "removed 0 cache entries\n"


@pytest.mark.parametrize("args", [[], ["--key", "k", "--all", "--yes"]])
def test_rm_needs_exactly_one_target(env: Env, args: list[str]) -> None:
    r = env.cli("rm", *args)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["error: give exactly one of --key K or --all"]


def test_prune_removes_only_expired(env: Env) -> None:
    db = db_of(env)
    env.put(db, "ck:live000000000001")
    env.put(db, "ck:forever0000000002", ttl=0)
    env.put(db, "ck:old0000000000003", age=7200, ttl=60)
    env.put(db, "ck:old0000000000004", age=100, ttl=10)
    r = env.cli("prune")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pruned 2 expired cache entries\n"
    assert env.keys(db) == ["ck:forever0000000002", "ck:live000000000001"]
    r = env.cli("prune", "-o", "json")
    assert json.loads(r.stdout) == {"pruned": 0}


def test_profile_selects_the_store(env: Env) -> None:
    other = env.tmp / "team" / "state.db"
    other.parent.mkdir()
    env.profiles.write_text(f"profiles:\n  team:\n    state: {{type: sqlite, path: {other}}}\n")
    env.put(other, "ck:team000000000001")
    env.put(db_of(env), "ck:home000000000001")
    assert [g["key"] for g in lines(env.cli("ls", "-o", "json").stdout)] == [
        "ck:home000000000001"]
    got = lines(env.cli("ls", "--profile", "team", "-o", "json").stdout)
    assert [g["key"] for g in got] == ["ck:team000000000001"]
    # the project's defaults.profile applies without --profile, from any subdirectory
    (env.repo / ".sparkwing").mkdir()
    (env.repo / ".sparkwing" / "sparkwing.yaml").write_text(
        "defaults:\n  profile: team\npipelines: []\n")
    sub = env.repo / "src"
    sub.mkdir()
    got = lines(env.cli("ls", "-o", "json", cwd=sub).stdout)
    assert [g["key"] for g in got] == ["ck:team000000000001"]
    got = lines(env.cli("ls", "-o", "json", "-C", str(env.tmp)).stdout)
    assert [g["key"] for g in got] == ["ck:home000000000001"]
    assert env.cli("rm", "--key", "ck:team000000000001", "-C", str(sub)).returncode == 0
    assert env.keys(other) == [] and env.keys(db_of(env)) == ["ck:home000000000001"]
    r = env.cli("ls", "--profile", "nope")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert 'unknown profile "nope"' in r.stderr


def test_entries_from_a_real_memoized_run(env: Env) -> None:
    sw_dir = env.repo / ".sparkwing"
    (sw_dir / "pipelines").mkdir(parents=True)
    (sw_dir / "pipelines" / "__init__.py").write_text("")
    (sw_dir / "pipelines" / "memo.py").write_text(
        "import sparkwing as sw\n"
        "def plan(plan, inputs, run):\n"
        "    plan.job('compute', lambda ctx: 42).memoize(lambda ctx: sw.key('compute', 'v1'))\n"
    )
    (sw_dir / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: memo\n    entrypoint: pipelines.memo:plan\n")
    run = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "run", "memo"],
                         cwd=env.repo, env=env.env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    got = lines(env.cli("ls", "-o", "json").stdout)
    assert len(got) == 1
    entry = got[0]
    assert entry["key"].startswith("ck:") and entry["pipeline"] == "memo"
    assert entry["node_id"] == "compute" and entry["run_id"].startswith("run-")
    assert entry["hits"] == 0 and entry["expired"] is False
    # a second run hits the entry
    subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "run", "memo"],
                   cwd=env.repo, env=env.env, capture_output=True, text=True, timeout=60)
    assert lines(env.cli("ls", "-o", "json").stdout)[0]["hits"] == 1
    assert env.cli("rm", "--key", entry["key"]).returncode == 0
    assert env.cli("ls", "-o", "json").stdout == ""
