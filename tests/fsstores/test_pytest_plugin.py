"""The sparkwing pytest plugin: loaded automatically, sparkwing_home isolates a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sparkwing import paths

INNER_TEST = '''
import os
from pathlib import Path
from sparkwing import paths

def test_inner(sparkwing_home):
    assert paths.sparkwing_home() == sparkwing_home
    assert sparkwing_home.is_dir() and not any(sparkwing_home.iterdir())
    assert "SPARKWING_PROFILE" not in os.environ
    assert "SPARKWING_RUN_ID" not in os.environ
    assert os.environ["SPARKWING_TEST_KEEP"] == "kept"
    assert paths.config_dir().parent == Path(os.environ["XDG_CONFIG_HOME"])
    assert Path(os.environ["XDG_CONFIG_HOME"]) != Path("/leaked/xdg")
    assert paths.profiles_path() == paths.config_dir() / "profiles.yaml"
    print("INNER-RAN")
'''


def test_fixture_isolates_the_environment(sparkwing_home: Path) -> None:
    assert os.environ["SPARKWING_HOME"] == str(sparkwing_home)
    assert paths.sparkwing_home() == sparkwing_home
    assert str(paths.config_dir()).startswith(str(sparkwing_home.parent))
    assert str(paths.profiles_path()).startswith(str(sparkwing_home.parent))
    assert sparkwing_home.is_dir()


def test_plugin_is_auto_loaded_and_clears_inherited_variables(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = dict(os.environ)
    env.update(
        SPARKWING_PROFILE="prod", SPARKWING_RUN_ID="run-x", SPARKWING_TEST_KEEP="kept",
        SPARKWING_HOME="/leaked/home", XDG_CONFIG_HOME="/leaked/xdg",
        SPARKWING_PROFILES="/leaked/profiles.yaml",
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "INNER-RAN" in out.stdout
    assert "1 passed" in out.stdout
