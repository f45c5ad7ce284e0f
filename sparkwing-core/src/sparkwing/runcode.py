"""A run's code from the controller's code store: which commit a run runs, and rebuilding it.

Shared by a runner (``sparkwing runner``: the trigger and node-attempt
checkouts) and ``sparkwing node exec --code-from-controller`` (a pod of the
``k8s`` executor that fetches the run's commit instead of running the
image's copy of the project). Only the standard library, ``git``
subprocesses (:mod:`sparkwing.gitbundle`) and :class:`QueueClient`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import SparkwingError
from .gitbundle import RepoCache, is_sha
from .queueclient import ControllerError, QueueClient


class CodeError(SparkwingError):
    """A run's code could not be fetched or exported (one line)."""

    exit_code = 1


def run_commit(client: QueueClient, record: dict[str, Any]) -> str:
    """The commit a run record names, else the one of the trigger it was started for ('' if none)."""
    sha = str(record.get("git_sha") or "")
    if sha:
        return sha
    trigger = ((record.get("invocation") or {}).get("trigger") or {})
    trigger_id = str(trigger.get("id") or "") if isinstance(trigger, dict) else ""
    if not trigger_id:
        return ""
    try:
        _, row = client.call("GET", f"/triggers/{trigger_id}")
    except ControllerError:
        return ""
    request = (row or {}).get("request") or {}
    return str(request.get("git_sha") or "") if isinstance(request, dict) else ""


def rebuild_commit(cache: RepoCache, client: QueueClient, sha: str,
                   applied_file: Path | None = None) -> None:
    """Apply the controller's bundles for *sha* to *cache* (created) unless it holds *sha*.

    *applied_file* lists the bundle digests applied before (one a line);
    those are not fetched again, and new ones are appended.
    """
    if not is_sha(sha):
        raise CodeError(f"git_sha {sha!r} is not a full commit id")
    cache.ensure()
    if cache.has(sha):
        return
    applied: set[str] = set()
    if applied_file is not None and applied_file.is_file():
        applied = set(applied_file.read_text().split())
    for digest in client.code_chain(sha):
        if digest in applied:
            continue
        cache.apply(client.code_bundle(digest))
        applied.add(digest)
        if applied_file is not None:
            with applied_file.open("a") as f:
                f.write(digest + "\n")
    if not cache.has(sha):
        raise CodeError(f"commit {sha} is not in the bundles the controller sent")


def send_commit(client: QueueClient, workdir: Path, sha: str) -> int:
    """Upload what the controller lacks of commit *sha* from the checkout at *workdir*; bytes sent."""
    from .gitbundle import Sender

    sender = Sender(workdir)
    known = client.code_known(sender.candidates(sha))
    if sha in known:
        return 0
    data = sender.bundle(sha, known)
    client.code_upload(data)
    return len(data)


def ensure_commit(client: QueueClient, workdir: Path, sha: str) -> int:
    """Make sure the controller can rebuild *sha*, sending it from *workdir* when it cannot.

    Returns the bytes sent (0 when the controller held the commit). Sending
    needs a token with ``runs.write``; checking needs ``code.read``.
    """
    try:
        client.code_chain(sha)
        return 0
    except ControllerError as exc:
        if exc.status not in (403, 404):
            raise
    return send_commit(client, workdir, sha)


def code_root() -> Path:
    """Where :func:`export_run_code` puts exports: ``$TMPDIR/sparkwing-code``."""
    return Path(tempfile.gettempdir()) / "sparkwing-code"


def export_run_code(client: QueueClient, run_id: str, root: Path) -> tuple[str, Path]:
    """Export the commit run *run_id* records under *root*; ``(sha, the exported tree)``.

    The tree is ``root/<run>-<sha12>``. It is made in a scratch directory
    next to it (with the bare repository the bundles are applied to) and
    renamed into place, so attempts of one run that share a filesystem
    (pods of a fake cluster, or on one volume) reuse one complete export
    and see what earlier attempts left in it, as they would in an image.
    Raises :class:`CodeError` (one line) when the controller has no such
    run, the run names no commit, or the code store cannot rebuild it.
    """
    try:
        record = client.run_record(run_id)
    except ControllerError as exc:
        raise CodeError(f"cannot read run {run_id} from the controller: {exc}") from None
    if record is None:
        raise CodeError(f"the controller has no run {run_id}")
    sha = run_commit(client, record)
    if not sha:
        raise CodeError(f"run {run_id} records no git commit to fetch its code from")
    final = root / (re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + f"-{sha[:12]}")
    if final.is_dir():
        return sha, final
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        cache = RepoCache(scratch / "code.git")
        try:
            rebuild_commit(cache, client, sha)
        except ControllerError as exc:
            raise CodeError(f"code {sha[:12]} of run {run_id}: {exc}") from None
        tree = cache.export(sha, scratch / "src")
        try:
            os.rename(tree, final)
        except OSError:
            if not final.is_dir():  # not another attempt's export that won the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sha, final
