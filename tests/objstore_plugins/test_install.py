"""Each object-store plugin installs on its own: built wheels in a scratch environment.

The workspace's wheels (``uv build``) of sparkwing-core, sparkwing-cli,
sparkwing-server, sparkwing-sqlite and *one* object-store plugin go into a
fresh virtual environment; third-party packages come at the versions of
the workspace's lock, from uv's cache (offline) when it has them, else from
the registry. In that environment the plugin's SDK is there, the other two
providers' SDKs are not, sparkwing finds exactly that plugin, and a store
built through the plugin's entry point round-trips an object on the
provider's local emulator, and a real example runs with a profile whose
state, logs and cache are on that emulator and shows in ``runs list``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "tools/azurite/node_modules/.bin/azurite-blob"
CORE = ("sparkwing-core", "sparkwing-cli", "sparkwing-server", "sparkwing-sqlite")
PLUGINS = {
    # distribution: (extras to install, its SDK's import names, entry-point name)
    "sparkwing-s3": ("test", ("boto3",), "s3"),
    "sparkwing-gcs": ("test", ("google.cloud.storage",), "gcs"),
    "sparkwing-azure": ("", ("azure.storage.blob", "azure.identity"), "azure"),
}
SDKS = {name for _, names, _ in PLUGINS.values() for name in names}

# Runs inside the scratch environment: argv = plugin entry-point name, its SDKs, the others.
PROBE = r'''
import importlib.util, json, os, shutil, subprocess, sys, uuid
from pathlib import Path

kind, own, others = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")

def present(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False

assert all(present(n) for n in own), f"missing {own}"
absent = [n for n in others if present(n)]
assert not absent, f"installed though not asked for: {absent}"

from sparkwing.plugins.entrypoints import entry_points
found = sorted(ep.name for ep in entry_points("sparkwing"))
assert kind in found and not ({"s3", "gcs", "azure"} - {kind}) & set(found), found

from sparkwing.plugins.registry import BackendContext
plugin = next(ep for ep in entry_points("sparkwing") if ep.name == kind).load()
context = BackendContext(home=Path.cwd(), profile="scratch")
name = f"scratch-{uuid.uuid4().hex[:8]}"
if kind == "s3":
    from sparkwing_s3.testing import MotoS3
    emulator = MotoS3().start()
    emulator.create_bucket(name)
    config = {"type": "s3", "bucket": name, "endpoint_url": emulator.endpoint_url}
elif kind == "gcs":
    from sparkwing_gcs.testing import FakeGcs
    emulator = FakeGcs().start()
    emulator.create_bucket(name)
    config = {"type": "gcs", "bucket": name, "endpoint_url": emulator.endpoint_url}
else:
    from sparkwing_azure.testing import Azurite
    emulator = Azurite(sys.argv[4]).start()
    emulator.create_container(name)
    config = {"type": "azure", "container": name, "url": emulator.connection_string,
              "retries": 0}
try:
    store = plugin.make_blob_store({**config, "prefix": "install"}, context)
    store.check()
    made = store.put("hello.txt", b"hello", if_none_match="*")
    blob = store.get("hello.txt")
    assert blob is not None and blob.data == b"hello" and blob.info.etag == made.etag
    assert [i.key for i in store.list_page("").items] == ["hello.txt"]
    store.close()

    # A real run on the profile, with the installed CLI.
    env = dict(os.environ, SPARKWING_HOME=str(Path.cwd() / "swhome"), NO_COLOR="1",
               SPARKWING_PROFILES=str(Path.cwd() / "profiles.yaml"))
    block = {k: v for k, v in config.items() if k != "url"}
    if "url" in config:
        block["url_source"] = "env:SCRATCH_CONNECTION"
        env["SCRATCH_CONNECTION"] = config["url"]
    inline = ", ".join(f"{k}: {v}" for k, v in block.items())
    Path("profiles.yaml").write_text("profiles:\n  team:\n" + "".join(
        f"    {s}: {{{inline}, prefix: {s}}}\n" for s in ("state", "logs", "cache")))
    shutil.copytree(sys.argv[5], "project")
    cli = str(Path(sys.executable).with_name("sparkwing"))
    done = subprocess.run([cli, "run", "ci", "--profile", "team"], cwd="project", env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    listed = subprocess.run([cli, "runs", "list", "--profile", "team", "-o", "json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["pipeline"], r["status"]) for r in runs] == [("ci", "success")], runs
finally:
    emulator.stop()
print(json.dumps({"kind": kind, "entry_points": found}))
'''


def _run(cmd: list[str], cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def uv() -> str:
    path = shutil.which("uv")
    assert path, "uv is not on PATH (scripts/install.sh installs it)"
    return path


@pytest.fixture(scope="module")
def wheels(workspace_wheels: Path) -> Path:
    """The workspace's wheels, built once per session (``tests/conftest.py``)."""
    return workspace_wheels


def _wheel(wheels: Path, dist: str) -> Path:
    found = sorted(wheels.glob(dist.replace("-", "_") + "-*.whl"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_a_plugin_installs_alone_and_works(
        plugin: str, uv: str, wheels: Path, tmp_path: Path) -> None:
    extra, own, kind = PLUGINS[plugin]
    constraints = []
    for dist, extras in ((plugin, extra), ("sparkwing-cli", ""), ("sparkwing-server", "")):
        path = tmp_path / f"constraints-{dist}.txt"
        cmd = [uv, "export", "--quiet", "--frozen", "--no-hashes", "--no-emit-workspace",
               "--no-dev", "--package", dist, "-o", str(path)]
        if extras:
            cmd += ["--extra", extras]
        done = _run(cmd, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        constraints += ["-c", str(path)]
    venv = tmp_path / "venv"
    done = _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    target = _wheel(wheels, plugin)
    requirements = [str(_wheel(wheels, dist)) for dist in CORE]
    requirements.append(f"{plugin}[{extra}] @ {target.as_uri()}" if extra else str(target))
    install = [uv, "pip", "install", "--quiet", "--python", str(python),
               "--find-links", str(wheels), *constraints, *requirements]
    done = _run([*install[:3], "--offline", *install[3:]])
    if done.returncode != 0:  # uv's cache lacks something: the same versions from the registry
        done = _run(install)
    assert done.returncode == 0, done.stderr[-3000:]

    others = sorted(SDKS - set(own))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "SPARKWING_", "AWS_", "AZURE_",
                                "GOOGLE_", "STORAGE_EMULATOR"))}
    env.update({"AWS_ACCESS_KEY_ID": "scratch", "AWS_SECRET_ACCESS_KEY": "scratch",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    probe = _run([str(python), "-c", PROBE, kind, ",".join(own), ",".join(others),
                  str(AZURITE), str(ROOT / "examples" / "python-ci")], cwd=tmp_path, env=env)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert f'"kind": "{kind}"' in probe.stdout
