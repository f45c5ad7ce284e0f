"""The CI snippets of docs/ci.md, run as each vendor would run them.

For each vendor's YAML block in ``docs/ci.md`` the test takes the shell
commands the vendor runs (GitHub Actions ``run:`` steps, GitLab CI
``before_script``/``script``, Buildkite ``command``/``commands``) and runs
them with bash in a fresh git checkout of ``examples/python-ci``, with that
vendor's environment variables set. ``uvx`` installs sparkwing from wheels
built from this checkout (offline, third-party packages from uv's cache).
Then it checks that the directory the snippet uploads is where the run was
recorded, and that ``runs list/status --from`` and a dashboard started with
``--from`` show the run with the vendor's facts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, Machine, checkout

DOC = ROOT / "docs" / "ci.md"
DISTS = ("sparkwing-core", "sparkwing-cli", "sparkwing-server", "sparkwing-sqlite",
         "sparkwing-github")
FILES = {
    "github-actions": ".github/workflows/sparkwing.yml",
    "gitlab-ci": ".gitlab-ci.yml",
    "buildkite": ".buildkite/pipeline.yml",
}


def vendor_env(vendor: str, sha: str, tmp: Path) -> dict[str, str]:
    """The variables each vendor sets in a job (those sparkwing reads, and a few around them)."""
    if vendor == "github-actions":
        return {
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/widgets",
            "GITHUB_SHA": sha, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_REF_NAME": "42/merge",
            "GITHUB_REF_TYPE": "branch", "GITHUB_HEAD_REF": "feature-x",
            "GITHUB_BASE_REF": "main", "GITHUB_RUN_ID": "7001", "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_ACTOR": "octo", "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"),
        }
    if vendor == "gitlab-ci":
        return {
            "CI": "true", "GITLAB_CI": "true", "CI_PROJECT_PATH": "group/widgets",
            "CI_COMMIT_SHA": sha, "CI_COMMIT_REF_NAME": "feature-y",
            "CI_COMMIT_BRANCH": "feature-y", "CI_MERGE_REQUEST_IID": "17",
            "CI_JOB_URL": "https://gitlab.com/group/widgets/-/jobs/5501",
            "CI_PIPELINE_ID": "900", "CI_PIPELINE_SOURCE": "merge_request_event",
            "GITLAB_USER_LOGIN": "gl-user",
        }
    return {
        "CI": "true", "BUILDKITE": "true", "BUILDKITE_REPO": "git@github.com:acme/widgets.git",
        "BUILDKITE_COMMIT": sha, "BUILDKITE_BRANCH": "main", "BUILDKITE_PULL_REQUEST": "false",
        "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/widgets/builds/12",
        "BUILDKITE_BUILD_NUMBER": "12", "BUILDKITE_SOURCE": "webhook",
        "BUILDKITE_BUILD_CREATOR": "Ada",
    }


def expected_trigger(vendor: str, sha: str) -> tuple[dict[str, str], str, str]:
    """The trigger ``extra``, user and event the run must record."""
    if vendor == "github-actions":
        return ({"vendor": vendor, "repository": "acme/widgets", "sha": sha,
                 "branch": "feature-x", "pull_request": "42",
                 "job_url": "https://github.com/acme/widgets/actions/runs/7001",
                 "build_id": "7001"}, "octo", "pull_request")
    if vendor == "gitlab-ci":
        return ({"vendor": vendor, "repository": "group/widgets", "sha": sha,
                 "branch": "feature-y", "pull_request": "17",
                 "job_url": "https://gitlab.com/group/widgets/-/jobs/5501", "build_id": "900"},
                "gl-user", "merge_request_event")
    return ({"vendor": vendor, "repository": "git@github.com:acme/widgets.git", "sha": sha,
             "branch": "main", "job_url": "https://buildkite.com/acme/widgets/builds/12",
             "build_id": "12"}, "Ada", "webhook")


# -- reading the snippets ------------------------------------------------------------------
def snippets() -> dict[str, dict[str, Any]]:
    """The YAML blocks of docs/ci.md by vendor (found by the file named on their first line)."""
    text = DOC.read_text(encoding="utf-8")
    found: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"^```yaml\n(.*?)^```$", text, re.M | re.S):
        first = block.splitlines()[0].strip()
        for vendor, file in FILES.items():
            if first == f"# {file}":
                assert vendor not in found, f"two {file} snippets in {DOC}"
                found[vendor] = yaml.safe_load(block)
    assert sorted(found) == sorted(FILES), f"{DOC} lacks a snippet for {set(FILES) - set(found)}"
    return found


def commands_and_uploads(vendor: str, doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The shell commands a vendor runs for the snippet, and the paths it uploads."""
    commands: list[str] = []
    uploads: list[str] = []
    if vendor == "github-actions":
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if "run" in step:
                    commands.append(step["run"])
                elif str(step.get("uses", "")).startswith("actions/upload-artifact@"):
                    assert step.get("if") == "always()", "upload the record when the run fails too"
                    uploads.append(step["with"]["path"])
    elif vendor == "gitlab-ci":
        for name, job in doc.items():
            if not isinstance(job, dict) or "script" not in job:
                continue
            commands += [*job.get("before_script", []), *job["script"]]
            artifacts = job.get("artifacts") or {}
            assert artifacts.get("when") == "always", f"job {name}: upload when the run fails too"
            uploads += artifacts.get("paths", [])
    else:
        for step in doc["steps"]:
            cmds = step.get("commands") or step.get("command")
            commands += [cmds] if isinstance(cmds, str) else list(cmds)
            paths = step.get("artifact_paths", [])
            uploads += [paths] if isinstance(paths, str) else list(paths)
            for plugin in step.get("plugins", []):
                for name, settings in plugin.items():
                    if name.startswith("docker#"):
                        # Without it the BUILDKITE_* variables stay outside the container.
                        assert settings.get("propagate-environment") is True
    assert commands and uploads, (vendor, commands, uploads)
    return commands, uploads


def record_dir_of(commands: list[str]) -> str:
    """The ``--sw-record-dir`` value the commands pass (exactly one)."""
    found = []
    for command in commands:
        words = shlex.split(command)
        for i, word in enumerate(words):
            if word == "--sw-record-dir":
                found.append(words[i + 1])
            elif word.startswith("--sw-record-dir="):
                found.append(word.split("=", 1)[1])
    assert len(found) == 1, found
    return found[0]


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of this checkout, in a directory new to uv (so its cache cannot hold older builds)."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH (scripts/install.sh installs it)"
    out = tmp_path_factory.mktemp("wheels")
    for dist in DISTS:
        done = subprocess.run([uv, "build", "--quiet", "--wheel", "--package", dist,
                               "--out-dir", str(out)], cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"uv build {dist}: {done.stderr[-2000:]}"
    warm_uv_cache(uv, out)
    return out


def warm_uv_cache(uv: str, wheels: Path) -> None:
    """Install the wheels' third-party requirements once, online, so the offline jobs find them.

    ``uv sync --frozen`` installs from the lock without fetching index pages,
    so a fresh machine's uv cache may lack the index data an offline
    ``uvx --with sparkwing-github`` needs (seen: "only pyjwt[crypto]<2.8 is
    available"). Only non-sparkwing names are resolved here: nothing of ours
    can come from an index.
    """
    import zipfile

    wanted: set[str] = set()
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            for line in zf.read(meta).decode().splitlines():
                if line.startswith("Requires-Dist:") and "extra ==" not in line:
                    req = line.split(":", 1)[1].strip()
                    if not re.match(r"sparkwing[-_]", req, re.I):
                        wanted.add(req)
    venv = wheels.parent / "warm-venv"
    for argv in ([uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                 [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                  *sorted(wanted)]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{argv[1:3]}: {done.stderr[-2000:]}"


def uv_cache_dir() -> str:
    uv = shutil.which("uv")
    assert uv
    done = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def job_env(tmp: Path, wheels: Path, vendor: str, sha: str) -> dict[str, str]:
    """A CI job's environment: no sparkwing from this workspace, uv offline on the built wheels."""
    from sparkwing.testing.procs import isolated_env

    env = isolated_env(tmp)
    del env["SPARKWING_HOME"], env["SPARKWING_PROFILES"]  # a CI job sets none of these
    workspace_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and p != workspace_bin)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"):
        env.pop(name, None)
    env.update(
        UV_CACHE_DIR=uv_cache_dir(), UV_OFFLINE="1", UV_FIND_LINKS=str(wheels),
        UV_PYTHON=getattr(sys, "_base_executable", sys.executable), UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    env.update(vendor_env(vendor, sha, tmp))
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.loads(response.read())


# -- the test ---------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", sorted(FILES))
def test_the_snippet_runs_and_its_upload_reads_back(
        vendor: str, wheels: Path, tmp_path: Path) -> None:
    commands, uploads = commands_and_uploads(vendor, snippets()[vendor])
    project = tmp_path / "checkout"
    sha = checkout(project)
    env = job_env(tmp_path, wheels, vendor, sha)
    for command in commands:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=project,
                              env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "run_finish" in done.stdout or "run success" in done.stdout, done.stdout[-2000:]

    record = project / record_dir_of(commands)
    assert (record / "state").is_dir()
    # What the vendor uploads is the record directory (all of it).
    for upload in uploads:
        if "*" in upload:
            matched = {p for p in project.glob(upload) if p.is_file()}
            assert matched == {p for p in record.rglob("*") if p.is_file()}
        else:
            assert (project / upload).resolve() == record.resolve(), (upload, record)
    # The run was recorded there, not in a home of the job.
    assert not (tmp_path / ".sparkwing" / "state.db").exists()

    # A reader somewhere else, with the workspace's sparkwing.
    job_only = vendor_env(vendor, "", tmp_path)
    reader_env = {k: v for k, v in env.items() if k not in job_only}
    reader = Machine(project, {**reader_env, "SPARKWING_HOME": str(tmp_path / "reader")}, sha)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = reader.json_lines("runs", "list", "--from", str(record), cwd=elsewhere)
    assert [(r["pipeline"], r["status"], r["trigger_source"], r["git_sha"]) for r in runs] == [
        ("ci", "success", "ci-embedded", sha)]
    extra, user, event = expected_trigger(vendor, sha)
    assert runs[0]["trigger_user"] == user and runs[0]["git_branch"] == extra["branch"]
    status = reader.sparkwing("runs", "status", "--from", str(record), "-o", "json", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    trigger = json.loads(status.stdout)["run"]["invocation"]["trigger"]
    assert (trigger["extra"], trigger["event"]) == (extra, event)

    port = free_port()
    started = reader.sparkwing("dashboard", "start", "--read-only", "--from", str(record),
                               "--addr", f"127.0.0.1:{port}", cwd=elsewhere)
    try:
        assert started.returncode == 0, started.stderr
        listed = get_json(f"http://127.0.0.1:{port}/api/v1/runs")["runs"]
        assert [r["id"] for r in listed] == [runs[0]["id"]]
        detail = get_json(f"http://127.0.0.1:{port}/api/v1/runs/{runs[0]['id']}")
        assert detail["run"]["invocation"]["trigger"]["extra"] == extra
        assert {n["node_id"]: n["outcome"] for n in detail["nodes"]} == {
            "lint": "success", "test": "success", "build": "success", "smoke": "success"}
    finally:
        reader.sparkwing("dashboard", "kill", cwd=elsewhere)

    if vendor == "github-actions":
        # The snippet installs sparkwing-github: its step summary is written.
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        assert f"### ✅ sparkwing `ci`: success\n\nRun `{runs[0]['id']}` at `{sha[:12]}`" in summary
