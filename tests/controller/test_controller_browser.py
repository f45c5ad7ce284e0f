"""The controller's web UI behind login, in real headless Chromium (system ``/usr/bin/chromium``).

A real ``sparkwing controller serve`` over a home holding a live run (an
approval gate and a debug pause waiting on job ``gate``) and a finished
one; users made with the real CLI. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

#: Chromium resolves this name to 127.0.0.1: a DNS-rebinding page under a foreign name.
REBOUND = "rebind.test"
CHROMIUM_EXTRA_ARGS = [f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"]
SCREENSHOTS = Path(__file__).parent.parent.parent / "test-artifacts" / "screenshots"
WAIT = 30_000  # ms: generous bound for the page to load from a busy machine
LIVE_RUN = "run-20260101-000002-live"
DONE_RUN = "run-20260101-000001-done"
PASSWORDS = {"root": "rootpass1", "vic": "viewpass1"}


@dataclass
class Site:
    """The running controller and how to reach it."""

    url: str
    port: int
    controller: Any


@pytest.fixture
def site(controller: Any) -> Iterator[Site]:
    """A controller with an admin (``root``), a viewer (``vic``) and two runs."""
    from sparkwing.storage.records import Approval, Node, Pause, Run

    for name, scope in (("root", "admin"), ("vic", "runs.read,logs.read")):
        out = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "controller", "user",
                              "create", "--name", name, "--scope", scope], cwd=controller.cwd,
                             env=controller.env, input=PASSWORDS[name] + "\n",
                             capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
    stores = controller.open_state()
    now = time.time()
    stores.state.create_run(Run(id=DONE_RUN, pipeline="release", status="success",
                                created_at=now - 60, started_at=now - 60, finished_at=now - 30))
    stores.state.create_run(Run(id=LIVE_RUN, pipeline="deploy", status="running",
                                created_at=now, started_at=now))
    stores.state.create_nodes(LIVE_RUN, [Node(LIVE_RUN, "gate"), Node(LIVE_RUN, "debug")])
    stores.state.create_approval(Approval(LIVE_RUN, "gate", now, message="ship it?"))
    stores.state.create_pause(Pause(LIVE_RUN, "debug", "pause-before", now, now + 3600))
    stores.close()
    url = controller.start()
    yield Site(url, int(url.rsplit(":", 1)[1]), controller)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any, site: Site, name: str, password: str = "") -> Any:
    """Open the UI (sent to the login page), submit the form; the response of the submit."""
    page.goto(site.url + "/", wait_until="domcontentloaded")
    expect(page).to_have_url(f"{site.url}/login?next=/", timeout=WAIT)
    page.fill("#username", name)
    page.fill("#password", password or PASSWORDS[name])
    with page.expect_navigation(timeout=WAIT) as nav:
        page.click("#login-submit")
    return nav.value


def whoami(page: Any) -> Any:
    return page.evaluate("fetch('/api/v1/auth/whoami').then(r => r.json())")


def post_from_page(page: Any, path: str, csrf: str | None) -> Any:
    """A write made by script in the page: ``[status, body]``."""
    return page.evaluate(
        """async ([path, csrf]) => {
             const headers = csrf === null ? {} : { "X-CSRF-Token": csrf };
             const res = await fetch(path, { method: "POST", headers });
             return [res.status, await res.json()];
           }""", [path, csrf])


def test_admin_logs_in_sees_runs_and_write_buttons(browser: Any, new_page: Any,
                                                   page_errors: list[str], site: Site) -> None:
    page = new_page(browser, page_errors)
    response = log_in(page, site, "root")
    assert response.url == site.url + "/"
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(2, timeout=WAIT)
    expect(page.locator(f'tr.run-row[data-run-id="{LIVE_RUN}"]')).to_have_attribute(
        "data-status", "running")
    expect(page.locator("#user")).to_have_text("user:root")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sparkwing_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shot(page, "controller-runs-admin")
    page.goto(f"{site.url}/#/runs/{LIVE_RUN}")
    expect(page.locator("#cancel")).to_be_visible(timeout=WAIT)
    banner = page.locator('.approval-banner[data-node="gate"]')
    expect(banner.locator("button.approve")).to_be_visible(timeout=WAIT)
    expect(page.locator('.pause-banner[data-node="debug"] button.release')).to_be_visible()
    shot(page, "controller-run-admin")
    # Approving from the page records the logged-in user as the approver.
    banner.locator("button.approve").click()
    expect(banner).to_contain_text("by user:root", timeout=WAIT)
    assert page_errors == []


def test_viewer_sees_no_write_buttons_and_a_forged_write_is_refused(
        browser: Any, new_page: Any, page_errors: list[str], site: Site) -> None:
    page = new_page(browser, page_errors)
    log_in(page, site, "vic")
    page.goto(f"{site.url}/#/runs/{LIVE_RUN}")
    banner = page.locator('.approval-banner[data-node="gate"]')
    expect(banner).to_contain_text("sparkwing runs approvals approve", timeout=WAIT)
    expect(page.locator('.pause-banner[data-node="debug"]')).to_contain_text(
        "sparkwing debug release")
    expect(page.locator("#run-head h1")).to_have_text("deploy")
    for selector in ("#cancel", "button.approve", "button.release", "#retry", "#retry-all"):
        expect(page.locator(selector)).to_have_count(0)
    shot(page, "controller-run-viewer")
    who = whoami(page)
    assert who["principal"] == "user:vic" and who["scopes"] == ["logs.read", "runs.read"]
    # The page's own session and CSRF token do not make a viewer's write pass.
    status, body = post_from_page(page, f"/ui/api/v1/runs/{LIVE_RUN}/cancel", who["csrf_token"])
    assert (status, body["error"], body["missing_scope"]) == (403, "missing_scope", "runs.write")
    status, body = post_from_page(page, f"/ui/api/v1/runs/{LIVE_RUN}/approvals/gate",
                                  who["csrf_token"])
    assert (status, body["missing_scope"]) == (403, "approvals.write")
    assert page_errors == []


def test_a_write_without_the_csrf_token_is_refused(browser: Any, new_page: Any,
                                                   page_errors: list[str], site: Site) -> None:
    page = new_page(browser, page_errors)
    log_in(page, site, "root")
    path = f"/ui/api/v1/runs/{LIVE_RUN}/cancel"
    status, body = post_from_page(page, path, None)
    assert (status, body["error"]) == (403, "csrf_failed")
    status, body = post_from_page(page, path, "not-the-token")
    assert (status, body["error"]) == (403, "csrf_failed")
    status, body = post_from_page(page, path, whoami(page)["csrf_token"])
    assert status == 202 and body["run_id"] == LIVE_RUN


def test_repeated_wrong_passwords_get_429(browser: Any, new_page: Any, page_errors: list[str],
                                          site: Site) -> None:
    page = new_page(browser, page_errors)
    for _ in range(5):
        response = log_in(page, site, "root", "not-the-password")
        assert response.status == 401
        expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    response = log_in(page, site, "root")  # the right password, while locked
    assert response.status == 429 and int(response.headers["retry-after"]) > 0
    expect(page.locator("#login-error")).to_contain_text("too many failed logins")
    shot(page, "controller-login-throttled")
    assert not [c for c in page.context.cookies() if c["name"] == "sparkwing_session"]


def test_logout_ends_the_session(browser: Any, new_page: Any, page_errors: list[str],
                                 site: Site) -> None:
    from .conftest import http

    page = new_page(browser, page_errors)
    log_in(page, site, "root")
    expect(page.locator("#logout")).to_be_visible(timeout=WAIT)
    old = next(c["value"] for c in page.context.cookies() if c["name"] == "sparkwing_session")
    with page.expect_navigation(timeout=WAIT):
        page.click("#logout")
    expect(page).to_have_url(f"{site.url}/login", timeout=WAIT)
    assert not [c for c in page.context.cookies() if c["name"] == "sparkwing_session"]
    # The old cookie is dead on the server, not only forgotten by the browser.
    replay = http("GET", site.url + "/api/v1/auth/whoami",
                  headers={"Cookie": f"sparkwing_session={old}"})
    replay.assert_error(401, "unauthenticated")
    page.goto(site.url + "/")
    expect(page).to_have_url(f"{site.url}/login?next=/", timeout=WAIT)
    assert page_errors == []


def test_foreign_host_and_cross_origin_login_are_refused(browser: Any, new_page: Any,
                                                        page_errors: list[str],
                                                        site: Site) -> None:
    page = new_page(browser, page_errors)
    rebound = page.goto(f"http://{REBOUND}:{site.port}/login")
    assert rebound is not None and rebound.status == 421
    # The login form of another origin (localhost is allowed as a Host, but it is not the
    # origin 127.0.0.1 serves) posted to this server: the Origin check refuses it.
    page.goto(f"http://localhost:{site.port}/login")
    page.evaluate(f"document.getElementById('login-form').action = '{site.url}/login'")
    page.fill("#username", "root")
    page.fill("#password", PASSWORDS["root"])
    with page.expect_navigation(timeout=WAIT) as nav:
        page.click("#login-submit")
    assert nav.value.status == 403
    assert "cross-origin" in page.content()
    assert not page.context.cookies()
