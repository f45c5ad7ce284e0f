"""What a job's Kubernetes Job looks like: the profile's ``executor:`` block and the job's settings.

The profile block (``executor: {type: k8s, ...}``) holds the cluster
connection and defaults for every job; a job's ``.executor("k8s", ...)``
settings override the defaults for that job (``resources`` and ``env``
merge key by key, ``labels``/``annotations`` too). Every invalid value is a
one-line :class:`~sparkwing.errors.ConfigError` naming the key and what
would be valid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sparkwing.errors import ConfigError

from .keys import CONNECTION_KEYS, JOB_KEYS, PROFILE_KEYS
from .quantities import is_quantity, parse_quantity

#: The image a job runs in when neither the job nor the profile names one.
DEFAULT_IMAGE = "ghcr.io/sparkwing/sparkwing:0.1"
#: Requests and limits a job gets unless told otherwise.
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "2", "memory": "2Gi"},
}
#: Seconds a finished Job is kept before Kubernetes deletes it.
DEFAULT_TTL_S = 300
#: Seconds added to the attempt's timeout for ``activeDeadlineSeconds`` (a backstop).
DEFAULT_DEADLINE_MARGIN_S = 60.0
#: How long a failing image pull may retry before the attempt fails (``image_pull``).
DEFAULT_IMAGE_PULL_GRACE_S = 30.0
#: How long a container may wait on a missing Secret or ConfigMap (``config_error``).
DEFAULT_CONFIG_ERROR_GRACE_S = 60.0
#: How long a pod may stay unschedulable or pending (``unschedulable``).
DEFAULT_PENDING_TIMEOUT_S = 900.0
#: Seconds between SIGTERM and SIGKILL when a pod is deleted.
DEFAULT_TERMINATION_GRACE_S = 30
#: The sparkwing command in the image.
DEFAULT_COMMAND = ("sparkwing",)

_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SECRET_REF = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)/([-._a-zA-Z0-9]+)$")


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Everything that shapes one attempt's Job (after merging profile and job settings)."""

    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    namespace: str = ""
    service_account: str = ""
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: {
        k: dict(v) for k, v in DEFAULT_RESOURCES.items()})
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ttl_s: int = DEFAULT_TTL_S
    active_deadline_s: int | None = None
    deadline_margin_s: float = DEFAULT_DEADLINE_MARGIN_S
    image_pull_grace_s: float = DEFAULT_IMAGE_PULL_GRACE_S
    config_error_grace_s: float = DEFAULT_CONFIG_ERROR_GRACE_S
    pending_timeout_s: float = DEFAULT_PENDING_TIMEOUT_S
    termination_grace_s: int = DEFAULT_TERMINATION_GRACE_S
    command: tuple[str, ...] = DEFAULT_COMMAND
    working_dir: str = ""
    run_as_non_root: bool = True

    def deadline_for(self, timeout_s: float | None) -> int | None:
        """``activeDeadlineSeconds``: the explicit one, else the attempt timeout plus the margin."""
        if self.active_deadline_s is not None:
            return self.active_deadline_s
        if not timeout_s:
            return None
        return max(1, math.ceil(timeout_s + self.deadline_margin_s))


def _str(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def _number(where: str, key: str, value: Any, *, minimum: float = 0.0,
            positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum or (
            positive and value <= 0):
        what = "a number > 0" if positive else f"a number >= {minimum:g}"
        raise ConfigError(f"{where}: {key} must be {what}, got {value!r}")
    return float(value)


def _int(where: str, key: str, value: Any, *, positive: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (
            positive and value == 0):
        what = "an integer > 0" if positive else "an integer >= 0"
        raise ConfigError(f"{where}: {key} must be {what}, got {value!r}")
    return value


def _str_map(where: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key} must be a mapping of strings, got {value!r}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ConfigError(f"{where}: {key}.{k} must be a string, got {v!r}")
        out[k] = str(v)
    return out


def parse_toleration(where: str, raw: Any) -> dict[str, Any]:
    """A toleration from its Kubernetes form or ``key[=value]:Effect``."""
    if isinstance(raw, Mapping):
        allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
        unknown = set(raw) - allowed
        if unknown:
            raise ConfigError(f"{where}: tolerations: unknown key {sorted(unknown)[0]!r}; "
                              f"valid keys: {', '.join(sorted(allowed))}")
        if raw.get("effect") not in (None, "", *_EFFECTS):
            raise ConfigError(f"{where}: tolerations: effect must be one of "
                              f"{', '.join(_EFFECTS)}, got {raw.get('effect')!r}")
        if raw.get("operator") not in (None, "Equal", "Exists"):
            raise ConfigError(f"{where}: tolerations: operator must be Equal or Exists, "
                              f"got {raw.get('operator')!r}")
        return {k: v for k, v in raw.items() if v not in (None, "")}
    if not isinstance(raw, str) or ":" not in raw:
        raise ConfigError(f"{where}: tolerations: expected key[=value]:Effect or a mapping, "
                          f"got {raw!r}")
    left, _, effect = raw.rpartition(":")
    if effect not in _EFFECTS:
        raise ConfigError(f"{where}: tolerations: effect of {raw!r} must be one of "
                          f"{', '.join(_EFFECTS)}")
    key, eq, value = left.partition("=")
    if not key:
        raise ConfigError(f"{where}: tolerations: {raw!r} has no key")
    if eq:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def _resources(where: str, value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: resources must be a mapping with requests and/or limits, "
                          f"got {value!r}")
    out: dict[str, dict[str, str]] = {}
    for part, amounts in value.items():
        if part not in ("requests", "limits"):
            raise ConfigError(f"{where}: resources: unknown key {part!r}; valid keys: "
                              "limits, requests")
        if not isinstance(amounts, Mapping):
            raise ConfigError(f"{where}: resources.{part} must be a mapping like "
                              f"{{cpu: 500m, memory: 1Gi}}, got {amounts!r}")
        out[part] = {}
        for name, qty in amounts.items():
            if not is_quantity(qty):
                raise ConfigError(f"{where}: resources.{part}.{name}: {qty!r} is not a "
                                  "Kubernetes quantity (like 500m, 2, 512Mi, 1Gi)")
            out[part][str(name)] = str(qty)
    return out


def _check_one(where: str, key: str, value: Any) -> Any:
    """Validate one key's value and return it in the form :class:`JobSettings` holds."""
    if key == "image":
        return _str(where, key, value)
    if key == "image_pull_policy":
        if value not in _PULL_POLICIES:
            raise ConfigError(f"{where}: image_pull_policy must be one of "
                              f"{', '.join(_PULL_POLICIES)}, got {value!r}")
        return value
    if key == "image_pull_secrets":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: image_pull_secrets must be a list of Secret names")
        return tuple(value)
    if key in ("namespace", "service_account"):
        text = _str(where, key, value)
        if not _DNS_LABEL.match(text) and key == "namespace":
            raise ConfigError(f"{where}: namespace {text!r} is not a valid Kubernetes name "
                              "(lowercase letters, digits and '-')")
        return text
    if key == "resources":
        return _resources(where, value)
    if key == "node_selector":
        return _str_map(where, key, value)
    if key == "tolerations":
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: tolerations must be a list")
        return tuple(parse_toleration(where, t) for t in value)
    if key == "env":
        env = _str_map(where, key, value)
        for name in env:
            if not _ENV_NAME.match(name):
                raise ConfigError(f"{where}: env: {name!r} is not a valid variable name")
        return env
    if key == "secret_env":
        refs = _str_map(where, key, value)
        out: dict[str, tuple[str, str]] = {}
        for name, ref in refs.items():
            m = _SECRET_REF.match(ref)
            if not _ENV_NAME.match(name) or not m:
                raise ConfigError(f"{where}: secret_env.{name} must name a Secret key as "
                                  f"SECRET/KEY, got {ref!r}")
            out[name] = (m.group(1), m.group(3))
        return out
    if key in ("labels", "annotations"):
        return _str_map(where, key, value)
    if key in ("ttl_s", "termination_grace_s"):
        return _int(where, key, value)
    if key == "active_deadline_s":
        return _int(where, key, value, positive=True)
    if key in ("deadline_margin_s", "image_pull_grace_s", "config_error_grace_s",
               "pending_timeout_s"):
        return _number(where, key, value)
    if key == "request_timeout_s":
        return _number(where, key, value, positive=True)
    if key == "command":
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list | tuple) or not value or not all(
                isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}: command must be a list of strings (the argv that "
                              "starts sparkwing in the image), got {value!r}")
        return tuple(value)
    if key == "working_dir":
        return _str(where, key, value)
    if key in ("run_as_non_root", "in_cluster"):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if key in ("kubeconfig", "context"):
        return _str(where, key, value)
    raise ConfigError(f"{where}: unknown key {key!r}")


def check_profile_block(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate the profile's ``executor:`` block (without ``type``); return checked values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "type":
            continue
        if key not in PROFILE_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} for type=k8s; valid keys: "
                              f"{', '.join(sorted(PROFILE_KEYS))}")
        out[key] = _check_one(where, key, value)
    return out


def check_job_settings(settings: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate a job's ``.executor("k8s", ...)`` settings; return checked values."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key in CONNECTION_KEYS:
            raise ConfigError(f"{where}: {key} belongs in the profile's executor block, "
                              "not on a job")
        if key not in JOB_KEYS:
            raise ConfigError(f"{where}: unknown setting {key!r} for the k8s executor; valid: "
                              f"{', '.join(sorted(JOB_KEYS))}")
        out[key] = _check_one(where, key, value)
    return out


_MERGED = ("env", "labels", "annotations", "node_selector", "secret_env")


def merge(profile: Mapping[str, Any], job: Mapping[str, Any],
          default_namespace: str) -> JobSettings:
    """Defaults, then the profile's checked values, then the job's (maps merge key by key)."""
    values: dict[str, Any] = {}
    resources = {k: dict(v) for k, v in DEFAULT_RESOURCES.items()}
    explicit_limits: set[str] = set()
    for layer in (profile, job):
        for key, value in layer.items():
            if key in CONNECTION_KEYS:
                continue
            if key == "resources":
                for part, amounts in value.items():
                    resources.setdefault(part, {}).update(amounts)
                    if part == "limits":
                        explicit_limits.update(amounts)
            elif key in _MERGED:
                values[key] = {**values.get(key, {}), **value}
            else:
                values[key] = value
    limits = resources.setdefault("limits", {})
    for name, request in resources.get("requests", {}).items():
        limit = limits.get(name)
        if limit is None or parse_quantity(request) <= parse_quantity(limit):
            continue
        if name in explicit_limits:
            raise ConfigError(f"resources: the {name} request {request} is above its limit "
                              f"{limit}; raise the limit or lower the request")
        limits[name] = request  # a default limit grows to the request asked for
    values["resources"] = resources
    values.setdefault("namespace", default_namespace or "default")
    return JobSettings(**values)
