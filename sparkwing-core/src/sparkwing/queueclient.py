"""A small client for the controller's work-queue routes, for runners (stdlib only).

It sits on a runner's start-up path, so it uses only the standard library
(through :mod:`sparkwing.controllerhttp`, the transport it shares with the
remote state and log stores: pooled keep-alive connections that a heartbeat
thread and the main loop can use at once). Each call is one request;
retrying is the caller's decision, helped by :attr:`ControllerError.retryable`,
except for claims (of nodes and triggers): a claim carries a request id (:func:`new_request_id`)
and is sent again with the same id when its answer is lost, since the
controller answers a repeated id with the claim it made for it. A caller
retrying a failed claim itself passes the same ``request_id`` again.

::

    client = QueueClient("http://controller:4344", token=os.environ["SPARKWING_TOKEN"])
    claim = client.claim_node("box-1", labels=["os=linux"])
    if claim is not None:
        # heartbeat every claim.heartbeat_secs from another thread:
        beat = client.heartbeat_node(claim)   # ClaimLost: kill the work now
        ...
        client.finish_node(claim, outcome="success", exit_code=0)

A fenced call that is no longer about the current claim raises
:class:`ClaimLost` (HTTP 404 or 409): the runner must stop that work at
once. Other refusals raise :class:`ControllerError` with the controller's
error code and one-line message.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .controllerhttp import Answer, ControllerURL, Retry, Transport, Unreachable, error_body, seg
from .errors import SparkwingError

#: Seconds a request may take before it fails (the research's per-call budget).
DEFAULT_TIMEOUT_S = 5.0
#: How a node claim is retried by the transport (same body, so the same request id) when it
#: was sent but no answer came, or a proxy answered 502/503/504.
CLAIM_RETRY = Retry(attempts=3, backoff_s=0.2)


def new_request_id() -> str:
    """A fresh claim request id: 32 random hex characters."""
    return os.urandom(16).hex()


class ControllerError(SparkwingError):
    """The controller refused a call, or could not be reached (``status`` 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"controller: {message} (HTTP {status}, {code})" if status
                         else f"controller unreachable: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed: unreachable, 5xx, 429 or 423."""
        return self.status == 0 or self.status >= 500 or self.status in (423, 429)


class ClaimLost(ControllerError):
    """The claim is not current any more (reaped, finished, released, re-claimed): stop its work."""


@dataclass(frozen=True, slots=True)
class TriggerClaim:
    """A claimed trigger: the fencing pair (``holder``, ``seq``) and the lease advice."""

    trigger_id: str
    holder: str
    seq: int
    lease_secs: float
    heartbeat_secs: float
    lease_expires_at: float
    row: dict[str, Any] = field(default_factory=dict)

    @property
    def request(self) -> dict[str, Any]:
        """The recorded run request (``RunRequest.to_dict()`` form)."""
        return dict(self.row.get("request") or {})


@dataclass(frozen=True, slots=True)
class NodeClaim:
    """A claimed node attempt: its key, the fencing pair and the lease advice."""

    run_id: str
    node_id: str
    attempt: int
    holder: str
    seq: int
    lease_secs: float
    heartbeat_secs: float
    lease_expires_at: float
    needs_labels: list[str] = field(default_factory=list)
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat answered: the new lease end and whether the run was asked to stop."""

    lease_expires_at: float
    cancel_requested: bool
    heartbeat_secs: float


class QueueClient:
    """Calls the controller at *base_url* (``http[s]://host:port``) with bearer *token*.

    :class:`ValueError` (one line) for a URL that is not one. Safe to share
    between threads.
    """

    def __init__(self, base_url: str, token: str = "", *,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        url = ControllerURL.parse(base_url)
        self.base_url = base_url.rstrip("/")
        self._http = Transport(url, token=token, timeout=timeout)

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()

    def __enter__(self) -> QueueClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, data: bytes | None = None, *,
              content_type: str = "", accept: str = "application/json",
              lost_on: tuple[int, ...] = (), retry: Retry | None = None) -> Answer:
        """One request (tried again as *retry* says, when given: the call must be
        idempotent); a 2xx answer, else the refusal raised (unreachable: status 0)."""
        try:
            answer = self._http.send(method, path, data, content_type=content_type,
                                     accept=accept, idempotent=retry is not None,
                                     retry=retry)
        except Unreachable as exc:
            raise ControllerError(0, "unreachable", f"{self.base_url}: {exc.kind}: "
                                  f"{exc.detail}") from None
        if not answer.ok:
            err = error_body(answer)
            cls = ClaimLost if answer.status in lost_on else ControllerError
            raise cls(answer.status, err.code or "error", err.message)
        return answer

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             lost_on: tuple[int, ...] = (), retry: Retry | None = None) -> tuple[int, Any]:
        """Send one request to ``/api/v1`` + *path*; ``(status, JSON body or None)``.

        2xx answers are returned; a status in *lost_on* raises
        :class:`ClaimLost`, any other refusal :class:`ControllerError`. With
        *retry* the request is sent again when no answer came (only for calls
        that are idempotent).
        """
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        answer = self._send(method, path, data,
                            content_type="application/json" if data is not None else "",
                            lost_on=lost_on, retry=retry)
        return answer.status, answer.json()

    def fetch_bytes(self, path: str) -> bytes:
        """``GET /api/v1`` + *path* and return the body's bytes (a refusal raises as :meth:`call`)."""
        return self._send("GET", path, accept="application/octet-stream").body

    # -- code -------------------------------------------------------------------------------

    def code_chain(self, sha: str) -> list[str]:
        """Digests of the bundles that rebuild commit *sha*, to apply in this order."""
        _, data = self.call("GET", f"/code/commits/{seg(sha)}")
        return [str(d) for d in (data or {}).get("bundles") or []]

    def code_bundle(self, digest: str) -> bytes:
        """One bundle's bytes."""
        return self.fetch_bytes(f"/code/bundles/{seg(digest)}")

    def code_known(self, commits: Sequence[str]) -> list[str]:
        """Which of *commits* the controller can rebuild already."""
        _, data = self.call("POST", "/code/negotiate", {"commits": list(commits)})
        return [str(c) for c in (data or {}).get("known") or []]

    def code_upload(self, bundle: bytes) -> list[str]:
        """Upload a git bundle; return its tips (409 ``missing_prerequisites`` raises)."""
        answer = self._send("PUT", "/code/bundles", bundle,
                            content_type="application/octet-stream")
        return [str(t) for t in json.loads(answer.body).get("tips") or []]

    # -- triggers -------------------------------------------------------------------------------

    def claim_trigger(self, holder: str = "", *, pipelines: Sequence[str] = (),
                      sources: Sequence[str] = (), lease_secs: float | None = None,
                      request_id: str = "") -> TriggerClaim | None:
        """Claim the oldest pending trigger (of *pipelines* / *sources*); ``None``: queue empty.

        Carries *request_id* (fresh when empty) and is resent with it when the
        answer is lost, as :meth:`claim_node` is.
        """
        body: dict[str, Any] = {"request_id": request_id or new_request_id()}
        if holder:
            body["holder"] = holder
        if pipelines:
            body["pipelines"] = list(pipelines)
        if sources:
            body["sources"] = list(sources)
        if lease_secs is not None:
            body["lease_secs"] = lease_secs
        status, row = self.call("POST", "/triggers/claim", body, retry=CLAIM_RETRY)
        if status == 204 or not isinstance(row, dict):
            return None
        return TriggerClaim(str(row["id"]), str(row["holder"]), int(row["claim_seq"]),
                            float(row["lease_secs"]), float(row["heartbeat_secs"]),
                            float(row["lease_expires_at"]), row)

    def heartbeat_trigger(self, claim: TriggerClaim, *, run_id: str = "") -> Beat:
        """Extend the trigger's lease; :class:`ClaimLost` when the claim is gone (stop)."""
        body: dict[str, Any] = {"holder": claim.holder, "seq": claim.seq,
                                "lease_secs": claim.lease_secs}
        if run_id:
            body["run_id"] = run_id
        _, data = self.call("POST", f"/triggers/{seg(claim.trigger_id)}/heartbeat", body,
                            lost_on=(404, 409))
        return Beat(float(data["lease_expires_at"]), bool(data["cancel_requested"]),
                    float(data["heartbeat_secs"]))

    def finish_trigger(self, claim: TriggerClaim, *, status: str = "done", run_id: str = "",
                       error: str = "") -> None:
        """End the trigger claim: ``done`` with the run it started, or ``failed`` with *error*."""
        body = {"holder": claim.holder, "seq": claim.seq, "status": status, "run_id": run_id,
                "error": error}
        self.call("POST", f"/triggers/{seg(claim.trigger_id)}/done", body, lost_on=(404, 409))

    # -- node attempts ------------------------------------------------------------------------------

    def mark_ready(self, run_id: str, node_id: str, *, attempt: int = 1,
                   needs_labels: Sequence[str] = ()) -> dict[str, Any]:
        """Queue a node attempt for runners; return its queue row."""
        _, row = self.call("POST", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}/mark-ready",
                           {"attempt": attempt, "needs_labels": list(needs_labels)})
        return dict(row)

    def revoke_ready(self, run_id: str, node_id: str, *, attempt: int | None = None) -> bool:
        """Take a ready attempt off the queue if nobody claimed it; whether it was."""
        body = {} if attempt is None else {"attempt": attempt}
        _, data = self.call("POST", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}/revoke-ready", body)
        return bool(data["revoked"])

    def claim_node(self, holder: str, labels: Sequence[str] = (), *,
                   lease_secs: float | None = None,
                   request_id: str = "") -> NodeClaim | None:
        """Claim the oldest ready attempt *labels* satisfy; ``None`` when there is none.

        The claim carries *request_id* (a fresh :func:`new_request_id` when
        empty) and is sent again with it when the answer is lost
        (:data:`CLAIM_RETRY`): the controller then answers the claim it made,
        not another one. A caller retrying after a retryable
        :class:`ControllerError` passes the same *request_id* again.
        """
        body: dict[str, Any] = {"holder": holder, "labels": list(labels),
                                "request_id": request_id or new_request_id()}
        if lease_secs is not None:
            body["lease_secs"] = lease_secs
        status, row = self.call("POST", "/nodes/claim", body, retry=CLAIM_RETRY)
        if status == 204 or not isinstance(row, dict):
            return None
        return NodeClaim(str(row["run_id"]), str(row["node_id"]), int(row["attempt"]),
                         str(row["holder"]), int(row["claim_seq"]), float(row["lease_secs"]),
                         float(row["heartbeat_secs"]), float(row["lease_expires_at"]),
                         list(row.get("needs_labels") or []), row)

    def _node_path(self, claim: NodeClaim, action: str) -> str:
        return f"/runs/{seg(claim.run_id)}/nodes/{seg(claim.node_id)}/{action}"

    def _fence(self, claim: NodeClaim) -> dict[str, Any]:
        return {"holder": claim.holder, "seq": claim.seq, "attempt": claim.attempt}

    def heartbeat_node(self, claim: NodeClaim) -> Beat:
        """Extend the node claim; :class:`ClaimLost` when it is gone (kill the work)."""
        body = {**self._fence(claim), "lease_secs": claim.lease_secs}
        _, data = self.call("POST", self._node_path(claim, "heartbeat"), body,
                            lost_on=(404, 409))
        return Beat(float(data["lease_expires_at"]), bool(data["cancel_requested"]),
                    float(data["heartbeat_secs"]))

    def release_node(self, claim: NodeClaim) -> None:
        """Give the claim back (the attempt is ready again, in its FIFO place)."""
        self.call("POST", self._node_path(claim, "release"), self._fence(claim),
                  lost_on=(404, 409))

    def finish_node(self, claim: NodeClaim, *, outcome: str, exit_code: int | None = None,
                    error: str = "", failure_reason: str = "") -> dict[str, Any]:
        """Record the attempt's result; return the finished queue row."""
        body = {**self._fence(claim), "outcome": outcome, "exit_code": exit_code,
                "error": error, "failure_reason": failure_reason}
        _, row = self.call("POST", self._node_path(claim, "claim-finish"), body,
                           lost_on=(404, 409))
        return dict(row)

    def list_queue(self, *, run_id: str = "", status: str = "", holder: str = "",
                   limit: int = 100) -> list[dict[str, Any]]:
        """Queue rows in FIFO order, filtered."""
        query = urllib.parse.urlencode({k: v for k, v in (
            ("run_id", run_id), ("status", status), ("holder", holder),
            ("limit", str(limit))) if v})
        _, data = self.call("GET", f"/nodes/queue?{query}")
        return list(data["attempts"])

    def queued_attempt(self, run_id: str, node_id: str,
                       attempt: int | None = None) -> dict[str, Any] | None:
        """One attempt's queue row (default: the node's latest), or ``None`` if never queued."""
        query = f"?attempt={attempt}" if attempt is not None else ""
        _, data = self.call("GET", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}/queue{query}")
        row = (data or {}).get("attempt")
        return dict(row) if isinstance(row, dict) else None

    def run_events(self, run_id: str, *, after: int = 0,
                   limit: int = 1000) -> list[dict[str, Any]]:
        """Events of a run's stream with ``seq`` above *after*, oldest first."""
        _, data = self.call("GET", f"/runs/{seg(run_id)}/events?after={after}&limit={limit}")
        return list((data or {}).get("events") or [])

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        """The run's stored record (its JSON form), or ``None`` when the controller has none."""
        _, data = self.call("GET", f"/runs/{seg(run_id)}/record")
        run = (data or {}).get("run")
        return dict(run) if isinstance(run, dict) else None

