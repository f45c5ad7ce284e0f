"""Job names, settings, failure classification and quantities, as pure functions."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sparkwing.errors import ConfigError
from sparkwing.execution.contracts import Attempt
from sparkwing_k8s import manifests, naming
from sparkwing_k8s.classify import pending_problem, terminal_verdict
from sparkwing_k8s.logs import LogSink, is_record
from sparkwing_k8s.quantities import parse_quantity
from sparkwing_k8s.settings import check_job_settings, check_profile_block, merge

DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("node", ["build", "Build Image!", "a" * 200, "fan/out[3]", "---",
                                  "lint.py::test_x", "ÜNICODE"])
def test_job_names_are_dns_safe_deterministic_and_short(node: str) -> None:
    name = naming.job_name("run-20260101-000000-beef", node, 12)
    assert DNS.match(name) and len(name) <= 63
    assert name == naming.job_name("run-20260101-000000-beef", node, 12)
    assert name.startswith("sw-") and name.endswith("-12")
    assert naming.job_name("run-20260101-000000-beef", node, 13) != name
    assert naming.job_name("run-20260101-000000-cafe", node, 12) != name


def test_nodes_that_sanitise_alike_get_different_names() -> None:
    assert naming.job_name("r", "a.b", 1) != naming.job_name("r", "a-b", 1)
    assert naming.job_name("r", "x" * 80 + "1", 1) != naming.job_name("r", "x" * 80 + "2", 1)
    assert naming.job_name("r", "build", 1).startswith("sw-") and "-build-1" in \
        naming.job_name("r", "build", 1)


def test_label_values_are_valid() -> None:
    labels = naming.labels("run-1", "-weird node/id_" + "z" * 90, 1, "ci")
    value = labels[naming.NODE_LABEL]
    assert len(value) <= 63 and re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", value)
    assert len(naming.secret_name("x" * 63)) <= 63


def test_settings_merge_profile_then_job() -> None:
    profile = check_profile_block({"type": "k8s", "image": "base:1", "env": {"A": "1", "B": "2"},
                                   "resources": {"limits": {"memory": "1Gi"}}}, "p")
    job = check_job_settings({"image": "job:2", "env": {"B": "3"},
                              "resources": {"requests": {"cpu": "1"}}}, "j")
    s = merge(profile, job, "ns1")
    assert s.image == "job:2" and dict(s.env) == {"A": "1", "B": "3"} and s.namespace == "ns1"
    assert s.resources["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert s.resources["requests"] == {"cpu": "1", "memory": "128Mi"}
    assert merge({}, {}, "").image == "ghcr.io/sparkwing/sparkwing:0.1"
    assert merge({}, {}, "").namespace == "default"


@pytest.mark.parametrize(("settings", "message"), [
    ({"image_pull_policy": "Sometimes"}, "image_pull_policy must be one of Always, "
                                         "IfNotPresent, Never"),
    ({"resources": {"requests": {"memory": "lots"}}}, "resources.requests.memory: 'lots' is "
                                                      "not a Kubernetes quantity"),
    ({"resources": {"request": {}}}, "resources: unknown key 'request'"),
    ({"tolerations": ["gpu:Sometimes"]}, "effect of 'gpu:Sometimes' must be one of"),
    ({"secret_env": {"TOKEN": "just-a-name"}}, "secret_env.TOKEN must name a Secret key as "
                                               "SECRET/KEY"),
    ({"kubeconfig": "/x"}, "kubeconfig belongs in the profile's executor block"),
    ({"ttl_s": -1}, "ttl_s must be an integer >= 0"),
    ({"namespace": "Not_Valid"}, "namespace 'Not_Valid' is not a valid Kubernetes name"),
    ({"command": []}, "command must be a list of strings"),
])
def test_bad_job_settings_are_one_line_errors(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_job_settings(settings, 'job "x": .executor("k8s")')
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith('job "x": .executor("k8s")')


def test_a_request_above_an_explicit_limit_is_refused() -> None:
    job = check_job_settings({"resources": {"requests": {"memory": "4Gi"},
                                            "limits": {"memory": "1Gi"}}}, "j")
    with pytest.raises(ConfigError, match="memory request 4Gi is above its limit 1Gi"):
        merge({}, job, "")


def test_deadline_from_the_timeout() -> None:
    s = merge({}, {}, "")
    assert s.deadline_for(None) is None and s.deadline_for(10) == 70
    assert merge({}, {"deadline_margin_s": 0}, "").deadline_for(0.2) == 1
    assert merge({}, {"active_deadline_s": 5}, "").deadline_for(1000) == 5


def _attempt(**kw: object) -> Attempt:
    from pathlib import Path

    return Attempt(run_id="run-1", node_id="deploy", attempt=2, pipeline="ci",
                   workdir=Path("/w"), **kw)  # type: ignore[arg-type]


def test_manifests_keep_secret_values_out_of_the_pod_spec() -> None:
    attempt = _attempt(secret_values=["s3cret"], env={"URL": "https://u:s3cret@h", "X": "1"})
    m = manifests.build(attempt, merge({}, check_job_settings(
        {"env": {"ALSO": "pre-s3cret-post"}, "secret_env": {"DB": "db-creds/password"}}, "j"),
        ""))
    assert "s3cret" not in str(m.job)
    assert m.secret is not None and m.secret["stringData"]["URL"] == "https://u:s3cret@h"
    assert m.secret["stringData"]["ALSO"] == "pre-s3cret-post"
    env = {e["name"]: e for e in m.job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["X"] == {"name": "X", "value": "1"}
    assert env["DB"]["valueFrom"]["secretKeyRef"] == {"name": "db-creds", "key": "password"}
    assert env["SPARKWING_SECRET_VALUES"]["valueFrom"]["secretKeyRef"]["key"] == \
        "SPARKWING_SECRET_VALUES"
    assert manifests.build(_attempt(), merge({}, {}, "")).secret is None


def test_pending_problems() -> None:
    def pod(waiting: str = "", sched: str = "") -> dict:
        status: dict = {"phase": "Pending", "conditions": []}
        if waiting:
            status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting,
                                                                  "message": "m"}}}]
        if sched:
            status["conditions"].append({"type": "PodScheduled", "status": "False",
                                         "reason": sched, "message": "0/3 nodes"})
        return {"status": status}

    assert pending_problem(pod("ImagePullBackOff")).failure_reason == "image_pull"  # type: ignore[union-attr]
    assert pending_problem(pod("InvalidImageName")).immediate  # type: ignore[union-attr]
    assert pending_problem(pod("CreateContainerConfigError")).failure_reason == "config_error"  # type: ignore[union-attr]
    assert pending_problem(pod(sched="Unschedulable")).failure_reason == "unschedulable"  # type: ignore[union-attr]
    assert pending_problem(pod("ContainerCreating")) is None


def test_terminal_verdicts() -> None:
    def pod(term: dict | None = None, **status: object) -> dict:
        st: dict = dict(status)
        if term is not None:
            st["containerStatuses"] = [{"state": {"terminated": term}}]
        return {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": st}

    oom = terminal_verdict(None, pod({"exitCode": 137, "reason": "OOMKilled"}), False)
    assert oom is not None and (oom.failure_reason, oom.exit_code) == ("oom", 137)
    assert terminal_verdict(None, pod({"exitCode": 1, "reason": "Error"}), False) is None
    evicted = terminal_verdict(None, pod(reason="Evicted", message="disk"), False)
    assert evicted is not None and evicted.failure_reason == "evicted"
    lost = terminal_verdict(None, pod(reason="NodeLost"), False)
    assert lost is not None and lost.failure_reason == "node_lost" and "n1" in lost.message
    preempted = terminal_verdict(None, pod(conditions=[{
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]), False)
    assert preempted is not None and preempted.failure_reason == "evicted"
    job = {"spec": {"activeDeadlineSeconds": 9}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "late"}]}}
    deadline = terminal_verdict(job, None, True)
    assert deadline is not None and deadline.failure_reason == "deadline"
    gone = terminal_verdict(None, pod(), True)
    assert gone is not None and gone.failure_reason == "pod_deleted"


def test_log_lines_split_into_records_and_output() -> None:
    assert is_record('{"ts":"2026-01-01T00:00:00Z","msg":"x"}')
    assert not is_record('{"ts":"broken')
    assert not is_record("plain")
    sink = LogSink(None)
    sink.lines(["a", '{"ts":"t","msg":"m"}', "", "b\r"])
    assert sink.count == 4 and list(sink.tail) == ["a", "b"]


def test_quantities() -> None:
    assert parse_quantity("128Mi") == 128 * 2**20
    assert parse_quantity("500m") == Decimal("0.5")
    assert parse_quantity("1.5G") == Decimal("1.5e9")
    assert parse_quantity(2) == 2
    for bad in ("1.2.3", "Mi", "12 Mi", "1XB", True):
        with pytest.raises(ValueError):
            parse_quantity(bad)  # type: ignore[arg-type]
