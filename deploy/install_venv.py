"""Build the server image's virtual environment from the workspace's wheels.

The Containerfile runs this script, and so does ``tests/deploy`` (in a
temporary directory), so what the test checks is what the image holds::

    python deploy/install_venv.py --venv /opt/sparkwing --wheels /wheels \\
        --constraints deploy/constraints.txt \\
        --plugins "sparkwing-postgres sparkwing-s3 sparkwing-github sparkwing-k8s"

It creates the environment with ``python -m venv --without-pip`` (the
image needs no pip) and installs, with ``uv pip install``:

* the core distributions (:data:`CORE`) and each distribution named in
  ``--plugins``, each given as the path of its wheel in ``--wheels`` (so a
  package of the same name on an index can never replace it);
* their third-party dependencies, pinned by ``--constraints`` (exported
  from ``uv.lock`` by ``deploy/update-constraints.sh``).

Afterwards it runs ``uv pip check`` on the environment. Standard library
only: it runs before anything else is installed. Errors are one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

#: Distributions every image holds: the library, the command line (which needs the
#: SQLite state plugin) and the servers.
CORE = ("sparkwing-core", "sparkwing-sqlite", "sparkwing-cli", "sparkwing-server")


class InstallError(Exception):
    """Something the operator has to fix (one line)."""


def wheel_name(distribution: str) -> str:
    """The file-name form of *distribution* (``sparkwing-k8s`` -> ``sparkwing_k8s``)."""
    return distribution.strip().lower().replace("-", "_").replace(".", "_")


def find_wheels(wheels: Path, distributions: list[str]) -> list[Path]:
    """The one wheel of each distribution in *wheels*; :class:`InstallError` naming what is missing."""
    available: dict[str, list[Path]] = {}
    for path in sorted(wheels.glob("*.whl")):
        available.setdefault(path.name.split("-", 1)[0].lower(), []).append(path)
    out: list[Path] = []
    for dist in distributions:
        found = available.get(wheel_name(dist), [])
        if len(found) != 1:
            have = ", ".join(sorted(n.replace("_", "-") for n in available)) or "none"
            what = "no wheel" if not found else f"{len(found)} wheels"
            raise InstallError(f"PLUGINS: {what} for {dist!r} in {wheels}; "
                               f"built distributions: {have}")
        out.append(found[0])
    return out


def parse_plugins(text: str) -> list[str]:
    """The distributions of a ``PLUGINS`` value (space- or comma-separated, no duplicates)."""
    names: list[str] = []
    for name in text.replace(",", " ").split():
        if not name.startswith("sparkwing-"):
            raise InstallError(f"PLUGINS: {name!r} is not a sparkwing plugin distribution "
                               "(names start with sparkwing-)")
        if name not in names and name not in CORE:
            names.append(name)
    return names


def install(venv: Path, wheels: Path, constraints: Path, plugins: list[str], *,
            uv: str | None = None, python: str | None = None) -> list[Path]:
    """Create *venv* and install the core and *plugins* wheels into it; return the wheels."""
    uv = uv or shutil.which("uv")
    if not uv:
        raise InstallError("uv is not on PATH (the Containerfile installs it with pip)")
    if not constraints.is_file():
        raise InstallError(f"--constraints {constraints}: no such file "
                           "(deploy/update-constraints.sh writes it)")
    chosen = find_wheels(wheels, [*CORE, *plugins])
    subprocess.run([python or sys.executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    target = str(venv / "bin" / "python")
    subprocess.run([uv, "pip", "install", "--python", target, "--constraint", str(constraints),
                    *map(str, chosen)], check=True)
    subprocess.run([uv, "pip", "check", "--python", target], check=True)
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--venv", type=Path, required=True, help="environment to create")
    parser.add_argument("--wheels", type=Path, required=True,
                        help="directory of the workspace's wheels (uv build --all-packages)")
    parser.add_argument("--constraints", type=Path, required=True,
                        help="pins of the third-party dependencies (deploy/constraints.txt)")
    parser.add_argument("--plugins", default="",
                        help="plugin distributions to install, space- or comma-separated")
    args = parser.parse_args(argv)
    try:
        install(args.venv, args.wheels, args.constraints, parse_plugins(args.plugins))
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} exited {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
