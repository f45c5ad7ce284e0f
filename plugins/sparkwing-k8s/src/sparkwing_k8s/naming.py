"""Names and labels of an attempt's Kubernetes objects.

The Job name is deterministic, ``sw-<hash>-<node>-<attempt>``: ``hash`` is
the first 10 hex digits of sha256 of ``run/node/attempt`` (so two runs, or
two nodes that sanitise alike, never collide) and ``node`` the node id
lower-cased with anything outside ``[a-z0-9-]`` turned into ``-``, cut so
the whole name fits in 63 characters (the Job's name becomes its pods'
``job-name`` label value). Creating a Job that already exists therefore
means this very attempt was already dispatched.
"""

from __future__ import annotations

import hashlib
import re

#: Longest Job name Kubernetes accepts (it becomes a label value).
MAX_NAME = 63
#: Labels put on every Job and pod the executor creates.
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "sparkwing"
NAME_LABEL = "app.kubernetes.io/name"
RUN_LABEL = "sparkwing.dev/run-id"
NODE_LABEL = "sparkwing.dev/node-id"
ATTEMPT_LABEL = "sparkwing.dev/attempt"
PIPELINE_LABEL = "sparkwing.dev/pipeline"
#: Annotations carrying the exact ids (labels are sanitised and cut).
RUN_ANNOTATION = "sparkwing.dev/run-id"
NODE_ANNOTATION = "sparkwing.dev/node-id"
#: The container running ``sparkwing node exec``.
CONTAINER = "node"
#: The pods' job-name label, set by Kubernetes.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def attempt_hash(run_id: str, node_id: str, attempt: int) -> str:
    """First 10 hex digits of sha256(``run/node/attempt``)."""
    return hashlib.sha256(f"{run_id}/{node_id}/{attempt}".encode()).hexdigest()[:10]


def dns_part(text: str) -> str:
    """*text* as lowercase DNS-1123 label characters (``-`` for the rest, no leading/trailing ``-``)."""
    return _NOT_DNS.sub("-", text.lower()).strip("-")


def job_name(run_id: str, node_id: str, attempt: int) -> str:
    """The deterministic, DNS-1123 safe, at most 63-character Job name of an attempt."""
    head = f"sw-{attempt_hash(run_id, node_id, attempt)}"
    tail = f"-{attempt}"
    room = MAX_NAME - len(head) - len(tail) - 1
    node = dns_part(node_id)[:room].strip("-")
    return f"{head}-{node}{tail}" if node else f"{head}{tail}"


def secret_name(job: str) -> str:
    """The name of the Secret holding an attempt's secret values (``<job>-env``, cut to 63)."""
    return f"{job[:MAX_NAME - 4].rstrip('-')}-env"


def label_value(text: str) -> str:
    """*text* as a valid label value: ``[A-Za-z0-9_.-]``, at most 63, alphanumeric at both ends."""
    value = _NOT_LABEL.sub("-", text)[:MAX_NAME]
    return value.strip("-_.")


def labels(run_id: str, node_id: str, attempt: int, pipeline: str) -> dict[str, str]:
    """The labels every object of an attempt carries."""
    return {
        NAME_LABEL: "sparkwing-job",
        MANAGED_BY: MANAGER,
        RUN_LABEL: label_value(run_id),
        NODE_LABEL: label_value(node_id),
        ATTEMPT_LABEL: str(attempt),
        PIPELINE_LABEL: label_value(pipeline),
    }
