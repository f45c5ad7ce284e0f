"""The web UI over a record directory (``dashboard start --from DIR``) in headless Chromium.

A run recorded inside a (simulated) GitLab CI job with ``--sw-record-dir``
shows its CI job next to the trigger, linked to the job's page, and the
read-only dashboard offers no action.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import expect

from .conftest import CLI

GITLAB = {
    "GITLAB_CI": "true", "CI_PROJECT_PATH": "group/app", "CI_COMMIT_REF_NAME": "feature-y",
    "CI_MERGE_REQUEST_IID": "17", "CI_JOB_URL": "https://gitlab.example.com/group/app/-/jobs/55",
    "CI_PIPELINE_ID": "900", "CI_PIPELINE_SOURCE": "merge_request_event",
    "GITLAB_USER_LOGIN": "gl-user",
}

PIPELINE = """\
import sparkwing as sw

def plan(plan, inputs, run):
    plan.job("hello", sw.sh("echo hello from ci"))
"""


def test_a_recorded_ci_run_shows_its_job_and_no_actions(
        cli: CLI, port: int, browser: Any, new_page: Any, page_errors: list[str],
        shot: Any) -> None:
    sw_dir = cli.cwd / ".sparkwing"
    (sw_dir / "pipelines").mkdir(parents=True)
    (sw_dir / "pipelines" / "__init__.py").write_text("")
    (sw_dir / "pipelines" / "hello.py").write_text(PIPELINE)
    (sw_dir / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: hello\n    entrypoint: pipelines.hello:plan\n")
    record = cli.cwd / "record"
    in_job = CLI(cli.home, {**cli.env, **GITLAB}, cli.cwd)
    done = in_job("run", "hello", "--sw-record-dir", str(record), "-o", "json")
    assert done.returncode == 0, done.stderr

    started = cli("dashboard", "start", "--read-only", "--from", str(record),
                  "--addr", f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{url}/api/v1/runs", timeout=10) as response:
        run_id = json.loads(response.read())["runs"][0]["id"]

    page = new_page(browser, page_errors)
    page.goto(f"{url}/#/runs/{run_id}")
    meta = page.locator(".ci-meta")
    expect(meta).to_contain_text("ci gitlab-ci group/app PR #17 build 900")
    link = page.locator("a#ci-job")
    expect(link).to_have_attribute("href", "https://gitlab.example.com/group/app/-/jobs/55")
    expect(page.locator("#run-head")).to_contain_text("trigger ci-embedded by gl-user")
    expect(page.locator("#run-head")).to_contain_text("branch feature-y")
    expect(page.locator('.dag-node[data-node-id="hello"]')).to_have_attribute(
        "data-status", "success")
    expect(page.locator("#cancel, #retry, #retry-all")).to_have_count(0)
    expect(page.locator(".log")).to_contain_text("hello from ci")
    shot(page, "run-recorded-in-ci")
    assert page_errors == []
