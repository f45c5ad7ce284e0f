"""``state: {type: controller, url, token_env}``: a :class:`StateStore` kept by a controller.

Every call is one request to the controller's ``/api/v1`` state routes
(``sparkwing_server.controller.state_api``), answered from the
controller's own state store, so sequence numbers, leases and trigger
claims are decided there, for every runner and laptop at once. The
orchestrator's batched writes (:meth:`ControllerStateStore.write_batch`)
are one request per batch. Safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..contracts import StateWrite
from ..records import (
    AcquireResult,
    Approval,
    CacheEntry,
    Event,
    Lease,
    Node,
    Pause,
    Run,
    RunFilter,
    Step,
    TriggerRow,
)
from .client import MAX_BODY, ControllerClient, seg
from .wire import record_from, record_or_none, to_json

#: Most events one page of ``GET /runs/{id}/events`` returns.
EVENTS_PAGE = 5000


def _write_json(w: StateWrite) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": w.run_id}
    if w.node_id:
        out["node_id"] = w.node_id
    if w.fields is not None:
        out["fields"] = dict(w.fields)
    if w.event is not None:
        out["event"] = {"kind": w.event[0], "payload": dict(w.event[1])}
    if w.step is not None:
        out["step"] = to_json(w.step)
    if w.ts is not None:
        out["ts"] = w.ts
    return out


class ControllerStateStore:
    """The state store of a controller at *url* (see the module docstring)."""

    def __init__(self, url: str, *, token: str = "", token_env: str = "",
                 client: ControllerClient | None = None) -> None:
        self.client = client or ControllerClient(url, token=token, token_env=token_env)

    def __repr__(self) -> str:
        return f"ControllerStateStore({self.client.url!r})"

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return self.client.request(method, path, body, **kw)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the kept-alive connections."""
        self.client.close()

    # -- runs --------------------------------------------------------------------------------
    def create_run(self, run: Run) -> None:
        """Record a new run; :class:`~sparkwing.errors.StoreError` if the id exists."""
        self._call("POST", "/runs", to_json(run))

    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Set run fields (idempotent: retried on a dropped connection)."""
        self._call("PATCH", f"/runs/{seg(run_id)}", {"fields": dict(fields)}, idempotent=True)

    def get_run(self, run_id: str) -> Run | None:
        """Return the run or ``None``."""
        data = self._call("GET", f"/runs/{seg(run_id)}/record")
        return record_or_none(Run, data["run"])

    def list_runs(self, flt: RunFilter | None = None) -> list[Run]:
        """Return runs matching *flt*, newest first."""
        data = self._call("POST", "/runs/query", to_json(flt or RunFilter()), idempotent=True)
        return [record_from(Run, r) for r in data["runs"]]

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and everything under it; ``False`` if it did not exist."""
        return bool(self._call("DELETE", f"/runs/{seg(run_id)}")["deleted"])

    def reap_stale_runs(self, stale_before: float, now: float) -> list[str]:
        """Fail live runs whose heartbeat is older than *stale_before* (in the controller)."""
        data = self._call("POST", "/runs/reap", {"stale_before": stale_before, "now": now})
        return [str(x) for x in data["run_ids"]]

    # -- people's lifecycle actions (the controller's lifecycle routes) -------------------------
    def cancel_run(self, run_id: str, *, by: str = "", reason: str = "") -> None:
        """Ask a run to stop as a person (the controller records the token's principal).

        Cancels a run whose trigger no runner started yet outright.
        :class:`~sparkwing.errors.NotFoundError` for an unknown run,
        :class:`~sparkwing.errors.ConflictError` when it finished otherwise.
        (*by* is not sent: the controller names the caller.)
        """
        self._call("POST", f"/runs/{seg(run_id)}/cancel", {"reason": reason} if reason else {},
                   idempotent=True)

    def retry_run(self, run_id: str, *, full: bool = False) -> dict[str, Any]:
        """Queue a retry of a finished run for a runner; the new run's summary.

        Without *full* the jobs that passed are reused.
        :class:`~sparkwing.errors.ConflictError` while the run is live.
        """
        return dict(self._call("POST", f"/runs/{seg(run_id)}/retry",
                               query={"full": "1"} if full else None))

    def run_attempts(self, run_id: str) -> list[dict[str, Any]]:
        """The run's retry lineage, oldest first (runs as JSON views)."""
        return list(self._call("GET", f"/runs/{seg(run_id)}/attempts")["runs"])

    def cancel_node(self, run_id: str, node_id: str, *, reason: str = "") -> dict[str, Any]:
        """Cancel one job's current attempt (queue executor jobs only); its queue row."""
        data = self._call("POST", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}/cancel",
                          {"reason": reason} if reason else {}, idempotent=True)
        return dict(data["attempt"] or {})

    # -- nodes ----------------------------------------------------------------------------------
    def create_nodes(self, run_id: str, nodes: Sequence[Node]) -> None:
        """Insert a run's nodes in one transaction."""
        self._call("POST", f"/runs/{seg(run_id)}/nodes", {"nodes": [to_json(n) for n in nodes]})

    def update_node(self, run_id: str, node_id: str, fields: Mapping[str, Any],
                    event: tuple[str, Mapping[str, Any]] | None = None) -> int | None:
        """Set node fields, with *event* appended atomically; return its ``seq``."""
        body: dict[str, Any] = {"fields": dict(fields)}
        if event is not None:
            body["event"] = {"kind": event[0], "payload": dict(event[1])}
        data = self._call("PATCH", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}", body,
                          idempotent=event is None)
        seq = data["seq"]
        return None if seq is None else int(seq)

    def get_node(self, run_id: str, node_id: str) -> Node | None:
        """Return one node or ``None``."""
        data = self._call("GET", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}")
        return record_or_none(Node, data["node"])

    def list_nodes(self, run_id: str) -> list[Node]:
        """Return a run's nodes in insertion order."""
        data = self._call("GET", f"/runs/{seg(run_id)}/nodes")
        return [record_from(Node, n) for n in data["nodes"]]

    # -- steps ------------------------------------------------------------------------------------
    def upsert_step(self, step: Step) -> None:
        """Insert or replace a step row."""
        self._call("POST", f"/runs/{seg(step.run_id)}/steps", to_json(step), idempotent=True)

    def list_steps(self, run_id: str, node_id: str | None = None) -> list[Step]:
        """Return steps of a run (or of one node) in insertion order."""
        query = None if node_id is None else {"node": node_id}
        data = self._call("GET", f"/runs/{seg(run_id)}/steps", query=query)
        return [record_from(Step, s) for s in data["steps"]]

    # -- events -------------------------------------------------------------------------------------
    def append_event(self, run_id: str, kind: str, payload: Mapping[str, Any], node_id: str = "",
                     ts: float | None = None) -> int:
        """Append an event; the controller's store assigns its ``seq``."""
        body: dict[str, Any] = {"kind": kind, "payload": dict(payload), "node_id": node_id}
        if ts is not None:
            body["ts"] = ts
        return int(self._call("POST", f"/runs/{seg(run_id)}/events", body)["seq"])

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Event]:
        """Return events with ``seq > after_seq`` in order, at most *limit* (paged)."""
        from ...errors import NotFoundError

        out: list[Event] = []
        after = after_seq
        while len(out) < limit:
            page = min(EVENTS_PAGE, limit - len(out))
            try:
                data = self._call("GET", f"/runs/{seg(run_id)}/events",
                                  query={"after": after, "limit": page})
            except NotFoundError:
                return out
            events = [record_from(Event, e) for e in data["events"]]
            out.extend(events)
            if len(events) < page:
                break
            after = events[-1].seq
        return out

    def write_batch(self, writes: Sequence[StateWrite]) -> None:
        """Apply *writes* in order in one transaction of the controller's store.

        A batch larger than the controller's body limit is sent as several
        requests (each one transaction), split in halves.
        """
        if not writes:
            return
        self._send_writes([_write_json(w) for w in writes])

    def _send_writes(self, items: list[dict[str, Any]]) -> None:
        import json

        body = {"writes": items}
        # ASCII-escaped length bounds the UTF-8 size of the request's body from above
        if len(items) > 1 and len(json.dumps(body)) > MAX_BODY // 2:
            half = len(items) // 2
            self._send_writes(items[:half])
            self._send_writes(items[half:])
            return
        self._call("POST", "/state/writes", body)

    # -- approvals ---------------------------------------------------------------------------------
    def create_approval(self, approval: Approval) -> None:
        """Record an approval request (idempotent for the same run/node)."""
        body = to_json(approval)
        run_id, node_id = body.pop("run_id"), body.pop("node_id")
        self._call("POST", f"/runs/{seg(run_id)}/approvals/{seg(node_id)}/request", body,
                   idempotent=True)

    def get_approval(self, run_id: str, node_id: str) -> Approval | None:
        """Return the approval or ``None``."""
        data = self._call("GET", f"/runs/{seg(run_id)}/approvals/{seg(node_id)}")
        return record_or_none(Approval, data["approval"])

    def resolve_approval(self, run_id: str, node_id: str, resolution: str, approver: str,
                         comment: str, now: float) -> bool:
        """Resolve a pending approval (``timed_out`` through the orchestrator's route)."""
        path = f"/runs/{seg(run_id)}/approvals/{seg(node_id)}"
        if resolution == "timed_out":
            path += "/expire"
        body = {"resolution": resolution, "approver": approver, "comment": comment, "now": now}
        return bool(self._call("POST", path, body)["resolved"])

    def decide_approval(self, run_id: str, node_id: str, resolution: str, approver: str,
                        comment: str) -> Approval:
        """Approve or deny a gate as a person: resolved and its event recorded by the controller.

        The controller records the token's principal as the approver (*approver*
        only counts on a controller without auth). Raises
        :class:`~sparkwing.errors.NotFoundError` for an unknown gate and
        :class:`~sparkwing.errors.StoreError` when it was already decided.
        """
        data = self._call("POST", f"/runs/{seg(run_id)}/approvals/{seg(node_id)}/decide",
                          {"resolution": resolution, "approver": approver, "comment": comment})
        return record_from(Approval, data["approval"])

    def list_approvals(self, run_id: str | None = None,
                       pending_only: bool = False) -> list[Approval]:
        """Return approvals, optionally of one run and/or only the pending ones."""
        query: dict[str, Any] = {"pending": "true" if pending_only else "false"}
        if run_id is not None:
            query["run_id"] = run_id
        data = self._call("GET", "/approvals", query=query)
        return [record_from(Approval, a) for a in data["approvals"]]

    # -- memo cache index -----------------------------------------------------------------------------
    def cache_get(self, key: str, now: float) -> CacheEntry | None:
        """Return the unexpired entry for *key* (the controller counts the hit) or ``None``."""
        data = self._call("POST", "/memo/lookup", {"key": key, "now": now})
        return record_or_none(CacheEntry, data["entry"])

    def cache_put(self, entry: CacheEntry) -> None:
        """Insert or replace the entry for ``entry.key``."""
        self._call("PUT", "/memo", to_json(entry))

    def cache_list(self, prefix: str = "", include_expired: bool = False) -> list[CacheEntry]:
        """Return entries whose key starts with *prefix*, newest first."""
        data = self._call("GET", "/memo", query={
            "prefix": prefix, "include_expired": "true" if include_expired else "false"})
        return [record_from(CacheEntry, e) for e in data["entries"]]

    def cache_delete(self, key: str) -> bool:
        """Delete one entry; ``False`` if it did not exist."""
        return bool(self._call("POST", "/memo/delete", {"key": key})["deleted"])

    def cache_prune(self, now: float) -> int:
        """Delete expired entries; return how many went."""
        return int(self._call("POST", "/memo/prune", {"now": now})["pruned"])

    # -- concurrency leases ----------------------------------------------------------------------------
    def concurrency_acquire(self, key: str, holder_id: str, *, capacity: int, cost: int,
                            lease_s: float, now: float, run_id: str = "",
                            node_id: str = "") -> AcquireResult:
        """Try to take *cost* units of *key* (decided atomically by the controller's store)."""
        data = self._call("POST", f"/concurrency/{seg(key)}/acquire", {
            "holder_id": holder_id, "capacity": capacity, "cost": cost, "lease_s": lease_s,
            "now": now, "run_id": run_id, "node_id": node_id}, idempotent=True)
        return AcquireResult(bool(data["granted"]), int(data["active"]), int(data["ahead"]),
                             [str(h) for h in data["holders"]])

    def concurrency_renew(self, holder_id: str, lease_expires_at: float) -> None:
        """Extend every lease of *holder_id*."""
        self._call("POST", "/concurrency/renew",
                   {"holder_id": holder_id, "lease_expires_at": lease_expires_at},
                   idempotent=True)

    def concurrency_release(self, key: str, holder_id: str) -> None:
        """Drop *holder_id*'s hold or wait on *key*."""
        self._call("POST", f"/concurrency/{seg(key)}/release", {"holder_id": holder_id},
                   idempotent=True)

    def concurrency_state(self, key: str, now: float) -> tuple[list[Lease], list[Lease]]:
        """Return ``(holders, waiters)`` of *key*, unexpired, oldest first."""
        data = self._call("GET", f"/concurrency/{seg(key)}/state", query={"now": repr(now)})
        return ([record_from(Lease, x) for x in data["holders"]],
                [record_from(Lease, x) for x in data["waiters"]])

    # -- debug pauses ------------------------------------------------------------------------------------
    def create_pause(self, pause: Pause) -> None:
        """Record a pause on a node (replacing an earlier one)."""
        self._call("POST", f"/runs/{seg(pause.run_id)}/debug-pauses", to_json(pause),
                   idempotent=True)

    def get_pause(self, run_id: str, node_id: str) -> Pause | None:
        """Return the node's pause or ``None``."""
        data = self._call("GET", f"/runs/{seg(run_id)}/nodes/{seg(node_id)}/debug-pause")
        return record_or_none(Pause, data["pause"])

    def release_pause(self, run_id: str, node_id: str, by: str, kind: str, now: float) -> bool:
        """Release a held pause; ``False`` if missing or already released.

        A ``manual`` release is a person's: it goes to the controller's
        ``manual-release`` route (scope ``runs.write``), which records the
        token's principal as *by*; other kinds (the orchestrator's timeouts)
        go to the runners' route (``runs.report``).
        """
        path = f"/runs/{seg(run_id)}/nodes/{seg(node_id)}/debug-pause/"
        if kind == "manual":
            data = self._call("POST", path + "manual-release", {"by": by, "now": now})
        else:
            data = self._call("POST", path + "release", {"by": by, "kind": kind, "now": now})
        return bool(data["released"])

    def list_pauses(self, run_id: str | None = None, held_only: bool = False) -> list[Pause]:
        """Return pauses, optionally of one run and/or only those still held."""
        query: dict[str, Any] = {"held": "true" if held_only else "false"}
        if run_id is not None:
            query["run_id"] = run_id
        data = self._call("GET", "/debug-pauses", query=query)
        return [record_from(Pause, p) for p in data["pauses"]]

    # -- triggers --------------------------------------------------------------------------------------------
    def insert_trigger(self, row: TriggerRow) -> tuple[TriggerRow, bool]:
        """Record *row* unless its idempotency key exists (decided by the controller's store)."""
        data = self._call("POST", "/trigger-rows", to_json(row))
        return record_from(TriggerRow, data["row"]), bool(data["created"])

    def get_trigger(self, trigger_id: str) -> TriggerRow | None:
        """Return the trigger row or ``None``."""
        data = self._call("GET", f"/trigger-rows/{seg(trigger_id)}")
        return record_or_none(TriggerRow, data["row"])

    def list_triggers(self, *, pipeline: str = "", status: str = "", source: str = "",
                      limit: int = 20) -> list[TriggerRow]:
        """Return rows newest first, at most *limit* (``<= 0``: all)."""
        data = self._call("GET", "/trigger-rows", query={
            "pipeline": pipeline, "status": status, "source": source, "limit": max(limit, 0)})
        return [record_from(TriggerRow, r) for r in data["rows"]]

    def claim_trigger(self, holder: str, *, lease_s: float, now: float, trigger_id: str = "",
                      pipelines: Sequence[str] = (), sources: Sequence[str] = (),
                      request_id: str = "") -> TriggerRow | None:
        """Claim the oldest pending row (or *trigger_id*, of *pipelines*/*sources*) for *holder*.

        With *request_id* the call is idempotent, so it is retried like one.
        """
        body: dict[str, Any] = {
            "holder": holder, "lease_s": lease_s, "now": now, "trigger_id": trigger_id,
            "pipelines": list(pipelines), "sources": list(sources)}
        if request_id:
            body["request_id"] = request_id
        data = self._call("POST", "/trigger-rows/claim", body, idempotent=bool(request_id))
        return record_or_none(TriggerRow, data["row"])

    def renew_trigger(self, trigger_id: str, holder: str, lease_expires_at: float, *,
                      claims: int = 0) -> bool:
        """Move the lease of a row *holder* claimed; ``False`` when it is no longer theirs."""
        data = self._call("POST", f"/trigger-rows/{seg(trigger_id)}/renew",
                          {"holder": holder, "lease_expires_at": lease_expires_at,
                           "claims": claims}, idempotent=True)
        return bool(data["renewed"])

    def finish_trigger(self, trigger_id: str, holder: str, *, status: str, now: float,
                       run_id: str = "", error: str = "", claims: int = 0) -> bool:
        """End *holder*'s claim as ``done`` (with *run_id*) or ``failed`` (with *error*)."""
        data = self._call("POST", f"/trigger-rows/{seg(trigger_id)}/finish", {
            "holder": holder, "status": status, "now": now, "run_id": run_id, "error": error,
            "claims": claims})
        return bool(data["finished"])

    def requeue_expired_triggers(self, now: float) -> list[str]:
        """Put claimed rows whose lease expired back to pending; return their ids."""
        data = self._call("POST", "/trigger-rows/requeue-expired", {"now": now})
        return [str(x) for x in data["ids"]]
