"""Approving, releasing and retrying from the web UI, in real headless Chromium.

Runs are real ``sparkwing run`` processes; the dashboard is the real
detached server started with ``sparkwing dashboard start``. Screenshots go
to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

LIVE = 30_000  # ms: generous bound for things that happen while runs progress
#: The user the dashboard process runs as (recorded as the approver).
DASHBOARD_USER = "dash-user"

PIPELINES = {
    "gated": """
        import sparkwing as sw

        def plan(plan):
            gate = plan.approval("approve", message="ship it?")
            plan.job("ship", sw.sh("echo shipped")).needs(gate)
    """,
    "two": """
        import sparkwing as sw

        def plan(plan):
            a = plan.job("a", sw.sh("echo a-ran"))
            plan.job("b", sw.sh("echo b-ran")).needs(a)
    """,
    "flaky": """
        import sparkwing as sw

        def plan(plan):
            build = plan.job("build", lambda ctx: {"built": ctx.run.run_id})
            plan.job("check", sw.sh("test ! -e fail-marker && echo checked")).needs(build)
    """,
}


@dataclass
class Dashboard:
    """A dashboard started with the real CLI over a project with the pipelines above."""

    url: str
    cli: Any

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1{path}", timeout=10) as response:
            return json.loads(response.read())

    def wait_api(self, path: str, pick: Any, what: str) -> Any:
        deadline = time.monotonic() + LIVE / 1000
        while time.monotonic() < deadline:
            value = pick(self.api(path))
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")



@pytest.fixture
def dashboard(cli: Any, port: int) -> Dashboard:
    """The project's pipelines and a dashboard (running as ``DASHBOARD_USER``) over its home."""
    pdir = cli.cwd / ".sparkwing" / "pipelines"
    pdir.mkdir(parents=True)
    (pdir / "__init__.py").write_text("")
    yaml = "pipelines:\n"
    for name, code in PIPELINES.items():
        (pdir / f"{name}.py").write_text(textwrap.dedent(code))
        yaml += f"  - name: {name}\n    entrypoint: pipelines.{name}:plan\n"
    (cli.cwd / ".sparkwing" / "sparkwing.yaml").write_text(yaml)
    cli.env["USER"] = DASHBOARD_USER
    started = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stderr
    return Dashboard(f"http://127.0.0.1:{port}", cli)





def finish(proc: Any) -> int:
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_approving_a_gate_with_a_comment(new_page: Any, shot: Any, browser: Any, dashboard: Dashboard,
                                         page_errors: list[str]) -> None:
    proc = dashboard.cli.popen("run", "gated")
    try:
        pending = dashboard.wait_api("/approvals/pending", lambda b: b["approvals"],
                                     "the approval request")
        run_id = pending[0]["run_id"]
        page = new_page(browser, page_errors)
        page.goto(dashboard.url)
        flag = page.locator(f'tr.run-row[data-run-id="{run_id}"] .flag[data-flag="approval"]')
        expect(flag).to_have_text("approval pending", timeout=LIVE)
        shot(page, "runs-approval-pending")

        page.goto(f"{dashboard.url}/#/runs/{run_id}")
        banner = page.locator('.approval-banner[data-node="approve"]')
        expect(banner).to_contain_text("ship it?", timeout=LIVE)
        expect(page.locator('.dag-node[data-node-id="approve"]')).to_have_attribute(
            "data-status", "approval_pending")
        expect(page.locator('.dag-node[data-node-id="ship"]')).to_have_attribute(
            "data-status", "pending")
        banner.locator("input.comment").fill("shipping from the browser")
        # The page reloads the run while a comment is typed; the comment stays.
        detail_url = f"{dashboard.url}/api/v1/runs/{run_id}"
        with page.expect_response(lambda r: r.url == detail_url, timeout=LIVE):
            pass
        expect(banner.locator("input.comment")).to_have_value("shipping from the browser")
        shot(page, "run-approval-banner")
        banner.locator("button.approve").click()

        expect(page.locator('.dag-node[data-node-id="ship"]')).to_have_attribute(
            "data-status", "success", timeout=LIVE)
        expect(page.locator("#run-head .status")).to_have_attribute(
            "data-status", "success", timeout=LIVE)
        expect(page.locator(".approval-banner")).to_have_count(0)
        page.locator('.dag-node[data-node-id="approve"]').click()
        expect(page.locator(".approval-info")).to_contain_text(
            f"approved by {DASHBOARD_USER}: shipping from the browser")
        shot(page, "run-approved")
    finally:
        code = finish(proc)
    assert code == 0
    approval = dashboard.api(f"/runs/{run_id}/approvals/approve")["approval"]
    assert (approval["resolution"], approval["approver"], approval["comment"]) == (
        "approved", DASHBOARD_USER, "shipping from the browser")
    assert page_errors == []


def test_releasing_a_paused_job(new_page: Any, shot: Any, browser: Any, dashboard: Dashboard,
                                page_errors: list[str]) -> None:
    proc = dashboard.cli.popen("run", "two", "--sw-pause-before", "a")
    try:
        run_id = dashboard.wait_api(
            "/runs", lambda b: next((r["id"] for r in b["runs"] if r["paused_nodes"]), None),
            "the pause")
        page = new_page(browser, page_errors)
        page.goto(dashboard.url)
        expect(page.locator(f'tr.run-row[data-run-id="{run_id}"] .flag[data-flag="paused"]')
               ).to_have_count(1, timeout=LIVE)
        page.goto(f"{dashboard.url}/#/runs/{run_id}")
        banner = page.locator('.pause-banner[data-node="a"]')
        expect(banner).to_contain_text("paused (pause-before)", timeout=LIVE)
        node = page.locator('.dag-node[data-node-id="a"]')
        expect(node).to_have_attribute("data-status", "paused")
        expect(node).to_contain_text("paused (pause-before)")
        expect(page.locator("#job-head")).to_contain_text("paused (pause-before)")
        shot(page, "run-paused")
        assert proc.poll() is None
        banner.locator("button.release").click()
        expect(page.locator("#run-head .status")).to_have_attribute(
            "data-status", "success", timeout=LIVE)
        expect(page.locator(".pause-banner")).to_have_count(0)
        expect(page.locator('.dag-node[data-node-id="b"]')).to_have_attribute(
            "data-status", "success")
    finally:
        code = finish(proc)
    assert code == 0
    pauses = dashboard.api(f"/runs/{run_id}/paused?all=1")["pauses"]
    assert [(p["node_id"], p["released_by"], p["release_kind"]) for p in pauses] == [
        ("a", DASHBOARD_USER, "manual")]
    assert page_errors == []


def test_retrying_a_failed_run(new_page: Any, shot: Any, browser: Any, dashboard: Dashboard,
                               page_errors: list[str]) -> None:
    marker = dashboard.cli.cwd / "fail-marker"
    marker.write_text("x")
    assert dashboard.cli("run", "flaky").returncode == 1
    failed_id = dashboard.api("/runs")["runs"][0]["id"]
    marker.unlink()
    page = new_page(browser, page_errors)
    page.goto(f"{dashboard.url}/#/runs/{failed_id}")
    expect(page.locator("#run-head .status")).to_have_attribute("data-status", "failed")
    expect(page.locator("#retry-all")).to_have_text("Retry all")
    page.locator("#retry").click()
    expect(page).not_to_have_url(f"{dashboard.url}/#/runs/{failed_id}", timeout=LIVE)
    expect(page.locator("#run-head .status")).to_have_attribute(
        "data-status", "success", timeout=LIVE)
    expect(page.locator('.dag-node[data-node-id="build"]')).to_have_attribute(
        "data-status", "cached")
    expect(page.locator("#run-head")).to_contain_text(f"retry of {failed_id}")
    expect(page.locator("#retry")).to_have_count(0)
    expect(page.locator("#retry-all")).to_have_text("Run again")
    shot(page, "run-retried")
    new_id = page.evaluate("decodeURIComponent(location.hash.split('/')[2].split('?')[0])")
    detail = dashboard.api(f"/runs/{new_id}")
    assert detail["run"]["retry_of"] == failed_id and detail["run"]["status"] == "success"
    assert page_errors == []
