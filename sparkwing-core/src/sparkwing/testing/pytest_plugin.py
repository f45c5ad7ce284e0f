"""pytest plugin shipped with sparkwing-core (auto-loaded through the ``pytest11`` entry point).

Fixtures:

* ``sparkwing_home``: a fresh, empty sparkwing home for one test. It is set
  as ``SPARKWING_HOME``; ``XDG_CONFIG_HOME`` points into a fresh directory
  beside it (so ``~/.config/sparkwing`` of the person running the tests is
  never read), ``SPARKWING_PROFILES`` points at ``profiles.yaml`` in that
  config directory (the file is not created), and every other
  ``SPARKWING_*`` variable inherited from the environment is removed
  (except ``SPARKWING_TEST_*``, left for test configuration), so a profile,
  run id or log format set in the shell cannot leak into a test. Returns
  the home directory as a :class:`~pathlib.Path`.
* ``sparkwing_harness``: a :class:`~sparkwing.testing.harness.Harness` on a
  fresh project directory, running against ``sparkwing_home``: add
  pipelines with ``.pipeline(name, source)`` and run them in this process
  with ``.run(name, *flags, executor=...)``.

This module is loaded in every pytest run of every project that has
sparkwing installed, so it imports nothing beyond pytest and the standard
library at module level.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def sparkwing_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give the test an isolated ``SPARKWING_HOME`` and user config directory.

    The markers of CI vendors' jobs (``GITHUB_ACTIONS``, ``GITLAB_CI``,
    ``BUILDKITE``) are removed too, so runs are not recorded as
    ``ci-embedded`` because the suite itself runs in CI.
    """
    from sparkwing.triggers.civendor import VENDOR_MARKERS

    home = tmp_path / "sparkwing-home"
    config = tmp_path / "xdg-config"
    home.mkdir()
    config.mkdir()
    for name in list(os.environ):
        ours = name.startswith("SPARKWING_") and not name.startswith("SPARKWING_TEST_")
        if ours or name in VENDOR_MARKERS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPARKWING_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("SPARKWING_PROFILES", str(config / "sparkwing" / "profiles.yaml"))
    return home


@pytest.fixture
def sparkwing_harness(sparkwing_home: Path, tmp_path: Path) -> object:
    """An in-process run harness on a fresh project, with its own sparkwing home."""
    from sparkwing.testing.harness import Harness

    return Harness(tmp_path / "project")
