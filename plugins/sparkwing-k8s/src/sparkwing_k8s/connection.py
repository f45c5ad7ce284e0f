"""Finding and reaching the cluster: kubeconfig or in-cluster service account, and a ``/version`` probe.

Where the cluster is, in order: the profile's ``in_cluster: true``; its
``kubeconfig:`` file (and ``context:``); ``$KUBECONFIG``; ``~/.kube/config``;
the pod's service account when running inside a cluster
(``KUBERNETES_SERVICE_HOST`` is set). Neither, or a cluster that does not
answer ``/version``, is a one-line :class:`~sparkwing.errors.ConfigError`
(exit 2) when the profile is loaded, before any job starts.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkwing.errors import ConfigError
from sparkwing.waiting import within

#: Where a pod's service account credentials are mounted.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: Overrides :data:`SERVICE_ACCOUNT_DIR` (for tests and unusual mounts).
SERVICE_ACCOUNT_DIR_ENV = "SPARKWING_K8S_SERVICE_ACCOUNT_DIR"
#: Seconds the ``/version`` probe may take.
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """Where the cluster is and which namespace is the default."""

    #: ``kubeconfig`` or ``in-cluster``.
    kind: str
    namespace: str
    config_file: str = ""
    context: str = ""
    service_account_dir: str = ""

    def describe(self) -> str:
        """How errors name the target."""
        if self.kind == "in-cluster":
            return "the in-cluster service account"
        ctx = f" (context {self.context})" if self.context else ""
        return f"kubeconfig {self.config_file}{ctx}"


def _kubeconfig_namespace(files: list[str], context: str) -> tuple[str, str]:
    """The context's namespace and the context actually used (``""`` when not set)."""
    import yaml

    docs: list[Mapping[str, Any]] = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ConfigError(f"executor k8s: cannot read kubeconfig {f}: "
                              f"{exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"executor k8s: kubeconfig {f} is not valid YAML: "
                              f"{' '.join(str(exc).split())}") from None
        if not isinstance(doc, Mapping):
            raise ConfigError(f"executor k8s: kubeconfig {f} is not a kubeconfig document")
        docs.append(doc)
    current = context or next((str(d.get("current-context")) for d in docs
                               if d.get("current-context")), "")
    if not current:
        raise ConfigError(f"executor k8s: kubeconfig {':'.join(files)} has no current-context; "
                          "set executor.context in the profile")
    for d in docs:
        for entry in d.get("contexts") or []:
            if isinstance(entry, Mapping) and entry.get("name") == current:
                ns = (entry.get("context") or {}).get("namespace") or ""
                return str(ns), current
    raise ConfigError(f"executor k8s: kubeconfig {':'.join(files)} has no context {current!r}")


def locate(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ClusterTarget:
    """Decide where the cluster is from the profile block and the environment (no network)."""
    env = os.environ if environ is None else environ
    sa_dir = env.get(SERVICE_ACCOUNT_DIR_ENV) or SERVICE_ACCOUNT_DIR
    if config.get("in_cluster"):
        return _in_cluster(env, sa_dir, required=True)
    context = str(config.get("context") or "")
    if config.get("kubeconfig"):
        path = str(Path(str(config["kubeconfig"])).expanduser())
        if not Path(path).is_file():
            raise ConfigError(f"executor k8s: kubeconfig {path} (executor.kubeconfig) does not "
                              "exist")
        files = [path]
    elif env.get("KUBECONFIG"):
        files = [f for f in env["KUBECONFIG"].split(os.pathsep) if f and Path(f).is_file()]
        if not files:
            raise ConfigError(f"executor k8s: KUBECONFIG={env['KUBECONFIG']} names no existing "
                              "file")
    elif Path("~/.kube/config").expanduser().is_file():
        files = [str(Path("~/.kube/config").expanduser())]
    else:
        files = []
    if files:
        ns, used = _kubeconfig_namespace(files, context)
        return ClusterTarget("kubeconfig", ns or "default", os.pathsep.join(files), used)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster(env, sa_dir, required=False)
    raise ConfigError(
        "executor k8s: no cluster configured: no kubeconfig (executor.kubeconfig, $KUBECONFIG "
        "or ~/.kube/config) and not running in a pod (KUBERNETES_SERVICE_HOST is unset)"
    )


def _in_cluster(env: Mapping[str, str], sa_dir: str, required: bool) -> ClusterTarget:
    if not env.get("KUBERNETES_SERVICE_HOST") or not env.get("KUBERNETES_SERVICE_PORT"):
        raise ConfigError("executor k8s: in_cluster is set but KUBERNETES_SERVICE_HOST/"
                          "KUBERNETES_SERVICE_PORT are unset (not running in a pod)")
    token = Path(sa_dir) / "token"
    if not token.is_file():
        raise ConfigError(f"executor k8s: in-cluster service account token {token} is missing; "
                          "is automountServiceAccountToken off for this pod?")
    ns_file = Path(sa_dir) / "namespace"
    ns = ns_file.read_text(encoding="utf-8").strip() if ns_file.is_file() else ""
    return ClusterTarget("in-cluster", ns or "default", service_account_dir=sa_dir)


async def client_configuration(target: ClusterTarget, environ: Mapping[str, str] | None = None) -> Any:
    """A ``kubernetes.aio`` client Configuration for *target* (raises ConfigError)."""
    from kubernetes.aio.client import Configuration
    from kubernetes.aio.config import ConfigException, load_kube_config
    from kubernetes.aio.config.incluster_config import InClusterConfigLoader

    cfg = Configuration()
    try:
        if target.kind == "in-cluster":
            sa = Path(target.service_account_dir)
            loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
                token_filename=str(sa / "token"), cert_filename=str(sa / "ca.crt"),
                environ=dict(os.environ if environ is None else environ))
            loader.load_and_set(cfg)  # type: ignore[no-untyped-call]
        else:
            await load_kube_config(  # type: ignore[no-untyped-call]
                config_file=target.config_file, context=target.context or None,
                client_configuration=cfg, persist_config=False)
    except ConfigException as exc:
        raise ConfigError(f"executor k8s: {target.describe()}: {' '.join(str(exc).split())}") \
            from None
    return cfg


async def probe(cfg: Any, target: ClusterTarget, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """``GET /version``; return the server's git version or raise a one-line ConfigError."""
    from .api import KubeApi, KubeApiError

    api = KubeApi(cfg)
    try:
        info = await within(api.version(timeout_s), timeout_s + 1)
    except KubeApiError as exc:
        hint = " (check the credentials)" if exc.status in (401, 403) else ""
        raise ConfigError(f"executor k8s: cluster at {cfg.host} ({target.describe()}) answered "
                          f"/version with HTTP {exc.status} {exc.reason}{hint}") from None
    except TimeoutError:
        raise ConfigError(f"executor k8s: cluster at {cfg.host} ({target.describe()}) did not "
                          f"answer within {timeout_s:g}s") from None
    except Exception as exc:  # connection refused, DNS, TLS: one line, no traceback
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"executor k8s: cannot reach the cluster at {cfg.host} "
                          f"({target.describe()}): {detail}") from None
    finally:
        await api.close()
    return str(info.get("gitVersion", ""))


def connect_blocking(target: ClusterTarget, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[Any, str]:
    """Load *target*'s configuration and probe it, from synchronous code (a private loop in a thread).

    Returns the client Configuration and the server version. Raises
    :class:`ConfigError` on any failure.
    """
    result: dict[str, Any] = {}

    async def work() -> None:
        cfg = await client_configuration(target)
        result["version"] = await probe(cfg, target, timeout_s)
        result["cfg"] = cfg

    def main() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=main, name="k8s-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        err = result["error"]
        if isinstance(err, ConfigError):
            raise err
        raise ConfigError(f"executor k8s: {target.describe()}: "
                          f"{' '.join(str(err).split()) or type(err).__name__}")
    return result["cfg"], str(result["version"])
