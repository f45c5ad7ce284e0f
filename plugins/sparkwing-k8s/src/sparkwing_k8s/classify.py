"""Why a pod or Job failed, in sparkwing's terms (``failure_reason`` and a one-line message).

The mapping follows what Argo, Tekton, Dagster and Buildkite's agent stack
report (see the project's research notes):

============================================  ===================
Kubernetes signal                             ``failure_reason``
============================================  ===================
container terminated, reason ``OOMKilled``    ``oom``
waiting ``ErrImagePull``/``ImagePullBackOff``  ``image_pull`` (after a grace)
waiting ``InvalidImageName``                  ``image_pull`` (at once)
Job condition ``Failed``/``DeadlineExceeded``  ``deadline``
pod ``Failed`` with reason ``Evicted``, or    ``evicted``
``DisruptionTarget`` by the kubelet,
preemption or the eviction API
``DisruptionTarget`` by the taint manager or  ``node_lost``
the pod GC, pod reason ``NodeLost``
waiting ``CreateContainerConfigError``         ``config_error`` (after a grace)
``CrashLoopBackOff``/``RunContainerError``/   ``container_start``
terminated ``StartError``/``ContainerCannotRun``
``PodScheduled=False`` (``Unschedulable``)    ``unschedulable`` (after the pending timeout)
pod or Job deleted by someone else            ``pod_deleted``
============================================  ===================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IMAGE_PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull",
                                "RegistryUnavailable", "SignatureValidationFailed"})
IMAGE_NAME_WAITING = frozenset({"InvalidImageName"})
CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError"})
START_WAITING = frozenset({"CrashLoopBackOff", "RunContainerError"})
START_TERMINATED = frozenset({"StartError", "ContainerCannotRun"})
NODE_LOST_DISRUPTIONS = frozenset({"DeletionByTaintManager", "DeletionByPodGC"})


@dataclass(frozen=True, slots=True)
class Problem:
    """A pod that cannot start, and since when it has been so."""

    failure_reason: str
    k8s_reason: str
    message: str
    #: Fail at once (no grace): the problem cannot fix itself.
    immediate: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an attempt failed, from what Kubernetes says."""

    failure_reason: str
    message: str
    exit_code: int | None = None


def container_state(pod: Mapping[str, Any] | None) -> dict[str, Any]:
    """The first container's ``state`` (``{}`` when unknown)."""
    if not pod:
        return {}
    statuses = pod.get("status", {}).get("containerStatuses") or []
    if not statuses:
        return {}
    return dict(statuses[0].get("state") or {})


def condition(obj: Mapping[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    """The condition of type *ctype* in *obj*'s status, if present."""
    if not obj:
        return None
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def job_finished(job: Mapping[str, Any] | None) -> str:
    """``Complete`` or ``Failed`` once the Job has finished, else ``""``."""
    for ctype in ("Complete", "Failed"):
        c = condition(job, ctype)
        if c is not None and c.get("status") == "True":
            return ctype
    return ""


def started(pod: Mapping[str, Any] | None) -> bool:
    """True once the container has run (its log can be read)."""
    state = container_state(pod)
    return "running" in state or "terminated" in state


def pending_problem(pod: Mapping[str, Any] | None) -> Problem | None:
    """What keeps a pending pod from running, if anything is known to."""
    if not pod:
        return None
    waiting = container_state(pod).get("waiting") or {}
    reason = str(waiting.get("reason") or "")
    message = str(waiting.get("message") or reason)
    if reason in IMAGE_NAME_WAITING:
        return Problem("image_pull", reason, message, immediate=True)
    if reason in IMAGE_PULL_WAITING:
        return Problem("image_pull", reason, message)
    if reason in CONFIG_WAITING:
        return Problem("config_error", reason, message)
    if reason in START_WAITING:
        return Problem("container_start", reason, message)
    sched = condition(pod, "PodScheduled")
    if sched is not None and sched.get("status") == "False":
        return Problem("unschedulable", str(sched.get("reason") or "Unschedulable"),
                       str(sched.get("message") or "the pod cannot be scheduled"))
    return None


def _limit(pod: Mapping[str, Any]) -> str:
    containers = pod.get("spec", {}).get("containers") or [{}]
    return str(((containers[0].get("resources") or {}).get("limits") or {}).get("memory") or "")


def terminal_verdict(job: Mapping[str, Any] | None, pod: Mapping[str, Any] | None,
                     pod_deleted: bool) -> Verdict | None:
    """Why the attempt failed according to Kubernetes (``None``: nothing beyond the exit code).

    Looks at the container's termination, the pod's phase, reason and
    disruption condition, then the Job's failure condition.
    """
    name = (pod or {}).get("metadata", {}).get("name", "")
    node = (pod or {}).get("spec", {}).get("nodeName", "")
    state = container_state(pod)
    term = state.get("terminated") or {}
    exit_code = term.get("exitCode") if term else None
    status = (pod or {}).get("status", {})
    disruption = condition(pod, "DisruptionTarget")
    if term.get("reason") == "OOMKilled":
        limit = _limit(pod or {})
        extra = f" (memory limit {limit})" if limit else ""
        return Verdict("oom", f"container was OOMKilled in pod {name}{extra}, exit code "
                              f"{exit_code}", exit_code)
    if term.get("reason") in START_TERMINATED:
        return Verdict("container_start", f"container could not start in pod {name}: "
                       f"{term.get('message') or term.get('reason')}", exit_code)
    if status.get("reason") == "Evicted":
        return Verdict("evicted", f"pod {name} was evicted: {status.get('message') or 'Evicted'}",
                       exit_code)
    if status.get("reason") == "NodeLost" or (
            disruption is not None and disruption.get("reason") in NODE_LOST_DISRUPTIONS):
        why = (disruption or {}).get("message") or status.get("message") or "node lost"
        where = f" on node {node}" if node else ""
        return Verdict("node_lost", f"pod {name} was lost with its node{where}: {why}",
                       exit_code)
    if disruption is not None and disruption.get("status") == "True":
        return Verdict("evicted", f"pod {name} was disrupted ({disruption.get('reason')}): "
                       f"{disruption.get('message') or ''}".rstrip(": "), exit_code)
    failed = condition(job, "Failed") or condition(job, "FailureTarget")
    if failed is not None and failed.get("reason") == "DeadlineExceeded":
        deadline = (job or {}).get("spec", {}).get("activeDeadlineSeconds")
        return Verdict("deadline", f"Job exceeded activeDeadlineSeconds={deadline}: "
                       f"{failed.get('message') or 'DeadlineExceeded'}", exit_code)
    if pod_deleted and not term:
        return Verdict("pod_deleted", f"pod {name} was deleted before its container finished")
    return None
