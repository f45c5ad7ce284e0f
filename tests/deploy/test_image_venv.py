"""The server image's environment, built here the way ``deploy/Containerfile`` builds it.

No container engine runs in the test environment, so the test does what the
Containerfile's build stage does, with the same script and files: the
workspace's wheels (the session fixture ``workspace_wheels``, ``uv build
--all-packages``), ``deploy/install_venv.py`` with ``deploy/constraints.txt``
and the Containerfile's default ``PLUGINS``, into a fresh ``python -m venv``.
Then it runs that environment's ``sparkwing`` the way the image would:
plugin listing and ``plugins check``, a token, ``controller serve
--check-config``, and a served controller probed by ``deploy/healthcheck.py``.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CONTAINERFILE = DEPLOY / "Containerfile"
CONSTRAINTS = DEPLOY / "constraints.txt"
#: Plugin distributions of the workspace (``plugins/*``).
WORKSPACE_PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir()
                           if (p / "pyproject.toml").is_file())
#: Distributions the image always holds (deploy/install_venv.py CORE).
CORE = ("sparkwing-core", "sparkwing-sqlite", "sparkwing-cli", "sparkwing-server")


def _containerfile_arg(name: str) -> str:
    match = re.search(rf'^ARG {name}="([^"]*)"$', CONTAINERFILE.read_text(), re.MULTILINE)
    assert match, f"deploy/Containerfile has no ARG {name}=\"...\""
    return match.group(1)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = line.split(";", 1)[0].strip()
        name, sep, version = req.partition("==")
        assert sep, f"constraints.txt: {line!r} is not pinned with =="
        pins[_normalise(name)] = version.strip()
    return pins


def test_constraints_match_the_lock(tmp_path: Path) -> None:
    """deploy/constraints.txt is what deploy/update-constraints.sh exports from uv.lock now."""
    fresh = tmp_path / "constraints.txt"
    proc = subprocess.run(["sh", str(DEPLOY / "update-constraints.sh"), str(fresh)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert fresh.read_text() == CONSTRAINTS.read_text(), (
        "deploy/constraints.txt is out of date with uv.lock; run deploy/update-constraints.sh")
    pins = _pins()
    assert not {_normalise(d) for d in (*CORE, *WORKSPACE_PLUGINS)} & set(pins), \
        "workspace members must come from their wheels, not the constraints"
    for needed in ("aiohttp", "argon2-cffi", "click", "pluggy", "sqlalchemy", "psycopg"):
        assert needed in pins, needed


def test_containerfile_runs_the_script_the_test_runs() -> None:
    text = CONTAINERFILE.read_text()
    assert re.search(r"uv build --all-packages --wheel --out-dir /wheels", text)
    assert re.search(r"python deploy/install_venv\.py --venv /opt/sparkwing --wheels /wheels"
                     r" \\\n\s+--constraints deploy/constraints\.txt --plugins \"\$\{PLUGINS\}\"",
                     text), "the Containerfile's install step differs from what the test runs"
    plugins = _containerfile_arg("PLUGINS").split()
    assert plugins and set(plugins) <= set(WORKSPACE_PLUGINS), plugins
    assert "USER 10001:10001" in text
    assert "SPARKWING_HOME=/data" in text and 'VOLUME ["/data"]' in text
    assert 'ENTRYPOINT ["sparkwing"]' in text
    assert 'CMD ["controller", "serve", "--addr", "0.0.0.0:4344"]' in text
    assert 'CMD ["python", "/opt/sparkwing/healthcheck.py"]' in text
    assert "cp deploy/healthcheck.py /opt/sparkwing/healthcheck.py" in text


class Image:
    """The built environment and a home, with the commands the image would run."""

    def __init__(self, venv: Path, home: Path, cwd: Path) -> None:
        self.venv = venv
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and
               not k.startswith("SPARKWING_")}
        env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
                   SPARKWING_HOME=str(home), HOME=str(home.parent),
                   XDG_CONFIG_HOME=str(home.parent / "config"), PYTHONDONTWRITEBYTECODE="1")
        self.env = env

    def run(self, *args: str, cwd: Path | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` from the environment (as the image's entrypoint does)."""
        return subprocess.run([str(self.venv / "bin" / "sparkwing"), *args], env=self.env,
                              cwd=cwd or self.cwd, capture_output=True, text=True, timeout=180,
                              input=stdin, check=False)


@pytest.mark.slow
def test_the_image_environment_serves_the_controller(workspace_wheels: Path,
                                                     tmp_path: Path) -> None:
    plugins = _containerfile_arg("PLUGINS").split()
    venv = tmp_path / "opt-sparkwing"
    built = subprocess.run(
        [sys.executable, str(DEPLOY / "install_venv.py"), "--venv", str(venv),
         "--wheels", str(workspace_wheels), "--constraints", str(CONSTRAINTS),
         "--plugins", " ".join(plugins)],
        capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr

    # Exactly the chosen distributions, every third-party one at its pinned version.
    uv = shutil.which("uv")
    assert uv
    frozen = subprocess.run([uv, "pip", "freeze", "--python", str(venv / "bin" / "python")],
                            capture_output=True, text=True, check=True).stdout
    installed: dict[str, str] = {}
    for line in frozen.splitlines():
        name, sep, version = line.partition("==")
        if not sep:  # a wheel given by path: "name @ file:///..."
            name, sep, version = line.partition(" @ ")
        assert sep, line
        installed[_normalise(name.strip())] = version.strip()
    ours = {d for d in installed if d.startswith("sparkwing")}
    assert ours == {*CORE, *plugins}, ours
    assert all(installed[d].startswith("file://") for d in ours), installed
    pins = _pins()
    for name, version in installed.items():
        if name not in ours:
            assert pins.get(name) == version, f"{name}=={version} is not pinned ({pins.get(name)})"

    home = tmp_path / "data"
    home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    image = Image(venv, home, cwd)
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import sparkwing, sparkwing_server; print(sparkwing.__file__); "
                            "print(sparkwing_server.__file__)"],
                           env=image.env, capture_output=True, text=True, check=True)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout

    listed = image.run("plugins", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    loaded = {p["distribution"]: p for p in json.loads(listed.stdout)["plugins"]}
    for dist in plugins:
        assert dist in loaded and not loaded[dist]["error"], (dist, loaded.get(dist))
    assert not set(WORKSPACE_PLUGINS) - {*plugins, "sparkwing-sqlite"} & set(loaded)

    project = tmp_path / "project"
    (project / ".sparkwing").mkdir(parents=True)
    required = "".join(f"    - {d}\n" for d in plugins)
    (project / ".sparkwing" / "sparkwing.yaml").write_text(f"plugins:\n  required:\n{required}")
    checked = image.run("plugins", "check", "-C", str(project))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    missing = next(d for d in WORKSPACE_PLUGINS if d not in plugins and d != "sparkwing-sqlite")
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        f"plugins:\n  required:\n{required}    - {missing}\n")
    refused = image.run("plugins", "check", "-C", str(project))
    assert refused.returncode == 2 and f"{missing} is not installed" in refused.stderr, \
        refused.stderr

    no_token = image.run("controller", "serve", "--check-config", "--require-auth")
    assert no_token.returncode == 2 and "no live token" in no_token.stderr, no_token.stderr
    token = image.run("controller", "token", "create", "--kind", "user", "--name", "admin",
                      "--scope", "admin")
    assert token.returncode == 0 and token.stdout.startswith("swu_"), token.stderr
    config = image.run("controller", "serve", "--check-config", "--require-auth")
    assert config.returncode == 0, config.stderr
    assert config.stdout.startswith("controller config ok: profile laptop, state "), config.stdout
    assert "1 live token(s), auth enabled" in config.stdout
    assert config.stdout.rstrip().endswith("secrets off (no key)"), config.stdout
    assert (home / "state.db").is_file()
    # Secrets seal with the image's cryptography, under the key the operator provides.
    image.env["SPARKWING_SECRETS_KEY"] = base64.b64encode(bytes(range(32))).decode()
    stored = image.run("controller", "secret", "set", "registry/password", stdin="pw-in-image")
    assert stored.returncode == 0, stored.stderr
    config = image.run("controller", "serve", "--check-config", "--require-auth")
    assert config.returncode == 0 and "secrets sealed with key k" in config.stdout, config.stderr

    _serve_and_probe(image)


def _serve_and_probe(image: Image) -> None:
    """Start the image's default command on a free port; the HEALTHCHECK script must pass."""
    proc = subprocess.Popen(
        [str(image.venv / "bin" / "sparkwing"), "controller", "serve", "--addr", "127.0.0.1:0",
         "--require-auth"],
        env=image.env, cwd=image.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    try:
        try:
            first = lines.get(timeout=120)
        except queue.Empty:
            raise AssertionError("the controller printed no address") from None
        assert first.startswith("sparkwing controller listening on "), first
        url = first.split()[4]
        probe = subprocess.run(
            [str(image.venv / "bin" / "python"), str(DEPLOY / "healthcheck.py")],
            env={**image.env, "SPARKWING_HEALTH_URL": f"{url}/api/v1/health"},
            capture_output=True, text=True, timeout=60, check=False)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout) == {"auth": "enabled", "profile": "laptop",
                                            "problems": [], "status": "ok"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    dead = subprocess.run(
        [str(image.venv / "bin" / "python"), str(DEPLOY / "healthcheck.py")],
        env={**image.env, "SPARKWING_HEALTH_URL": f"{url}/api/v1/health"},
        capture_output=True, text=True, timeout=60, check=False)
    assert dead.returncode == 1 and dead.stderr.startswith("unhealthy: "), dead.stderr


def test_unknown_plugin_is_refused_in_one_line(workspace_wheels: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(DEPLOY / "install_venv.py"), "--venv", str(tmp_path / "v"),
         "--wheels", str(workspace_wheels), "--constraints", str(CONSTRAINTS),
         "--plugins", "sparkwing-postgres sparkwing-teamcity"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "no wheel for 'sparkwing-teamcity'" in proc.stderr and "sparkwing-k8s" in proc.stderr
    assert not (tmp_path / "v").exists()
