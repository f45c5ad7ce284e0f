"""Finding the cluster: kubeconfig, in-cluster service account, and one-line errors when it is not there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sparkwing.errors import ConfigError
from sparkwing.execution.contracts import ExecutorContext
from sparkwing_k8s.connection import SERVICE_ACCOUNT_DIR_ENV, locate
from sparkwing_k8s.executor import K8sExecutor
from sparkwing_k8s.plugin import make_executor
from sparkwing_k8s.testing import FakeKubernetes, kubeconfig_text

from .executor_harness import Harness, run, shell


def _build(config: dict, home: Path) -> K8sExecutor:
    return make_executor(config, ExecutorContext(home=home, profile="cluster"))


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment with no kubeconfig anywhere and not inside a pod."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    return tmp_path


def test_no_cluster_anywhere_is_one_line(no_cluster: Path, sparkwing_home: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _build({}, sparkwing_home)
    text = str(err.value)
    assert text.startswith("executor k8s: no cluster configured") and "\n" not in text
    assert err.value.exit_code == 2


def test_missing_kubeconfig_file(no_cluster: Path, sparkwing_home: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope\.yaml \(executor.kubeconfig\) "
                                          r"does not exist"):
        _build({"kubeconfig": str(no_cluster / "nope.yaml")}, sparkwing_home)


def test_unreachable_cluster_is_one_line(no_cluster: Path, sparkwing_home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    kc = no_cluster / "kc"
    kc.write_text(kubeconfig_text(f"http://127.0.0.1:{port}", "t"))
    with pytest.raises(ConfigError) as err:
        _build({"kubeconfig": str(kc), "request_timeout_s": 5}, sparkwing_home)
    text = str(err.value)
    assert text.startswith(f"executor k8s: cannot reach the cluster at http://127.0.0.1:{port}")
    assert "\n" not in text


def test_refused_credentials_name_the_problem(fake: FakeKubernetes, no_cluster: Path,
                                              sparkwing_home: Path) -> None:
    kc = no_cluster / "kc"
    kc.write_text(kubeconfig_text(fake.url, "stolen"))
    with pytest.raises(ConfigError, match=r"answered /version with HTTP 401.*check the "
                                          r"credentials"):
        _build({"kubeconfig": str(kc)}, sparkwing_home)


def test_unknown_profile_key(no_cluster: Path, sparkwing_home: Path) -> None:
    with pytest.raises(ConfigError, match="profile \"cluster\": executor: unknown key 'imagee' "
                                          "for type=k8s; valid keys: "):
        _build({"type": "k8s", "imagee": "x"}, sparkwing_home)


def test_kubeconfig_from_the_environment_and_its_namespace(fake: FakeKubernetes, no_cluster: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          sparkwing_home: Path) -> None:
    kc = no_cluster / "kc"
    kc.write_text(kubeconfig_text(fake.url, fake.token, namespace="builds"))
    monkeypatch.setenv("KUBECONFIG", str(kc))
    target = locate({})
    assert (target.kind, target.namespace, target.config_file) == ("kubeconfig", "builds", str(kc))
    h = Harness(fake, kc, sparkwing_home)
    executor = _build({}, sparkwing_home)
    run(executor, h.attempt(settings=shell("exit 0")))
    created = [c for c in fake.calls() if c["verb"] == "create" and c["resource"] == "jobs"]
    assert created[0]["namespace"] == "builds"


def test_in_cluster_service_account(image_root: Path, no_cluster: Path, sparkwing_home: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeKubernetes(image_root=image_root, tls=True, token="sa-token") as fake:
        assert fake.cert_pem is not None
        sa = no_cluster / "serviceaccount"
        sa.mkdir()
        (sa / "token").write_text("sa-token")
        (sa / "ca.crt").write_bytes(fake.cert_pem)
        (sa / "namespace").write_text("ci")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(fake.port))
        monkeypatch.setenv(SERVICE_ACCOUNT_DIR_ENV, str(sa))
        executor = _build({}, sparkwing_home)
        assert executor.target.kind == "in-cluster" and executor.target.namespace == "ci"
        h = Harness(fake, no_cluster / "unused", sparkwing_home)
        result = run(executor, h.attempt(settings=shell("exit 5")))
        assert result.exit_code == 5
        created = [c for c in fake.calls() if c["verb"] == "create" and c["resource"] == "jobs"]
        assert created[0]["namespace"] == "ci" and created[0]["user"] == "token"


def test_in_cluster_requested_outside_a_pod(no_cluster: Path, sparkwing_home: Path) -> None:
    with pytest.raises(ConfigError, match="in_cluster is set but KUBERNETES_SERVICE_HOST"):
        _build({"in_cluster": True}, sparkwing_home)


def test_the_plugin_registers_the_executor() -> None:
    from sparkwing.plugins.registry import Registry
    from sparkwing_k8s import plugin

    registry = Registry()
    plugin.sparkwing_register_executors(registry)
    backend = registry.get("executor", "k8s")
    assert backend.factory is make_executor and "image" in backend.optional
    assert plugin.SPARKWING_CONTRACT == 1
