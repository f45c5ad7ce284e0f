"""Fixtures for the plugin-system tests.

The end-to-end tests install this checkout's distributions (editable) plus the
test plugins under ``tests/fixtures/plugin_dists/`` into scratch virtual
environments built with uv, then drive the real ``sparkwing`` executable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DISTS = REPO / "tests" / "fixtures" / "plugin_dists"
WORKSPACE_MEMBERS = (
    "sparkwing-core", "sparkwing-server", "plugins/sparkwing-sqlite", "sparkwing-cli",
)
PLUGIN_ENV_VARS = ("SPARKWING_DISABLE_PLUGINS", "SPARKWING_STRICT_PLUGINS")


@pytest.fixture(autouse=True)
def _plugin_env_cleared(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without plugin switches and with a fresh process-wide host."""
    from sparkwing.plugins.manager import reset_host

    for name in PLUGIN_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    reset_host()
    yield
    reset_host()


class Site:
    """A directory on ``sys.path`` holding hand-written ``*.dist-info`` "installed" distributions.

    That is all an installed distribution is to the entry-point scan and to
    ``importlib.metadata``; a subprocess sees the same distributions with
    :attr:`root` on its ``PYTHONPATH``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def __call__(self, dist: str, version: str, entry_points: dict[str, str],
                 modules: dict[str, str]) -> None:
        """Install *dist* at *version* with ``[sparkwing]`` *entry_points* and module sources."""
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        )
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[sparkwing]\n{lines}")
        for modname, source in modules.items():
            (self.root / f"{modname}.py").write_text(textwrap.dedent(source))
            self.modules.append(modname)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A :class:`Site` on ``sys.path`` for this test (its modules are forgotten afterwards)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    installed = Site(root)
    yield installed
    for modname in installed.modules:
        sys.modules.pop(modname, None)


@dataclass
class ScratchVenv:
    """A throwaway virtual environment with sparkwing and some test plugins installed."""

    root: Path
    home: Path

    @property
    def python(self) -> Path:
        """The environment's interpreter."""
        return self.root / "bin" / "python"

    @property
    def sparkwing(self) -> Path:
        """The environment's ``sparkwing`` console script."""
        return self.root / "bin" / "sparkwing"

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment for the CLI: temporary home and config, no plugin switches."""
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("SPARKWING_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
        }
        env.update(
            SPARKWING_HOME=str(self.home / "sparkwing-home"),
            SPARKWING_PROFILES=str(self.home / "profiles.yaml"),
            XDG_CONFIG_HOME=str(self.home / "config"),
            HOME=str(self.home),
        )
        env.update(extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` in the environment (from its home directory)."""
        return subprocess.run(
            [str(self.sparkwing), *args], capture_output=True, text=True, timeout=120,
            env=self.env(**env), cwd=self.home,
        )

    def install(self, *requirements: str) -> None:
        """``uv pip install`` into this environment, pinned to the workspace lock file."""
        _uv_pip_install(self, list(requirements))


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed; the end-to-end plugin tests build venvs with it (bash scripts/install.sh installs it)")
    return uv


def _constraints(dest: Path) -> Path:
    """Write the workspace lock's third-party pins as a constraints file."""
    out = subprocess.run(
        [_uv(), "export", "--frozen", "--all-packages", "--no-hashes", "--no-emit-workspace",
         "--no-header", "--no-annotate", "--quiet"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    dest.write_text(out.stdout)
    return dest


def _uv_pip_install(venv: ScratchVenv, args: list[str]) -> None:
    constraints = venv.home / "constraints.txt"
    if not constraints.exists():
        _constraints(constraints)
    base = [_uv(), "pip", "install", "--python", str(venv.python), "-c", str(constraints), *args]
    # The uv cache normally has everything (the workspace was synced from it);
    # fall back to the index only when it does not.
    for extra in (["--offline"], []):
        proc = subprocess.run(
            base[:3] + extra + base[3:], capture_output=True, text=True, cwd=REPO, timeout=600,
        )
        if proc.returncode == 0:
            return
    raise AssertionError(f"uv pip install failed:\n{proc.stdout}\n{proc.stderr}")


def build_venv(base: Path, *plugins: str) -> ScratchVenv:
    """Create a venv under *base* with this checkout's distributions plus *plugins*."""
    base.mkdir(parents=True, exist_ok=True)
    venv = ScratchVenv(root=base / "venv", home=base)
    subprocess.run(
        [_uv(), "venv", str(venv.root), "--python", sys.executable, "--quiet"],
        check=True, capture_output=True, text=True,
    )
    editables = [arg for member in WORKSPACE_MEMBERS for arg in ("-e", str(REPO / member))]
    venv.install(*editables, *(str(PLUGIN_DISTS / p) for p in plugins))
    return venv


@dataclass
class Kit:
    """Distributions written by ``sparkwing plugin new``, installed into one scratch venv."""

    venv: ScratchVenv
    #: kind -> the distribution's root directory.
    dists: dict[str, Path]


#: Every kind ``sparkwing plugin new`` writes.
KIT_KINDS = ("state", "logs", "artifacts", "executor", "trigger")


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    """``plugin new --name kit-KIND --kind KIND`` for each kind, installed (not editable) with pytest."""
    from sparkwing_cli.pluginkit.generate import generate

    base = tmp_path_factory.mktemp("kit")
    dists = {kind: generate(f"kit-{kind}", kind, base / "dists" / kind).root
             for kind in KIT_KINDS}
    venv = build_venv(base)
    venv.install(*(str(root) for root in dists.values()), "pytest")
    return Kit(venv, dists)


@pytest.fixture(scope="session")
def example_venv(tmp_path_factory: pytest.TempPathFactory) -> ScratchVenv:
    """sparkwing (this checkout) plus the sparkwing-example plugin."""
    return build_venv(tmp_path_factory.mktemp("example-venv"), "sparkwing-example")


@pytest.fixture(scope="session")
def broken_venv(tmp_path_factory: pytest.TempPathFactory) -> ScratchVenv:
    """Like ``example_venv``, then sparkwing-broken installed on top in a second step."""
    venv = build_venv(tmp_path_factory.mktemp("broken-venv"), "sparkwing-example")
    venv.install(str(PLUGIN_DISTS / "sparkwing-broken"))
    return venv
