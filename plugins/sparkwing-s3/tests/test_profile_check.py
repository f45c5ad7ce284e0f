"""``sparkwing profile --check`` on an ``s3`` profile: a real round trip to moto.

A reachable bucket answers on every surface (read, then write, read back and
delete of one object, which leaves nothing behind); a bucket that does not
exist is a one-line error at profile load (exit 2); a server that stops
answering fails each surface with its own line (exit 1).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
from sparkwing_s3.testing import MotoS3

from .test_team_e2e import make_home, team_profile


def _keys(moto_s3: MotoS3, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=moto_s3.endpoint_url, region_name="us-east-1")
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_check_makes_a_round_trip_to_each_surface(
    tmp_path: Path, moto_s3: MotoS3, bucket: str,
) -> None:
    home = make_home(tmp_path, "a", team_profile(bucket, moto_s3.endpoint_url))
    proc = home.cli("profile", "--profile", "team", "--check", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["profile"] == "team"
    assert [(s["surface"], s["type"], s["ok"], s["steps"]) for s in out["surfaces"]] == [
        (surface, "s3", True, "read, write, read back, delete")
        for surface in ("state", "logs", "cache")
    ]
    assert not [k for k in _keys(moto_s3, bucket) if "/meta/check-" in k]

    text = home.cli("profile", "--profile", "team", "--check")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0] == "profile: team"
    assert [line.split()[:3] for line in text.stdout.splitlines()[1:]] == [
        [f"{surface}:", "s3", "ok"] for surface in ("state", "logs", "cache")
    ]


def test_a_missing_bucket_is_one_line_at_profile_load(tmp_path: Path, moto_s3: MotoS3) -> None:
    home = make_home(tmp_path, "a", team_profile("sw-no-such-bucket", moto_s3.endpoint_url))
    proc = home.cli("profile", "--profile", "team", "--check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "sw-no-such-bucket" in lines[0] and 'profile "team"' in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_server_that_stops_answering_fails_each_surface(
    tmp_path: Path, moto_s3: MotoS3, bucket: str,
) -> None:
    # a listening socket that never answers: the store opens lazily, then every call times out
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        profile = team_profile(bucket, endpoint).replace("prefix:", "timeout: 1, retries: 0, prefix:")
        home = make_home(tmp_path, "a", profile)
        proc = home.cli("profile", "--profile", "team", "--check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line.split()[:3] for line in proc.stdout.splitlines()[1:]] == [
        [f"{surface}:", "s3", "FAILED"] for surface in ("state", "logs", "cache")
    ]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(": ")[3] for e in errors] == ["state", "logs", "cache"], errors
    assert all(e.count('profile "team"') == 1 and "cannot reach" in e for e in errors), errors
