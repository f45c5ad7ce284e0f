"""The runner's work directory: the children's home and profiles file, the code cache, run dirs.

Layout under ``--work-dir``::

    home/            SPARKWING_HOME of every child run
    profiles.yaml    SPARKWING_PROFILES of every child: profile ``controller`` (with
                     ``executor:`` when the runner was given ``--executor``)
    code.git/        bare repository the code bundles are applied to (one per runner)
    runs/<trigger>/  the exported tree a trigger's run starts in (removed after the run)
    runs/<attempt>/  the same for a claimed node attempt (``node_key``), and next to it
    runs/<attempt>.profiles.yaml  its profiles file: the run's profile name -> the controller
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from sparkwing.gitbundle import RepoCache, is_sha
from sparkwing.queueclient import QueueClient
from sparkwing.runcode import CodeError, rebuild_commit

#: The profile the children run under (written to ``profiles.yaml``).
CHILD_PROFILE = "controller"
#: File in the code cache listing the bundle digests already applied, one per line.
APPLIED_FILE = "sparkwing-applied"


__all__ = ["APPLIED_FILE", "CHILD_PROFILE", "CodeError", "Workspace", "node_key"]


def node_key(run_id: str, node_id: str, attempt: int) -> str:
    """A directory name for one node attempt (characters outside ``[A-Za-z0-9._-]`` become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{run_id}--{node_id}--{attempt}")


class Workspace:
    """Paths under the work directory, and the code cache shared by the runner's jobs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.profiles = root / "profiles.yaml"
        self.runs = root / "runs"
        self._cache = RepoCache(root / "code.git")
        self._lock = threading.Lock()
        self._controller: dict[str, str] = {}

    def prepare(self, controller_url: str, token_env: str,
                executor: dict[str, Any] | None = None) -> Workspace:
        """Create the directories and write the children's profiles file.

        *executor* (``--executor`` and its settings) becomes the profile's
        ``executor:`` block; without it the runs use ``local``.
        """
        for path in (self.root, self.home, self.runs):
            path.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: one line, no YAML writer needed
        self._controller = {"url": controller_url, "token_env": token_env}
        profile: dict[str, Any] = {"controller": self._controller}
        if executor:
            profile["executor"] = executor
        self.profiles.write_text(json.dumps({"profiles": {CHILD_PROFILE: profile}}, default=str) + "\n")
        return self

    def run_dir(self, trigger_id: str) -> Path:
        """The directory a trigger's run starts in."""
        return self.runs / trigger_id

    def remove_run_dir(self, trigger_id: str) -> None:
        """Delete the exported tree of a trigger or attempt that ended (and its profiles file)."""
        shutil.rmtree(self.run_dir(trigger_id), ignore_errors=True)
        self.node_profiles_path(trigger_id).unlink(missing_ok=True)

    def node_profiles_path(self, key: str) -> Path:
        """Where the profiles file of attempt *key* goes."""
        return self.runs / f"{key}.profiles.yaml"

    def node_profiles(self, key: str, profile: str) -> Path:
        """Write attempt *key*'s profiles file: *profile* (the run's) and ``controller``, both
        pointing at this runner's controller, so ``node exec`` opens the run's stores here."""
        block = {"controller": self._controller}
        names = {CHILD_PROFILE: block, **({profile: block} if profile else {})}
        path = self.node_profiles_path(key)
        path.write_text(json.dumps({"profiles": names}) + "\n")
        return path

    def checkout(self, client: QueueClient, sha: str, trigger_id: str) -> Path:
        """Rebuild commit *sha* from the controller's bundles and export it for *trigger_id*.

        Bundles already applied to the cache are not fetched again. The
        export replaces whatever an earlier claim of the trigger left there.
        """
        if not is_sha(sha):
            raise CodeError(f"the trigger's git_sha {sha!r} is not a full commit id")
        with self._lock:
            cache = self._cache.ensure()
            rebuild_commit(cache, client, sha, cache.path / APPLIED_FILE)
            dest = self.run_dir(trigger_id)
            if dest.exists():
                shutil.rmtree(dest)
            return cache.export(sha, dest)
