"""The Kubernetes manifests in ``deploy/k8s`` parse and agree with the image and the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "sparkwing"
#: The non-root user of deploy/Containerfile.
UID = 10001


def _documents(name: str) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    out = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}
    assert len(out) == len(docs), f"{name}: two objects share a kind and name"
    return out


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _check_hardened(deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    container = _container(deployment)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_every_file_parses_in_the_one_namespace() -> None:
    files = sorted(p.name for p in K8S.glob("*.yaml"))
    assert {"namespace.yaml", "controller.yaml", "controller-postgres.yaml", "runner.yaml",
            "runner-rbac.yaml"} <= set(files)
    for name in files:
        for key, doc in _documents(name).items():
            assert doc["apiVersion"] and doc["metadata"]["labels"]["app.kubernetes.io/part-of"] \
                == "sparkwing", (name, key)
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == NAMESPACE, (name, key)
    assert "Namespace/sparkwing" in _documents("namespace.yaml")


def _check_controller(name: str, profile: str | None) -> dict[str, Any]:
    docs = _documents(name)
    deployment = docs["Deployment/sparkwing-controller"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    _check_hardened(deployment)
    container = _container(deployment)
    args = ["controller", "serve", "--addr", "0.0.0.0:4344"]
    assert container["args"] == args + (["--profile", profile] if profile else [])
    assert container["ports"] == [{"name": "http", "containerPort": 4344}]
    env = _env(container)
    assert env["SPARKWING_HOME"] == "/data"
    assert env["SPARKWING_SECRETS_KEY"] == {
        "secretKeyRef": {"name": "sparkwing-secrets-key", "key": "key"}}
    hosts = env["SPARKWING_ALLOWED_HOSTS"].split(",")
    assert "sparkwing-controller.sparkwing.svc" in hosts
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/api/v1/health" and get["port"] == "http"
        assert {"name": "Host", "value": "localhost"} in get["httpHeaders"]
    claim = docs["PersistentVolumeClaim/sparkwing-controller-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "sparkwing-controller-data"
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    service = docs["Service/sparkwing-controller"]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "sparkwing-controller"}
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    return docs


def test_controller_on_sqlite() -> None:
    docs = _check_controller("controller.yaml", None)
    assert "SPARKWING_PG_URL" not in _env(_container(docs["Deployment/sparkwing-controller"]))


def test_controller_on_postgres_reads_its_profile_from_the_configmap(tmp_path: Path) -> None:
    docs = _check_controller("controller-postgres.yaml", "team")
    container = _container(docs["Deployment/sparkwing-controller"])
    env = _env(container)
    assert env["SPARKWING_PG_URL"] == {"secretKeyRef": {"name": "sparkwing-postgres",
                                                        "key": "url"}}
    assert env["SPARKWING_PROFILES"] == "/etc/sparkwing/profiles.yaml"
    assert {"name": "profiles", "mountPath": "/etc/sparkwing", "readOnly": True} \
        in container["volumeMounts"]
    profiles = yaml.safe_load(docs["ConfigMap/sparkwing-profiles"]["data"]["profiles.yaml"])
    state = profiles["profiles"]["team"]["state"]
    assert state["type"] == "postgres" and state["url_source"] == "env:SPARKWING_PG_URL"
    # The file is valid for sparkwing itself (read by the real loader).
    from sparkwing.config.profiles import load_user_profiles

    path = tmp_path / "profiles.yaml"
    path.write_text(docs["ConfigMap/sparkwing-profiles"]["data"]["profiles.yaml"])
    parsed = load_user_profiles(path)
    assert parsed["team"].state["type"] == "postgres"


def test_runner_uses_the_runner_cli_surface_and_the_token_secret() -> None:
    deployment = _documents("runner.yaml")["Deployment/sparkwing-runner"]
    _check_hardened(deployment)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] in {d["metadata"]["name"] for d in
                                         _documents("runner-rbac.yaml").values()
                                         if d["kind"] == "ServiceAccount"}
    container = _container(deployment)
    args = container["args"]
    assert args[:3] == ["runner", "--controller", "http://sparkwing-controller.sparkwing.svc"]
    rest = args[3:]
    assert len(rest) % 2 == 0 and {rest[i] for i in range(0, len(rest), 2)} <= {
        "--label", "--max-jobs", "--executor", "--executor-settings"}, rest
    assert re.fullmatch(r"[1-9][0-9]*", rest[rest.index("--max-jobs") + 1])
    # the runs' jobs go to the k8s executor, its settings from the ConfigMap mounted read-only
    assert rest[rest.index("--executor") + 1] == "k8s"
    settings = Path(rest[rest.index("--executor-settings") + 1])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(settings.parent)]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = _documents("runner.yaml")[f"ConfigMap/{volume['configMap']['name']}"]
    block = yaml.safe_load(config_map["data"][settings.name])
    from sparkwing_k8s.settings import check_profile_block

    values = check_profile_block(block, "executor.yaml")  # every key and value valid for k8s
    assert values["namespace"] == NAMESPACE
    assert values["service_account"] == "sparkwing-job"  # the job pods' SA of runner-rbac.yaml
    assert values["secret_env"]["SPARKWING_TOKEN"] == ("sparkwing-runner-token", "token")
    env = _env(container)
    assert env["SPARKWING_TOKEN"] == {"secretKeyRef": {"name": "sparkwing-runner-token",
                                                       "key": "token"}}
    assert env["SPARKWING_HOME"] == "/var/lib/sparkwing"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["home"]


def test_every_deployment_runs_the_one_image() -> None:
    images = set()
    for name in ("controller.yaml", "controller-postgres.yaml", "runner.yaml"):
        for doc in _documents(name).values():
            if doc["kind"] == "Deployment":
                images.add(_container(doc)["image"])
    assert images == {"registry.example.com/sparkwing:0.1.0"}
