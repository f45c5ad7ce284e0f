"""Shared fixtures for the whole suite live in sparkwing.testing (a pytest plugin).

The browser fixtures (headless system Chromium through Playwright), used by
the dashboard's and the controller's UI tests, are here, and the
workspace's wheels (``workspace_wheels``), which need this checkout.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]

# -- the browser ------------------------------------------------------------------------------

#: The system Chromium (Debian package); never a browser downloaded by Playwright.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One headless system Chromium, driven by Playwright, per test module.

    Not per session: Playwright's sync API keeps an event loop running in this
    thread while it is open, and later tests need ``asyncio.run``. A module's
    ``CHROMIUM_EXTRA_ARGS`` list is added to the command line.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is required for the browser tests (apt-get install chromium)")
    with sync_playwright() as p:
        extra = list(getattr(request.module, "CHROMIUM_EXTRA_ARGS", []))
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + extra)
        yield instance
        instance.close()


@pytest.fixture
def page_errors() -> list[str]:
    """JavaScript errors seen by pages of the test (must stay empty)."""
    return []


@pytest.fixture
def new_page() -> Any:
    """``new_page(browser, errors, **context_options)``: a page whose JS errors land in *errors*."""

    def make(browser: Any, errors: list[str], **options: Any) -> Any:
        context = browser.new_context(**{"viewport": {"width": 1360, "height": 900}, **options})
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    return make


# -- the workspace's wheels -------------------------------------------------------------------


@pytest.fixture(scope="session")
def workspace_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding one wheel of every workspace member (``uv build --all-packages``).

    Built once per session: ``tests/test_packaging.py`` looks inside them,
    ``tests/objstore_plugins/test_install.py`` and ``tests/deploy`` install
    them into scratch environments.
    """
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed (bash scripts/install.sh installs it)")
    out = tmp_path_factory.mktemp("wheels")
    proc = subprocess.run(
        [uv, "build", "--all-packages", "--wheel", "--out-dir", str(out), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out
