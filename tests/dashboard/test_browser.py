"""The web UI in real headless Chromium (Playwright driving the system ``/usr/bin/chromium``).

Runs are started with the real ``sparkwing run`` (and, for shapes the
pipelines here do not produce — groups, steps, secrets, outputs — with
``simrun.py`` writing through the real stores). Screenshots are written
to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

HERE = Path(__file__).parent
SIMRUN = HERE / "simrun.py"
LIVE = 30_000  # ms: generous bound for things that happen while runs progress

SLOW = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        prep = plan.job("prep", sw.sh("echo preparing"))
        plan.job("ticker", sw.sh(
            "printf '\\\\033[32mtick %s\\\\033[0m\\\\n' 1 2; "
            "while [ ! -e GATE ]; do sleep 0.05; done; "
            "for i in 3 4 5; do echo tick $i; sleep 0.2; done"
        )).needs(prep)
"""

BROKEN = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        compile = plan.job("compile", sw.sh(
            "echo compiling main.c; echo 'main.c:3: error: expected semicolon' >&2; exit 3"))
        plan.job("test", sw.sh("echo never")).needs(compile)
"""


@dataclass
class Dashboard:
    """A dashboard started with the real CLI over a project with two pipelines."""

    url: str
    cli: Any

    def open_gate(self) -> None:
        """Let the ``slow`` pipeline's ticker job continue past "tick 2"."""
        (self.cli.cwd / "gate").touch()

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1{path}", timeout=10) as response:
            return json.loads(response.read())



@pytest.fixture
def dashboard(cli: Any, port: int) -> Dashboard:
    """A project with pipelines ``slow`` and ``broken`` and a dashboard over its home."""
    sw_dir = cli.cwd / ".sparkwing"
    (sw_dir / "pipelines").mkdir(parents=True)
    (sw_dir / "pipelines" / "__init__.py").write_text("")
    gate = cli.cwd / "gate"
    (sw_dir / "pipelines" / "slow.py").write_text(textwrap.dedent(SLOW).replace("GATE", str(gate)))
    (sw_dir / "pipelines" / "broken.py").write_text(textwrap.dedent(BROKEN))
    (sw_dir / "sparkwing.yaml").write_text(
        "pipelines:\n"
        "  - name: slow\n    entrypoint: pipelines.slow:plan\n"
        "  - name: broken\n    entrypoint: pipelines.broken:plan\n"
    )
    started = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stderr
    return Dashboard(f"http://127.0.0.1:{port}", cli)





def test_two_cli_runs_appear_and_stream_live(new_page: Any, shot: Any, browser: Any, dashboard: Dashboard,
                                             page_errors: list[str]) -> None:
    page = new_page(browser, page_errors)
    page.goto(dashboard.url)
    expect(page.locator(".empty")).to_contain_text("No runs")
    procs = [dashboard.cli.popen("run", "slow") for _ in range(2)]
    try:
        running = page.locator("tr.run-row[data-status=running]")
        expect(running).to_have_count(2, timeout=LIVE)
        shot(page, "runs-two-live")
        run_ids = [running.nth(i).get_attribute("data-run-id") for i in range(2)]
        assert len(set(run_ids)) == 2

        pages = [page, new_page(browser, page_errors)]
        for p, run_id in zip(pages, run_ids, strict=True):
            p.goto(f"{dashboard.url}/#/runs/{run_id}?node=ticker")
        for p in pages:
            log = p.locator(".log")
            expect(log).to_contain_text("tick 2", timeout=LIVE)
            expect(log.locator(".fg2").first).to_have_text("tick 1")
            expect(p.locator('.dag-node[data-node-id="prep"]')).to_have_attribute(
                "data-status", "success")
            expect(p.locator('.dag-node[data-node-id="ticker"]')).to_have_attribute(
                "data-status", "running")
        # Both runs are held at the gate: what follows can only arrive by streaming.
        assert [dashboard.api(f"/runs/{r}")["run"]["status"] for r in run_ids] == [
            "running", "running"]
        shot(pages[1], "run-live-log")
        dashboard.open_gate()
        for p in pages:
            expect(p.locator(".log")).to_contain_text("tick 5", timeout=LIVE)
            expect(p.locator("#run-head .status")).to_have_attribute(
                "data-status", "success", timeout=LIVE)
            expect(p.locator(".log-foot")).to_contain_text("end of log", timeout=LIVE)
            expect(p.locator('.dag-node[data-node-id="ticker"]')).to_have_attribute(
                "data-status", "success")
        page.goto(dashboard.url)
        expect(page.locator("tr.run-row[data-status=success]")).to_have_count(2, timeout=LIVE)
        shot(page, "runs-two-done")
    finally:
        dashboard.open_gate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0]
    assert page_errors == []


def select_node(page: Any, node_id: str) -> None:
    """Click the job in the DAG until the page has selected it (the URL names it).

    A click that lands while the DAG is being redrawn can be lost on a loaded
    machine; a user clicks again, and so does this helper (three times at most).
    """
    wanted = f"node={urllib.parse.quote(node_id, safe='')}"
    for _ in range(3):
        page.locator(f'.dag-node[data-node-id="{node_id}"]').click()
        try:
            page.wait_for_function("w => location.hash.includes(w)", arg=wanted, timeout=3000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"job {node_id} could not be selected; the page shows {page.url}")


def test_failing_job_shows_its_excerpt(new_page: Any, shot: Any, browser: Any, dashboard: Dashboard,
                                       page_errors: list[str]) -> None:
    result = dashboard.cli("run", "broken")
    assert result.returncode == 1
    run_id = dashboard.api("/runs")["runs"][0]["id"]
    for scheme in ("light", "dark"):
        page = new_page(browser, page_errors, color_scheme=scheme)
        page.goto(dashboard.url)
        row = page.locator(f'tr.run-row[data-run-id="{run_id}"]')
        expect(row).to_have_attribute("data-status", "failed")
        row.click()
        expect(page.locator("#run-error")).to_contain_text("compile")
        select_node(page, "test")
        expect(page.locator(".excerpt")).to_have_count(0)
        select_node(page, "compile")
        excerpt = page.locator('.excerpt[data-node="compile"]')
        expect(excerpt).to_contain_text("main.c:3: error: expected semicolon")
        expect(excerpt).to_contain_text("exit 3")
        expect(page.locator('.dag-node[data-node-id="test"]')).to_have_attribute(
            "data-status", "cancelled")
        expect(page.locator(".log")).to_contain_text("compiling main.c")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        channels = [int(x) for x in background[background.index("(") + 1:-1].split(",")[:3]]
        assert (sum(channels) / 3 < 60) == (scheme == "dark"), background
        shot(page, f"failed-job-excerpt-{scheme}")
    assert page_errors == []


def test_groups_steps_secrets_outputs_search_cancel_and_narrow_window(new_page: Any, shot: Any,
        browser: Any, dashboard: Dashboard, page_errors: list[str]) -> None:
    # the run holds before its last job until the test has seen the cancel requested, so a
    # slow machine cannot finish the run before the Cancel button is pressed
    hold = dashboard.cli.home / "sim-hold"
    sim = subprocess.Popen(
        [sys.executable, str(SIMRUN), "--home", str(dashboard.cli.home), "--lines", "12",
         "--delay", "0.25", "--hold", str(hold)],
        stdout=subprocess.PIPE, text=True, env=dashboard.cli.env,
    )
    try:
        assert sim.stdout is not None
        run_id = sim.stdout.readline().strip()
        page = new_page(browser, page_errors)
        page.goto(f"{dashboard.url}/#/runs/{run_id}")

        inputs = page.locator("#inputs")
        expect(inputs.locator('tr[data-key="token"]')).to_contain_text("***")
        expect(inputs.locator('tr[data-key="target"]')).to_contain_text("prod")
        assert "hunter2" not in page.content()

        chip = page.locator('.group-chip[data-group="tests"]')
        expect(chip).to_contain_text("tests (2)")
        chip.click()
        expect(page.locator('.dag-node.group[data-group="tests"]')).to_contain_text("tests (2)")
        expect(page.locator('.dag-node[data-node-id="tests/unit"]')).to_have_count(0)
        page.locator('.dag-node.group[data-group="tests"]').click()
        unit = page.locator('.dag-node[data-node-id="tests/unit"]')
        expect(unit).to_have_count(1)

        unit.click()
        expect(page.locator('#steps li[data-step="deps"]')).to_have_count(1)
        expect(page.locator('#steps li[data-step="pytest"]')).to_have_count(1)
        section = page.locator('.log details.section[data-step="pytest"]')
        expect(section).to_contain_text("line 3 of sim", timeout=LIVE)
        expect(page.locator('.log details.section[data-step="deps"] .status')).to_have_attribute(
            "data-status", "passed")

        page.fill('.log-tools input[type=search]', "line 1")
        expect(page.locator(".log-tools .count")).to_contain_text("matching")
        expect(page.locator(".log .line.miss").first).to_be_hidden()
        expect(page.locator(".log mark").first).to_have_text("line 1")
        page.fill('.log-tools input[type=search]', "")
        expect(page.locator(".log .line.miss")).to_have_count(0)
        toggle = page.locator(".log-tools button[aria-pressed]")
        expect(toggle).to_have_text("Paused")  # searching stops following
        toggle.click()
        expect(toggle).to_have_text("Follow")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        toggle.click()
        expect(toggle).to_have_text("Paused")

        cancel = page.locator("#cancel")
        expect(cancel).to_have_text("Cancel run")
        cancel.click()
        expect(cancel).to_have_text("Confirm cancel")
        cancel.click()
        expect(page.locator("#cancel")).to_have_text("Cancelling…")
        assert dashboard.api(f"/runs/{run_id}")["run"]["cancel_requested_at"] is not None
        hold.touch()
        shot(page, "sim-run-live")

        page.locator('.dag-node[data-node-id="package"]').click()
        expect(page.locator("#output")).to_contain_text("dist/app.whl", timeout=LIVE)
        expect(page.locator("#run-head .status")).to_have_attribute("data-status", "success")
        expect(page.locator("#cancel")).to_have_count(0)
        shot(page, "sim-run-done")

        narrow = new_page(browser, page_errors, viewport={"width": 390, "height": 844},
                          color_scheme="dark")
        narrow.goto(f"{dashboard.url}/#/runs/{run_id}?node=tests/unit")
        expect(narrow.locator(".log")).to_contain_text("line 12 of sim")
        assert narrow.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        shot(narrow, "narrow-run")
        narrow.goto(dashboard.url)
        expect(narrow.locator(f'tr.run-row[data-run-id="{run_id}"]')).to_have_count(1)
        assert narrow.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        shot(narrow, "narrow-runs")
    finally:
        hold.touch()
        try:
            sim.wait(timeout=60)
        finally:
            if sim.poll() is None:
                sim.kill()
    assert page_errors == []


def test_runs_list_filters_and_search(new_page: Any, shot: Any, browser: Any, dashboard: Dashboard,
                                      page_errors: list[str]) -> None:
    dashboard.open_gate()
    assert dashboard.cli("run", "broken").returncode == 1
    assert dashboard.cli("run", "slow").returncode == 0
    page = new_page(browser, page_errors)
    page.goto(dashboard.url)
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(2)
    page.select_option('select[aria-label="Status"]', "failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "failed")
    page.select_option('select[aria-label="Status"]', "")
    expect(rows).to_have_count(2)
    page.fill('input[name="pipeline"]', "slow")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".pipeline")).to_have_text("slow")
    page.fill('input[name="pipeline"]', "")
    page.fill('input[name="search"]', "brok")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".pipeline")).to_have_text("broken")
    shot(page, "runs-filtered")
    assert page_errors == []


def test_runs_list_project_column_and_filter(new_page: Any, shot: Any, browser: Any,
                                            dashboard: Dashboard, page_errors: list[str]) -> None:
    import dataclasses
    import shutil

    other = dashboard.cli.cwd.parent / "other-project"
    shutil.copytree(dashboard.cli.cwd / ".sparkwing", other / ".sparkwing")
    elsewhere = dataclasses.replace(dashboard.cli, cwd=other)
    assert dashboard.cli("run", "broken").returncode == 1
    assert elsewhere("run", "broken").returncode == 1
    listing = dashboard.api("/projects")
    here = str(dashboard.cli.cwd.resolve())
    assert listing["current"] == here
    assert sorted(p["name"] for p in listing["projects"]) == ["other-project", "work"]
    page = new_page(browser, page_errors)
    page.goto(dashboard.url)
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".c-project")).to_have_text("other-project")
    expect(rows.nth(1).locator(".c-project")).to_have_text("work")
    expect(rows.nth(1).locator(".c-project")).to_have_attribute("title", here)
    projects = page.locator('select[aria-label="Project"] option')
    expect(projects).to_have_count(3)
    page.select_option('select[aria-label="Project"]', here)
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".c-project")).to_have_text("work")
    shot(page, "runs-by-project")
    page.select_option('select[aria-label="Project"]', "")
    expect(rows).to_have_count(2)
    assert page_errors == []


def test_the_page_gets_every_event_kind_from_the_server(new_page: Any, browser: Any,
                                                        dashboard: Dashboard,
                                                        page_errors: list[str]) -> None:
    from sparkwing.events import all_kinds, kinds_by_stream

    page = new_page(browser, page_errors)
    page.goto(dashboard.url)
    expect(page.locator(".empty")).to_contain_text("No runs")
    seen = page.evaluate("""async () => {
        const m = await import("/static/kinds.js");
        const names = Object.keys(JSON.parse(
            document.getElementById("sparkwing-event-kinds").textContent).state);
        let unknown = "";
        try { m.EV.NOT_A_KIND; } catch (err) { unknown = String(err.message); }
        return {
            all: Object.fromEntries(Object.keys(m.EV).map((k) => [k, m.EV[k]])),
            state: [...m.STATE_KINDS], log: [...m.LOG_KINDS], names, unknown,
        };
    }""")
    assert seen["all"] == all_kinds()
    assert sorted(seen["state"]) == sorted(kinds_by_stream()["state"].values())
    assert sorted(seen["log"]) == sorted(kinds_by_stream()["log"].values())
    assert "NOT_A_KIND" in seen["unknown"]
    assert page_errors == []
