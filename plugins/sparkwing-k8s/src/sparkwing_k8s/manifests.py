"""The Job (and Secret) of one attempt, as plain Kubernetes manifests.

The pod runs ``sparkwing node exec --run R --node N --attempt A --log-to
stdout`` in the job's image, so its container log is the node's log
records (JSON lines) plus whatever else the body prints. Secret values
(secret inputs, values to mask, environment variables holding them) go in a
Secret of the attempt's own and reach the container through
``secretKeyRef``; the pod spec never carries them as plain ``env`` values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sparkwing.execution.contracts import Attempt

from . import naming
from .settings import JobSettings

#: Environment variables ``node exec`` reads its secrets from.
SECRET_INPUTS_ENV = "SPARKWING_SECRET_INPUTS"
SECRET_VALUES_ENV = "SPARKWING_SECRET_VALUES"


@dataclass(frozen=True, slots=True)
class AttemptManifests:
    """What the executor creates for one attempt."""

    name: str
    namespace: str
    job: dict[str, Any]
    #: The attempt's Secret, or ``None`` when it has no secret values.
    secret: dict[str, Any] | None
    argv: list[str]


def node_exec_argv(attempt: Attempt, command: tuple[str, ...], log_to: str,
                   code_from_controller: bool = False) -> list[str]:
    """The container's command: ``sparkwing node exec`` for this attempt (no secret in it).

    *code_from_controller* adds ``--code-from-controller``: the pod fetches
    the run's commit from the profile's controller instead of running the
    image's copy of the project.
    """
    argv = [*command, "node", "exec", "--run", attempt.run_id, "--node", attempt.node_id,
            "--attempt", str(attempt.attempt), "--log-to", log_to]
    if attempt.profile:
        argv += ["--profile", attempt.profile]
    if code_from_controller:
        argv.append("--code-from-controller")
    if attempt.timeout_s:
        argv += ["--timeout", f"{attempt.timeout_s:g}"]
    if attempt.no_progress_s:
        argv += ["--no-progress-timeout", f"{attempt.no_progress_s:g}"]
    return argv


def _holds_secret(value: str, secrets: list[str]) -> bool:
    return any(s and s in value for s in secrets)


def build(attempt: Attempt, s: JobSettings, log_to: str = "stdout",
          code_from_controller: bool = False) -> AttemptManifests:
    """The Job and Secret manifests of *attempt* under settings *s* (see :func:`node_exec_argv`)."""
    name = naming.job_name(attempt.run_id, attempt.node_id, attempt.attempt)
    secret_name = naming.secret_name(name)
    labels = {**s.labels, **naming.labels(attempt.run_id, attempt.node_id, attempt.attempt,
                                           attempt.pipeline)}
    annotations = {**s.annotations, naming.RUN_ANNOTATION: attempt.run_id,
                   naming.NODE_ANNOTATION: attempt.node_id}
    secrets = [str(v) for v in attempt.secret_values if str(v)]
    inputs = dict(attempt.secret_inputs)
    for value in inputs.values():
        secrets.extend(str(v) for v in (value if isinstance(value, list) else [value]) if str(v))

    env: list[dict[str, Any]] = [
        {"name": "SPARKWING_EXECUTOR", "value": "k8s"},
        {"name": "SPARKWING_RUN_ID", "value": attempt.run_id},
        {"name": "SPARKWING_NODE_ID", "value": attempt.node_id},
        {"name": "SPARKWING_ATTEMPT", "value": str(attempt.attempt)},
    ]
    secret_data: dict[str, str] = {}

    def add(var: str, value: str) -> None:
        if _holds_secret(value, secrets):
            secret_data[var] = value
            env.append({"name": var, "valueFrom": {"secretKeyRef": {
                "name": secret_name, "key": var}}})
        else:
            env.append({"name": var, "value": value})

    for var, value in {**s.env, **attempt.env}.items():
        add(var, str(value))
    for var, (ref_name, key) in s.secret_env.items():
        env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": ref_name, "key": key}}})
    if inputs:
        secret_data[SECRET_INPUTS_ENV] = json.dumps(inputs)
    if attempt.secret_values:
        secret_data[SECRET_VALUES_ENV] = json.dumps([str(v) for v in attempt.secret_values])
    for var in (SECRET_INPUTS_ENV, SECRET_VALUES_ENV):
        if var in secret_data:
            env.append({"name": var, "valueFrom": {"secretKeyRef": {
                "name": secret_name, "key": var}}})

    argv = node_exec_argv(attempt, s.command, log_to, code_from_controller)
    container: dict[str, Any] = {
        "name": naming.CONTAINER,
        "image": s.image,
        "imagePullPolicy": s.image_pull_policy,
        "command": argv,
        "env": env,
        "resources": {k: dict(v) for k, v in s.resources.items() if v},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if s.working_dir:
        container["workingDir"] = s.working_dir
    pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if s.run_as_non_root:
        pod_security["runAsNonRoot"] = True
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "terminationGracePeriodSeconds": s.termination_grace_s,
        "automountServiceAccountToken": False,
        "securityContext": pod_security,
    }
    if s.service_account:
        pod_spec["serviceAccountName"] = s.service_account
    if s.node_selector:
        pod_spec["nodeSelector"] = dict(s.node_selector)
    if s.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in s.tolerations]
    if s.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in s.image_pull_secrets]
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": s.ttl_s,
        "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                     "spec": pod_spec},
    }
    deadline = s.deadline_for(attempt.timeout_s)
    if deadline is not None:
        job_spec["activeDeadlineSeconds"] = deadline
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": s.namespace, "labels": labels,
                     "annotations": annotations},
        "spec": job_spec,
    }
    secret: dict[str, Any] | None = None
    if secret_data:
        secret = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_name, "namespace": s.namespace, "labels": dict(labels),
                         "annotations": {naming.RUN_ANNOTATION: attempt.run_id,
                                         naming.NODE_ANNOTATION: attempt.node_id}},
            "stringData": secret_data,
        }
    return AttemptManifests(name, s.namespace, job, secret, argv)
