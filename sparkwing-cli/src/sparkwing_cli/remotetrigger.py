"""``sparkwing pipeline trigger``: send this checkout to a controller, queue a run, follow it.

1. The checkout becomes one commit (:class:`sparkwing.gitbundle.Sender`):
   ``HEAD``, a snapshot of the uncommitted changes on top of it, or ``--ref``.
2. The controller is asked which of that commit's recent ancestors it holds;
   a bundle of the rest is uploaded (nothing when it holds the commit).
3. ``POST /api/v1/triggers`` queues the request (source ``manual``, event
   ``pipeline-trigger``, the sending host in ``extra``). A runner claims it; the first claim's run
   id is known in advance (:func:`sparkwing.triggers.keys.first_run_id`).
4. ``--follow`` (the default) prints the run's job transitions and log
   lines as they arrive, until the run ends; when a runner was lost and the
   trigger was retried under another run, that run is followed next.

Exit codes: 0 the run succeeded; 1 it failed or was cancelled; 2 usage or
configuration; 3 the outcome is unknown (the controller stopped answering
for :data:`GIVE_UP_S` seconds).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkwing.errors import UsageError
from sparkwing.queueclient import ControllerError, QueueClient

#: Seconds between polls while following.
POLL_S = 0.5
#: Seconds of consecutive controller errors after which following gives up (exit 3).
GIVE_UP_S = 60.0
#: Run statuses that end a run.
TERMINAL = frozenset({"success", "failed", "cancelled"})
#: Scopes following a run needs besides ``runs.write``: the run, the trigger row, the logs.
FOLLOW_SCOPES = ("runs.read", "triggers.read", "logs.read")


def parse_inputs(args: Sequence[str]) -> dict[str, str]:
    """``--name value`` / ``--name=value`` / ``--flag`` pipeline flags as an inputs dict."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise UsageError(f"unexpected argument {arg!r}: pipeline flags are --name value")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        out[name] = value
        i += 1
    return out


@dataclass
class Sent:
    """What was sent: the commit, and whether a bundle had to travel."""

    sha: str
    ref: str
    dirty: bool
    uploaded: int = 0
    known: list[str] = field(default_factory=list)


def send_code(client: QueueClient, start: Path, ref: str = "") -> Sent:
    """Make the commit for *start* (or *ref*) and upload what the controller lacks."""
    from sparkwing.gitbundle import Sender

    sender = Sender(start)
    if ref:
        sha = sender.resolve(ref)
        sent = Sent(sha, ref, False)
    else:
        snap = sender.snapshot()
        sent = Sent(snap.sha, snap.branch, snap.dirty)
    known = client.code_known(sender.candidates(sent.sha))
    sent.known = known
    if sent.sha not in known:
        data = sender.bundle(sent.sha, known)
        client.code_upload(data)
        sent.uploaded = len(data)
    return sent


def trigger_body(pipeline: str, inputs: dict[str, str], sent: Sent) -> dict[str, Any]:
    """The ``POST /api/v1/triggers`` body for *pipeline* at the sent commit."""
    from sparkwing.triggers.request import current_user

    extra: dict[str, Any] = {"host": socket.gethostname(), "snapshot": sent.dirty}
    return {"pipeline": pipeline, "inputs": inputs, "git": {"ref": sent.ref, "sha": sent.sha},
            "trigger": {"source": "manual", "actor": current_user(),
                        "event": "pipeline-trigger", "extra": extra}}


class Follower:
    """Prints a run's job transitions and log lines until it ends."""

    def __init__(self, client: QueueClient, write: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.write = write
        self.sleep = sleep
        self._offsets: dict[str, int] = {}
        self._states: dict[str, str] = {}

    def follow(self, trigger_id: str, run_id: str) -> tuple[str, str]:
        """Follow *run_id*, then any run the trigger was retried under; ``(status, run id)``."""
        errors_since: float | None = None
        waiting_said = False
        while True:
            try:
                run = self._run(run_id)
                errors_since = None
            except ControllerError as exc:
                if exc.status not in (0, 404) and not exc.retryable:
                    raise
                if exc.status == 404:  # not started yet: the trigger waits for a runner
                    row = self._trigger(trigger_id)
                    if row.get("status") == "failed":
                        self.write(f"trigger {trigger_id} failed: {row.get('error') or '?'}")
                        return "failed", run_id
                    if row.get("status") == "done" and row.get("run_id") not in ("", run_id):
                        run_id = str(row["run_id"])
                        continue
                    if not waiting_said:
                        self.write(f"waiting for a runner to claim trigger {trigger_id} ...")
                        waiting_said = True
                    self.sleep(POLL_S)
                    continue
                errors_since = errors_since or time.monotonic()
                if time.monotonic() - errors_since > GIVE_UP_S:
                    return "unknown", run_id
                self.sleep(POLL_S)
                continue
            self._show(run_id, run)
            status = str(run["run"].get("status") or "")
            if status in TERMINAL:
                self._drain(run_id, run)
                nxt = self._retried_as(trigger_id, run_id, status)
                if nxt:
                    self.write(f"run {run_id} {status}; the trigger continues as run {nxt}")
                    run_id, self._offsets, self._states = nxt, {}, {}
                    continue
                return status, run_id
            self.sleep(POLL_S)

    def _run(self, run_id: str) -> dict[str, Any]:
        _, data = self.client.call("GET", f"/runs/{run_id}?include=nodes")
        return dict(data or {})

    def _trigger(self, trigger_id: str) -> dict[str, Any]:
        _, data = self.client.call("GET", f"/triggers/{trigger_id}")
        return dict((data or {}).get("trigger") or data or {})

    def _retried_as(self, trigger_id: str, run_id: str, status: str) -> str:
        """The run a lost runner's trigger went on under, once the trigger row says so."""
        if status == "success":
            return ""
        for _ in range(int(GIVE_UP_S / POLL_S)):
            row = self._trigger(trigger_id)
            if row.get("status") in ("done", "failed"):
                nxt = str(row.get("run_id") or "")
                return nxt if nxt and nxt != run_id else ""
            if row.get("status") == "pending" or int(row.get("claims") or 0) > 1:
                self.sleep(POLL_S)  # requeued or re-claimed: the new run is coming
                continue
            return ""
        return ""

    def _show(self, run_id: str, run: dict[str, Any]) -> None:
        for node in run.get("nodes") or []:
            nid = str(node.get("node_id") or node.get("id") or "")
            state = str(node.get("outcome") or node.get("status") or "")
            if state and self._states.get(nid) != state:
                self._states[nid] = state
                self.write(f"[{nid}] {state}")
            self._lines(run_id, nid)

    def _drain(self, run_id: str, run: dict[str, Any]) -> None:
        for node in run.get("nodes") or []:
            self._lines(run_id, str(node.get("node_id") or node.get("id") or ""))

    def _lines(self, run_id: str, node: str) -> None:
        from urllib.parse import quote

        from sparkwing.events import LOG_EXEC_LINE
        from sparkwing.storage.logrecord import parse_record

        if not node:
            return
        offset = self._offsets.get(node, 0)
        try:
            _, data = self.client.call(
                "GET", f"/logs/{run_id}/lines?node={quote(node, safe='')}&offset={offset}")
        except ControllerError as exc:
            if exc.status == 404:
                return
            raise
        for line in (data or {}).get("lines") or []:
            rec = parse_record(line)
            if rec.get("event") in ("", LOG_EXEC_LINE) and rec.get("msg") is not None:
                self.write(f"[{node}] {rec['msg']}")
        self._offsets[node] = int((data or {}).get("next_offset") or offset)


def client_for(profile_name: str | None, controller: str, token_env: str,
               start: Path) -> QueueClient:
    """A client for ``--controller``/``--token-env``, else the profile's ``controller:`` block."""
    url, token = controller, ""
    env_name = token_env or "SPARKWING_TOKEN"
    if not url:
        from sparkwing.config import load_project
        from sparkwing.config.resolve import resolve_profile
        from sparkwing.errors import ConfigError

        try:
            project = load_project(start, check_schedules=False)
        except ConfigError:  # no project here: user profiles only
            project = None
        resolved = resolve_profile(flag=profile_name, pipeline=None, project=project)
        block = resolved.profile.controller or {}
        url = str(block.get("url") or "")
        if not url:
            raise ConfigError(f"profile {resolved.name!r} has no controller: block; give "
                              "--controller URL or a profile with controller: {url, token_env}")
        token = resolved.profile.controller_token() or ""
        env_name = str(block.get("token_env") or env_name)
    token = token or os.environ.get(env_name, "")
    if not token:
        raise UsageError(f"no controller token: set {env_name} (or --token-env VAR)")
    try:
        return QueueClient(url, token)
    except ValueError as exc:
        raise UsageError(f"--controller: {exc}") from None


def check_follow_scopes(client: QueueClient) -> None:
    """Refuse, before anything is queued, a token that could queue the run but not follow it.

    Asks ``GET /auth/whoami``; a controller with auth off (no principal) needs nothing.
    """
    from sparkwing_server.controller.scopes import grants

    _, who = client.call("GET", "/auth/whoami")
    who = dict(who or {})
    if who.get("kind") in (None, "none"):
        return
    held = [str(s) for s in who.get("scopes") or []]
    missing = [s for s in ("runs.write", *FOLLOW_SCOPES) if not grants(held, s)]
    if missing:
        raise UsageError(f"the token ({who.get('principal') or '?'}) lacks {', '.join(missing)}: "
                         f"queueing needs runs.write, following the run "
                         f"{', '.join(FOLLOW_SCOPES)} (add them to the token, or queue only "
                         "with --detach)")


def main(pipeline: str, args: Sequence[str], *, start: Path, ref: str, profile: str | None,
         controller: str, token_env: str, detach: bool, json_out: bool) -> int:
    """Run the command; return the exit code (errors raise the one family)."""
    import json

    inputs = parse_inputs(args)
    client = client_for(profile, controller, token_env, start)
    err = sys.stderr.write
    try:
        if not detach:
            check_follow_scopes(client)
        sent = send_code(client, start, ref)
        err(f"code: {sent.sha[:12]}"
            + (" (uncommitted changes)" if sent.dirty else "")
            + (f", sent {sent.uploaded} bytes" if sent.uploaded else ", already on the controller")
            + "\n")
        _, answer = client.call("POST", "/triggers", trigger_body(pipeline, inputs, sent))
    except ControllerError as exc:
        if exc.status in (401, 403):  # a token problem is the caller's configuration
            raise UsageError(str(exc)) from None
        raise
    from sparkwing.triggers.keys import first_run_id

    trigger_id = str(answer["trigger_id"])
    run_id = first_run_id(trigger_id)
    if detach:
        if json_out:
            sys.stdout.write(json.dumps({"trigger_id": trigger_id, "run_id": run_id,
                                         "sha": sent.sha}) + "\n")
        else:
            sys.stdout.write(f"queued trigger {trigger_id} (run {run_id})\n")
        return 0
    err(f"queued trigger {trigger_id}; following run {run_id}\n")

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        status, final = Follower(client, write).follow(trigger_id, run_id)
    except ControllerError as exc:
        if exc.status in (401, 403):  # e.g. the token was revoked while following
            raise UsageError(f"following run {run_id} (trigger {trigger_id}): {exc}") from None
        raise
    if json_out:
        sys.stdout.write(json.dumps({"trigger_id": trigger_id, "run_id": final,
                                     "status": status}) + "\n")
    else:
        err(f"run {final}: {status}\n")
    return {"success": 0, "unknown": 3}.get(status, 1)
