"""The fake cluster's control plane: the Job controller, the garbage collector, TTL and deadlines.

Behaviour follows Kubernetes 1.3x:

* a Job gets one pod at a time from its template (``<job>-<5 chars>``,
  owned by the Job, labelled ``job-name``/``controller-uid``); a pod that
  fails, or is deleted before it ends, counts as failed; more failures than
  ``backoffLimit`` fail the Job (``FailureTarget`` then ``Failed``, reason
  ``BackoffLimitExceeded``); a pod that succeeds completes it
  (``SuccessCriteriaMet`` then ``Complete``);
* ``activeDeadlineSeconds`` past ``startTime`` fails the Job with reason
  ``DeadlineExceeded`` and terminates its pods;
* ``ttlSecondsAfterFinished`` deletes a finished Job (background propagation);
* deletion propagation: ``Foreground`` keeps the Job (``deletionTimestamp``,
  finalizer ``foregroundDeletion``) until its pods are gone; ``Background``
  removes it at once and its dependents after; ``Orphan`` (the default for
  Jobs deleted through the API without a policy) leaves the pods running,
  without their owner reference. Secrets owned by a Job are collected too.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import objects
from .kubelet import Kubelet, set_condition
from .simulate import Simulations
from .store import HISTORY, Change, ObjectStore, clone, owned_by
from .timefmt import rfc3339

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class JobTracking:
    """Pods of one Job already counted as succeeded or failed."""

    succeeded: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.time)
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


@dataclass
class Call:
    """One API request, in RBAC terms."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    path: str
    user_agent: str
    #: ``token`` when the request carried the bearer token, else ``system:anonymous``.
    user: str = "system:anonymous"
    query: str = ""
    #: When the request arrived (seconds since the epoch).
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"verb": self.verb, "group": self.group, "resource": self.resource,
                "subresource": self.subresource, "namespace": self.namespace,
                "name": self.name, "path": self.path, "user_agent": self.user_agent,
                "user": self.user, "query": self.query, "ts": f"{self.ts:.6f}"}


class FakeCluster:
    """State and controllers of one fake cluster (everything runs on one event loop)."""

    def __init__(self, *, image_root: Path | None = None,
                 image_env: Mapping[str, str] | None = None,
                 missing_images: list[str] | None = None, history: int = HISTORY) -> None:
        self.store = ObjectStore(history)
        self.simulations = Simulations(missing_images)
        self.kubelet = Kubelet(self.store, self.simulations,
                               image_root=image_root or Path.cwd(), image_env=image_env)
        self.tracking: dict[str, JobTracking] = {}
        self.calls: list[Call] = []
        self.created = rfc3339(time.time())
        self._tasks: set[asyncio.Task[Any]] = set()
        self.store.listeners.append(self._on_change)

    # -- plumbing -------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_change(self, change: Change) -> None:
        loop = asyncio.get_running_loop()
        if change.resource == "jobs":
            meta = change.obj["metadata"]
            loop.call_soon(self.sync_job, meta["namespace"], meta["name"])
        elif change.resource == "pods":
            for ref in change.obj["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job" and ref.get("controller"):
                    if change.type == "DELETED":
                        self._count_deleted(change.obj, ref["uid"])
                    loop.call_soon(self.sync_job, change.obj["metadata"]["namespace"],
                                   ref["name"])

    async def shutdown(self) -> None:
        """Stop every container and timer."""
        for tracking in self.tracking.values():
            for t in tracking.timers:
                t.cancel()
        await self.kubelet.shutdown()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- jobs: API --------------------------------------------------------------------------
    def create_job(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST .../jobs``."""
        job = clone(dict(body))
        meta = job.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _suffix()
        meta["namespace"] = namespace
        objects.check_job(job)
        if self.store.get("jobs", namespace, meta["name"]) is not None:
            raise objects.already_exists("jobs", meta["name"])
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                    "generation"):
            meta.pop(key, None)
        meta["uid"] = _uid()
        objects.default_job(job)
        return self.store.create("jobs", job)

    def delete_job(self, namespace: str, name: str, propagation: str) -> tuple[int, dict[str, Any]]:
        """``DELETE .../jobs/{name}``: returns the HTTP status and body."""
        job = self.store.get("jobs", namespace, name)
        if job is None:
            raise objects.not_found("jobs", name)
        if propagation not in ("", "Orphan", "Background", "Foreground"):
            raise objects.bad_request(
                f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                '"Foreground", "Background", "Orphan"')
        policy = propagation or "Orphan"
        uid = job["metadata"]["uid"]
        if policy == "Foreground":
            def mark(j: dict[str, Any]) -> None:
                m = j["metadata"]
                m.setdefault("deletionTimestamp", rfc3339(time.time()))
                m["deletionGracePeriodSeconds"] = 0
                if "foregroundDeletion" not in (m.get("finalizers") or []):
                    m["finalizers"] = [*(m.get("finalizers") or []), "foregroundDeletion"]
            updated = self.store.mutate("jobs", namespace, name, mark)
            self._collect(namespace, uid)
            return 200, updated or job
        if policy == "Orphan":
            for kind in ("pods", "secrets"):
                for obj in self.store.view(kind, namespace):
                    if owned_by(obj, uid):
                        def drop(o: dict[str, Any], uid: str = uid) -> None:
                            refs = [r for r in o["metadata"].get("ownerReferences") or []
                                    if r.get("uid") != uid]
                            if refs:
                                o["metadata"]["ownerReferences"] = refs
                            else:
                                o["metadata"].pop("ownerReferences", None)
                        self.store.mutate(kind, namespace, obj["metadata"]["name"], drop)
            self._forget(uid)
            self.store.remove("jobs", namespace, name)
            return 200, objects.success_status("jobs", name, uid)
        self._forget(uid)
        self.store.remove("jobs", namespace, name)
        self._collect(namespace, uid)
        return 200, objects.success_status("jobs", name, uid)

    def _forget(self, uid: str) -> None:
        tracking = self.tracking.pop(uid, None)
        if tracking is not None:
            for t in tracking.timers:
                t.cancel()

    def _collect(self, namespace: str, owner_uid: str) -> None:
        """Delete what *owner_uid* owns (pods gracefully, secrets at once)."""
        for secret in self.store.view("secrets", namespace):
            if owned_by(secret, owner_uid):
                self.store.remove("secrets", namespace, secret["metadata"]["name"])
        for pod in self.store.view("pods", namespace):
            if owned_by(pod, owner_uid):
                self.delete_pod(namespace, pod["metadata"]["name"], None)

    # -- pods -------------------------------------------------------------------------------
    def delete_pod(self, namespace: str, name: str, grace_s: int | None) -> dict[str, Any]:
        """Graceful pod deletion: mark it, stop its container, then remove it."""
        pod = self.store.get("pods", namespace, name)
        if pod is None:
            raise objects.not_found("pods", name)
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30)
                    if grace_s is None else grace_s)
        if pod["metadata"].get("deletionTimestamp"):
            return pod

        def mark(p: dict[str, Any]) -> None:
            p["metadata"]["deletionTimestamp"] = rfc3339(time.time() + grace)
            p["metadata"]["deletionGracePeriodSeconds"] = grace
        updated = self.store.mutate("pods", namespace, name, mark) or pod
        self._spawn(self._terminate_pod(namespace, name, grace))
        return updated

    async def _terminate_pod(self, namespace: str, name: str, grace: int) -> None:
        await self.kubelet.terminate(namespace, name, float(grace))
        self.store.remove("pods", namespace, name)

    # -- the Job controller -----------------------------------------------------------------
    def _count_deleted(self, pod: Mapping[str, Any], job_uid: str) -> None:
        tracking = self.tracking.get(job_uid)
        if tracking is None:
            return
        uid = pod["metadata"]["uid"]
        phase = pod.get("status", {}).get("phase")
        if uid in tracking.succeeded or uid in tracking.failed:
            return
        if phase == "Succeeded":
            tracking.succeeded.add(uid)
        else:
            tracking.failed.add(uid)

    def sync_job(self, namespace: str, name: str) -> None:
        """Bring one Job's pods and status in line with its spec (idempotent)."""
        job = self.store.peek("jobs", namespace, name)
        if job is None:
            return
        meta, spec = job["metadata"], job["spec"]
        uid = meta["uid"]
        pods = [p for p in self.store.view("pods", namespace) if owned_by(p, uid)]
        if meta.get("deletionTimestamp"):
            if "foregroundDeletion" in (meta.get("finalizers") or []) and not pods:
                self._forget(uid)
                self.store.remove("jobs", namespace, name)
            return
        tracking = self.tracking.get(uid)
        if tracking is None:
            tracking = self.tracking[uid] = JobTracking()
            self._arm_deadline(job, tracking)
        for p in pods:
            phase = p.get("status", {}).get("phase")
            puid = p["metadata"]["uid"]
            if phase == "Succeeded":
                tracking.succeeded.add(puid)
            elif phase == "Failed":
                tracking.failed.add(puid)
        running = [p for p in pods if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        terminating = [p for p in running if p["metadata"].get("deletionTimestamp")]
        active = [p for p in running if not p["metadata"].get("deletionTimestamp")]
        status = clone(job.get("status") or {})
        conds = {c["type"]: c for c in status.get("conditions") or []}
        finished = any(conds.get(t, {}).get("status") == "True" for t in ("Complete", "Failed"))
        now = time.time()
        if not finished:
            target = conds.get("FailureTarget") or conds.get("SuccessCriteriaMet")
            if target is None:
                reason = message = ""
                deadline = spec.get("activeDeadlineSeconds")
                if deadline and now >= tracking.started + deadline:
                    reason, message = ("DeadlineExceeded",
                                       "Job was active longer than specified deadline")
                elif len(tracking.failed) > int(spec.get("backoffLimit", 6)):
                    reason, message = ("BackoffLimitExceeded",
                                       "Job has reached the specified backoff limit")
                if reason:
                    set_condition(status, _job_cond("FailureTarget", reason, message))
                    for p in active:
                        self.delete_pod(namespace, p["metadata"]["name"], None)
                    terminating += active
                    active = []
                elif len(tracking.succeeded) >= int(spec.get("completions", 1)):
                    set_condition(status, _job_cond("SuccessCriteriaMet", "CompletionsReached",
                                                    "Reached expected number of succeeded pods"))
                elif not active and not terminating and not spec.get("suspend"):
                    active.append(self._create_pod(job))
            target = next((c for c in status.get("conditions") or []
                           if c["type"] in ("FailureTarget", "SuccessCriteriaMet")), None)
            if target is not None and not running:
                if target["type"] == "FailureTarget":
                    set_condition(status, _job_cond("Failed", target.get("reason", ""),
                                                    target.get("message", "")))
                else:
                    set_condition(status, _job_cond("Complete", target.get("reason", ""),
                                                    target.get("message", "")))
                    status["completionTime"] = rfc3339(now)
                self._arm_ttl(job, tracking)
        status.setdefault("startTime", rfc3339(tracking.started))
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if _ready(p))
        status["terminating"] = len([p for p in running if p["metadata"].get("deletionTimestamp")])
        status["succeeded"] = len(tracking.succeeded)
        status["failed"] = len(tracking.failed)
        status["uncountedTerminatedPods"] = {}
        for key in ("succeeded", "failed", "active"):
            if not status[key]:
                status.pop(key)
        if status != job.get("status"):
            def apply(j: dict[str, Any]) -> None:
                j["status"] = status
            self.store.mutate("jobs", namespace, name, apply)

    def _arm_deadline(self, job: Mapping[str, Any], tracking: JobTracking) -> None:
        deadline = job["spec"].get("activeDeadlineSeconds")
        if not deadline:
            return
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        loop = asyncio.get_running_loop()
        tracking.timers.append(loop.call_later(float(deadline) + 0.01, self.sync_job, ns, name))

    def _arm_ttl(self, job: Mapping[str, Any], tracking: JobTracking) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        uid = job["metadata"]["uid"]

        def expire() -> None:
            current = self.store.get("jobs", ns, name)
            if current is not None and current["metadata"]["uid"] == uid:
                self.delete_job(ns, name, "Background")
        loop = asyncio.get_running_loop()
        tracking.timers.append(loop.call_later(float(ttl), expire))

    def _create_pod(self, job: Mapping[str, Any]) -> dict[str, Any]:
        meta = job["metadata"]
        template = job["spec"]["template"]
        tmeta = template.get("metadata") or {}
        spec = clone(template["spec"])
        sa = spec.get("serviceAccountName") or "default"
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        tolerations = list(spec.get("tolerations") or [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300})
        spec["tolerations"] = tolerations
        pod_meta: dict[str, Any] = {
            "name": f"{meta['name']}-{_suffix()}",
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "uid": _uid(),
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}],
        }
        if tmeta.get("annotations"):
            pod_meta["annotations"] = dict(tmeta["annotations"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec,
               "status": {"phase": "Pending", "qosClass": objects.qos_class(spec)}}
        created = self.store.create("pods", pod)
        self.kubelet.admit(created, job)
        return created

    # -- secrets ----------------------------------------------------------------------------
    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST .../secrets`` (``stringData`` is folded into ``data``)."""
        secret = clone(dict(body))
        meta = secret.setdefault("metadata", {})
        meta["namespace"] = namespace
        objects.check_secret(secret)
        if self.store.get("secrets", namespace, meta["name"]) is not None:
            raise objects.already_exists("secrets", meta["name"])
        for key in ("uid", "resourceVersion", "creationTimestamp"):
            meta.pop(key, None)
        meta["uid"] = _uid()
        data = dict(secret.get("data") or {})
        for k, v in (secret.pop("stringData", None) or {}).items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        secret["data"] = data
        secret.setdefault("type", "Opaque")
        secret["apiVersion"], secret["kind"] = "v1", "Secret"
        return self.store.create("secrets", secret)

    def patch_secret(self, namespace: str, name: str, content_type: str,
                     patch: Any) -> dict[str, Any]:
        """``PATCH .../secrets/{name}`` (merge, strategic merge or JSON patch)."""
        secret = self.store.get("secrets", namespace, name)
        if secret is None:
            raise objects.not_found("secrets", name)
        try:
            patched = apply_patch(secret, content_type, patch)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise objects.ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from None
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            patched["metadata"][key] = secret["metadata"][key]
        for k, v in (patched.pop("stringData", None) or {}).items():
            patched.setdefault("data", {})[k] = base64.b64encode(str(v).encode()).decode()
        objects.check_secret(patched)
        return self.store.update("secrets", patched)


def apply_patch(obj: dict[str, Any], content_type: str, patch: Any) -> dict[str, Any]:
    """Apply a patch document of *content_type* to a copy of *obj*."""
    ctype = content_type.split(";")[0].strip()
    target = clone(obj)
    if ctype == "application/json-patch+json":
        if not isinstance(patch, list):
            raise ValueError("a JSON patch must be a list of operations")
        for op in patch:
            _json_patch_op(target, op)
        return target
    if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        if not isinstance(patch, Mapping):
            raise ValueError("a merge patch must be an object")
        merged: dict[str, Any] = _merge(target, patch)
        return merged
    raise objects.ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json")


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return clone(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _json_patch_op(doc: dict[str, Any], op: Mapping[str, Any]) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
    parent: Any = doc
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last = parts[-1] if parts else ""
    kind = op["op"]
    if kind in ("add", "replace"):
        if isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            elif kind == "add":
                parent.insert(int(last), op["value"])
            else:
                parent[int(last)] = op["value"]
        else:
            if kind == "replace" and last not in parent:
                raise KeyError(last)
            parent[last] = op["value"]
    elif kind == "remove":
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    elif kind == "test":
        current = parent[int(last)] if isinstance(parent, list) else parent[last]
        if current != op["value"]:
            raise ValueError(f"test failed at {op['path']}")
    else:
        raise ValueError(f"unsupported operation {kind!r}")


def _job_cond(ctype: str, reason: str, message: str) -> dict[str, Any]:
    now = rfc3339(time.time())
    return {"type": ctype, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def _suffix() -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(5))


def _uid() -> str:
    import uuid

    return str(uuid.uuid4())
