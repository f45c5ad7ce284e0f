"""``sparkwing db status|migrate`` through the real CLI, on PostgreSQL and SQLite profiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from sparkwing.storage.sql.migrations import SCHEMA_VERSION
from sparkwing.storage.sql.schema import TABLES
from sparkwing.testing.procs import isolated_env


def _cli(tmp: Path, url: str, schema: str, *args: str) -> subprocess.CompletedProcess[str]:
    profiles = tmp / "profiles.yaml"
    profiles.write_text(
        "profiles:\n  team:\n    state: {type: postgres, url_source: env:SPARKWING_PG_URL, "
        f"schema: {schema}}}\n"
    )
    env = isolated_env(tmp)
    env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=url)
    return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "db", *args], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=120)


def _tables(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM information_schema.tables "
                           "WHERE table_schema = %s", (schema,)).fetchone()
    return int(row[0]) if row else 0


def test_status_dry_run_then_migrate(tmp_path: Path, pg_config: dict[str, Any]) -> None:
    url, schema = pg_config["url"], pg_config["schema"]
    status = _cli(tmp_path, url, schema, "status", "--profile", "team", "-o", "json")
    assert status.returncode == 0, status.stderr
    got = json.loads(status.stdout)
    assert (got["found"], got["expected"], got["state"], got["type"]) == (
        0, SCHEMA_VERSION, "behind", "postgres")
    assert got["pending"] == list(range(1, SCHEMA_VERSION + 1))

    dry = _cli(tmp_path, url, schema, "migrate", "--dry-run", "--profile", "team")
    assert dry.returncode == 0, dry.stderr
    assert f"CREATE SCHEMA IF NOT EXISTS {schema};" in dry.stdout
    assert "CREATE TABLE runs (" in dry.stdout and "CREATE INDEX runs_pipeline_idx" in dry.stdout
    assert "INSERT INTO sparkwing_schema_version" in dry.stdout
    assert _tables(url, schema) == 0  # a dry run changes nothing

    done = _cli(tmp_path, url, schema, "migrate", "--profile", "team")
    assert done.returncode == 0, done.stderr
    assert f"migrated from schema version 0 to {SCHEMA_VERSION}" in done.stdout
    assert _tables(url, schema) == len(TABLES)
    again = _cli(tmp_path, url, schema, "migrate", "--profile", "team")
    assert f"already at schema version {SCHEMA_VERSION}" in again.stdout
    nothing = _cli(tmp_path, url, schema, "migrate", "--dry-run", "--profile", "team")
    assert "nothing to do" in nothing.stdout

    pretty = _cli(tmp_path, url, schema, "status", "--profile", "team")
    assert "state:        up to date" in pretty.stdout
    assert f"(schema {schema})" in pretty.stdout


def test_status_of_a_newer_database_says_so(tmp_path: Path, pg_config: dict[str, Any]) -> None:
    url, schema = pg_config["url"], pg_config["schema"]
    assert _cli(tmp_path, url, schema, "migrate", "--profile", "team").returncode == 0
    with psycopg.connect(url) as conn:
        conn.execute(f"INSERT INTO {schema}.sparkwing_schema_version VALUES (%s, 0)",
                     (SCHEMA_VERSION + 1,))
    got = json.loads(_cli(tmp_path, url, schema, "status", "--profile", "team", "-o",
                          "json").stdout)
    assert got["state"] == "ahead" and got["found"] == SCHEMA_VERSION + 1
    refused = _cli(tmp_path, url, schema, "migrate", "--profile", "team")
    assert refused.returncode == 1
    assert f"schema version {SCHEMA_VERSION + 1}; this sparkwing expects {SCHEMA_VERSION}" in \
        refused.stderr


def test_laptop_sqlite_status_and_migrate(tmp_path: Path, pg_config: dict[str, Any]) -> None:
    url, schema = pg_config["url"], pg_config["schema"]
    got = json.loads(_cli(tmp_path, url, schema, "status", "-o", "json").stdout)
    assert (got["type"], got["found"], got["state"]) == ("sqlite", 0, "behind")
    dry = _cli(tmp_path, url, schema, "migrate", "--dry-run")
    assert "CREATE TABLE runs" in dry.stdout
    assert _cli(tmp_path, url, schema, "migrate").returncode == 0
    got = json.loads(_cli(tmp_path, url, schema, "status", "-o", "json").stdout)
    assert (got["found"], got["state"]) == (SCHEMA_VERSION, "current")
    assert (tmp_path / "home" / "state.db").is_file()
