"""Objects as a real API server writes them: defaults, validation, Status errors, discovery.

The official client (37.x) validates every response strictly (pydantic,
unknown fields forbidden, required fields enforced), so every object here
is complete and has only fields of the 1.37 API.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ..quantities import parse_quantity

#: What ``/version`` reports.
VERSION: dict[str, str] = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0-sparkwing-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

#: The single node pods are scheduled on.
NODE_NAME = "fake-node-1"
NODE_IP = "10.0.0.10"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)

GROUPS = {"jobs": "batch", "pods": "", "secrets": "", "events": ""}
KINDS = {"jobs": "Job", "pods": "Pod", "secrets": "Secret"}


# -- errors ---------------------------------------------------------------------------
class ApiError(Exception):
    """An error the server answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> dict[str, Any]:
        """The ``Status`` body."""
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource: str) -> str:
    """``jobs.batch`` / ``pods`` as messages name a resource."""
    group = GROUPS.get(resource, "")
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str) -> ApiError:
    """404 for a missing object."""
    return ApiError(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                    {"name": name, "group": GROUPS.get(resource, ""), "kind": resource})


def already_exists(resource: str, name: str) -> ApiError:
    """409 for a create of an existing name."""
    return ApiError(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists',
                    {"name": name, "group": GROUPS.get(resource, ""), "kind": resource})


def invalid(resource: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 listing ``(field, message)`` causes."""
    kind = KINDS.get(resource, resource)
    group = GROUPS.get(resource, "")
    what = f"{kind}.{group}" if group else kind
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    return ApiError(422, "Invalid", f'{what} "{name}" is invalid: {text}', {
        "name": name, "group": group, "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    })


def bad_request(message: str) -> ApiError:
    """400."""
    return ApiError(400, "BadRequest", message)


def success_status(resource: str, name: str, uid: str) -> dict[str, Any]:
    """What a DELETE answers when the object is gone at once."""
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": GROUPS.get(resource, ""), "kind": resource, "uid": uid},
    }


# -- validation -----------------------------------------------------------------------
def check_name(resource: str, name: Any, causes: list[tuple[str, str]], max_len: int = 253) -> None:
    """Append a cause when *name* is not a valid DNS-1123 subdomain of at most *max_len*."""
    if not isinstance(name, str) or not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > max_len or not _DNS_SUBDOMAIN.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": must be no more than '
                       f"{max_len} characters and a lowercase RFC 1123 subdomain"))


def check_labels(where: str, labels: Any, causes: list[tuple[str, str]]) -> None:
    """Label values are at most 63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at both ends."""
    if labels is None:
        return
    if not isinstance(labels, Mapping):
        causes.append((where, "Invalid value: must be a map of strings"))
        return
    for key, value in labels.items():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append((f"{where}", f'Invalid value: "{value}": a valid label must be '
                           "an empty string or 63 characters or less, alphanumeric at both ends"))
        name = str(key).rpartition("/")[2]
        if not name or len(name) > 63 or not _LABEL_VALUE.match(name):
            causes.append((where, f'Invalid value: "{key}": invalid label key'))


def check_pod_spec(spec: Any, where: str, causes: list[tuple[str, str]]) -> None:
    """The parts of a pod spec the fake cares about."""
    if not isinstance(spec, Mapping):
        causes.append((where, "Required value"))
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{where}.containers", "Required value"))
        return
    for i, c in enumerate(containers):
        cw = f"{where}.containers[{i}]"
        if not isinstance(c, Mapping):
            causes.append((cw, "Invalid value: must be an object"))
            continue
        name = c.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name) or len(name) > 63:
            causes.append((f"{cw}.name", f'Invalid value: "{name}": a lowercase RFC 1123 label'))
        if not c.get("image"):
            causes.append((f"{cw}.image", "Required value"))
        for j, env in enumerate(c.get("env") or []):
            if not isinstance(env, Mapping) or not _ENV_NAME.match(str(env.get("name", ""))):
                causes.append((f"{cw}.env[{j}].name", "Invalid value: a valid environment variable name"))
            elif "value" in env and "valueFrom" in env:
                causes.append((f"{cw}.env[{j}].valueFrom", "Invalid value: may not be specified "
                               "when `value` is not empty"))
        resources = c.get("resources") or {}
        for part in ("requests", "limits"):
            for rname, qty in (resources.get(part) or {}).items():
                try:
                    parse_quantity(qty)
                except ValueError:
                    causes.append((f"{cw}.resources.{part}[{rname}]",
                                   f'Invalid value: "{qty}": must be a quantity'))
        for rname, qty in (resources.get("requests") or {}).items():
            limit = (resources.get("limits") or {}).get(rname)
            try:
                if limit is not None and parse_quantity(qty) > parse_quantity(limit):
                    causes.append((f"{cw}.resources.requests",
                                   f'Invalid value: "{qty}": must be less than or equal to '
                                   f"{rname} limit of {limit}"))
            except ValueError:
                pass
    if spec.get("restartPolicy") not in ("Always", "OnFailure", "Never"):
        causes.append((f"{where}.restartPolicy", 'Unsupported value: supported values: '
                       '"Always", "OnFailure", "Never"'))


def check_job(job: Mapping[str, Any]) -> None:
    """Raise 422 for a Job the real API server would reject."""
    meta = job.get("metadata") or {}
    name = meta.get("name", "")
    causes: list[tuple[str, str]] = []
    # The name becomes the value of the pods' job-name label: at most 63 characters.
    check_name("jobs", name, causes, max_len=63)
    check_labels("metadata.labels", meta.get("labels"), causes)
    spec = job.get("spec")
    if not isinstance(spec, Mapping):
        causes.append(("spec", "Required value"))
        raise invalid("jobs", str(name), causes)
    template = spec.get("template") or {}
    check_labels("spec.template.metadata.labels", (template.get("metadata") or {}).get("labels"),
                 causes)
    pod_spec = template.get("spec")
    check_pod_spec(pod_spec, "spec.template.spec", causes)
    if isinstance(pod_spec, Mapping) and pod_spec.get("restartPolicy") == "Always":
        causes.append(("spec.template.spec.restartPolicy",
                       'Unsupported value: "Always": supported values: "OnFailure", "Never"'))
    for key in ("activeDeadlineSeconds",):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or value <= 0):
            causes.append((f"spec.{key}", f"Invalid value: {value}: must be greater than 0"))
    for key in ("ttlSecondsAfterFinished", "backoffLimit"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            causes.append((f"spec.{key}", f"Invalid value: {value}: must be greater than or "
                           "equal to 0"))
    if causes:
        raise invalid("jobs", str(name), causes)


def check_secret(secret: Mapping[str, Any]) -> None:
    """Raise 422 for a Secret the real API server would reject."""
    meta = secret.get("metadata") or {}
    causes: list[tuple[str, str]] = []
    check_name("secrets", meta.get("name"), causes)
    for field_name in ("data", "stringData"):
        for key in (secret.get(field_name) or {}):
            if not re.match(r"^[-._a-zA-Z0-9]+$", str(key)):
                causes.append((f"{field_name}[{key}]", "Invalid value: a valid config key"))
    if causes:
        raise invalid("secrets", str(meta.get("name", "")), causes)


# -- defaulting -----------------------------------------------------------------------
def pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, else ``IfNotPresent`` (the API default)."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_container(c: dict[str, Any]) -> None:
    """Fill a container's defaults."""
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", pull_policy(str(c.get("image", ""))))


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Fill a pod spec's defaults."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        default_container(c)


def default_job(job: dict[str, Any]) -> None:
    """Fill a Job's defaults as the API server does on create."""
    job["apiVersion"] = "batch/v1"
    job["kind"] = "Job"
    meta = job.setdefault("metadata", {})
    uid = meta["uid"]
    name = meta["name"]
    spec = job["spec"]
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    labels = tmeta.setdefault("labels", {})
    labels.update({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    })
    if not meta.get("labels"):
        meta["labels"] = dict(labels)
    default_pod_spec(template.setdefault("spec", {}))
    job["status"] = {}


def qos_class(spec: Mapping[str, Any]) -> str:
    """``Guaranteed``, ``Burstable`` or ``BestEffort`` from the containers' resources."""
    any_set = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for rname in ("cpu", "memory"):
            if rname not in lim or req.get(rname, lim.get(rname)) != lim.get(rname):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def image_id(image: str) -> str:
    """A stable, realistic ``imageID`` for *image*."""
    digest = hashlib.sha256(image.encode()).hexdigest()
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    return f"{repo}@sha256:{digest}"


def valid_image(image: str) -> bool:
    """True when *image* is a syntactically valid reference (else ``InvalidImageName``)."""
    return bool(_IMAGE.match(image))


# -- discovery (for kubectl) ----------------------------------------------------------
def _res(name: str, kind: str, verbs: list[str], namespaced: bool = True,
         short: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "singularName": kind.lower(), "namespaced": namespaced,
                           "kind": kind, "verbs": verbs}
    if short:
        out["shortNames"] = short
    return out


ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def api_versions() -> dict[str, Any]:
    """``GET /api``."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "127.0.0.1"}]}


def api_groups() -> dict[str, Any]:
    """``GET /apis``."""
    gv = {"groupVersion": "batch/v1", "version": "v1"}
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "batch", "versions": [gv], "preferredVersion": gv}]}


def core_resources() -> dict[str, Any]:
    """``GET /api/v1``."""
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        _res("namespaces", "Namespace", ["get", "list"], namespaced=False, short=["ns"]),
        _res("pods", "Pod", ALL_VERBS, short=["po"]),
        _res("pods/log", "Pod", ["get"]),
        _res("secrets", "Secret", ALL_VERBS),
    ]}


def batch_resources() -> dict[str, Any]:
    """``GET /apis/batch/v1``."""
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "batch/v1",
            "resources": [_res("jobs", "Job", ALL_VERBS), _res("jobs/status", "Job", ["get"])]}


def namespace(name: str, created: str) -> dict[str, Any]:
    """A Namespace object (every namespace exists in the fake)."""
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": hashlib.md5(name.encode()).hexdigest(),
                         "resourceVersion": "1", "creationTimestamp": created,
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
