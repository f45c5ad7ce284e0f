"""Failures the fake cluster simulates look as they do on a real cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client
from sparkwing_k8s.testing import ANNOTATION, ANNOTATION_AFTER, FakeKubernetes

from .conftest import job_condition, job_manifest, only_pod, wait_for


def _simulated(name: str, failure: str, command: list[str] | None = None,
               after: str = "0.2") -> dict:
    return job_manifest(name, command or ["sleep", "30"], template_meta={"annotations": {
        ANNOTATION: failure, ANNOTATION_AFTER: after}})


def _waiting_reason(core: client.CoreV1Api, job: str) -> str:
    pod = only_pod(core, job)
    if pod is None or not pod.status.container_statuses:
        return ""
    waiting = pod.status.container_statuses[0].state.waiting
    return waiting.reason if waiting else ""


def test_oom_from_the_annotation(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", _simulated("oom", "oom"))
    cond = wait_for(lambda: job_condition(batch, "oom", "Failed"), "Failed")
    assert cond.reason == "BackoffLimitExceeded"
    term = only_pod(core, "oom").status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "OOMKilled")


def test_oom_from_a_real_memory_limit(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    hog = "import time; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); " \
          "time.sleep(60)"
    batch.create_namespaced_job("default", job_manifest(
        "hog", [sys.executable, "-c", hog],
        container={"resources": {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}}))
    wait_for(lambda: job_condition(batch, "hog", "Failed"), "Failed")
    pod = only_pod(core, "hog")
    term = pod.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "OOMKilled")
    assert pod.status.qos_class == "Burstable"


def test_image_pull_failure_backs_off_and_never_runs(k8s: client.ApiClient,
                                                     image_root: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", _simulated(
        "pull", "image-pull", ["sh", "-c", "touch ran"]))
    wait_for(lambda: _waiting_reason(core, "pull") == "ErrImagePull", "ErrImagePull")
    wait_for(lambda: _waiting_reason(core, "pull") == "ImagePullBackOff", "ImagePullBackOff")
    pod = only_pod(core, "pull")
    assert pod.status.phase == "Pending"
    assert "Back-off pulling image" in pod.status.container_statuses[0].state.waiting.message
    assert not (image_root / "ran").exists()
    assert job_condition(batch, "pull", "Failed") is None


def test_invalid_image_name(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest(
        "badimg", ["true"], container={"image": "Not A/Valid::Image"}))
    wait_for(lambda: _waiting_reason(core, "badimg") == "InvalidImageName", "InvalidImageName")


def test_missing_image_rule_from_the_admin_api(fake: FakeKubernetes, k8s: client.ApiClient) -> None:
    fake.admin("POST", "/fake/v1/images/missing", {"image": "registry.example/gone:1"})
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest(
        "gone", ["true"], container={"image": "registry.example/gone:1"}))
    batch.create_namespaced_job("default", job_manifest("fine", ["true"]))
    wait_for(lambda: _waiting_reason(core, "gone") == "ErrImagePull", "ErrImagePull")
    wait_for(lambda: job_condition(batch, "fine", "Complete"), "other image runs")


def test_eviction(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", _simulated("evict", "evicted"))
    wait_for(lambda: job_condition(batch, "evict", "Failed"), "Failed")
    pod = only_pod(core, "evict")
    assert pod.status.phase == "Failed" and pod.status.reason == "Evicted"
    assert "low on resource" in pod.status.message
    disruption = [c for c in pod.status.conditions if c.type == "DisruptionTarget"]
    assert disruption[0].reason == "TerminationByKubelet"


def test_node_lost(k8s: client.ApiClient, tmp_path: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    marker = tmp_path / "lost-pod-ran-on"
    batch.create_namespaced_job("default", _simulated(
        "lost", "node-lost", ["sh", "-c", f"touch {marker}; sleep 30"]))
    seen = wait_for(lambda: (p := only_pod(core, "lost")) and p.status.phase == "Failed" and p,
                    "pod failed")
    reasons = {c.type: c.reason for c in seen.status.conditions}
    assert reasons["DisruptionTarget"] == "DeletionByPodGC"
    assert reasons["Ready"] == "NodeStatusUnknown"
    wait_for(lambda: job_condition(batch, "lost", "Failed"), "Failed")
    wait_for(lambda: only_pod(core, "lost") is None, "pod removed by the pod GC")
    assert marker.exists()


def test_slow_scheduling_then_runs(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", _simulated("slow", "slow-scheduling", ["true"],
                                                      after="0.5"))
    pod = wait_for(lambda: only_pod(core, "slow"), "pod")
    sched = [c for c in (pod.status.conditions or []) if c.type == "PodScheduled"]
    if not sched:
        pod = wait_for(lambda: (p := only_pod(core, "slow")) and p.status.conditions and p,
                       "conditions")
        sched = [c for c in pod.status.conditions if c.type == "PodScheduled"]
    assert (sched[0].status, sched[0].reason) == ("False", "Unschedulable")
    assert pod.spec.node_name is None
    wait_for(lambda: job_condition(batch, "slow", "Complete"), "Complete")


def test_rules_apply_to_matching_pods_a_given_number_of_times(fake: FakeKubernetes,
                                                              k8s: client.ApiClient) -> None:
    rule = fake.simulate("oom", selector="team=red", count=1, after_s=0.1)
    assert rule["remaining"] == 1
    batch = client.BatchV1Api(k8s)
    red = {"labels": {"team": "red"}}
    batch.create_namespaced_job("default", job_manifest("red1", ["sleep", "30"],
                                                        template_meta=red))
    wait_for(lambda: job_condition(batch, "red1", "Failed"), "red1 Failed")
    batch.create_namespaced_job("default", job_manifest("red2", ["true"], template_meta=red))
    batch.create_namespaced_job("default", job_manifest("blue", ["true"]))
    wait_for(lambda: job_condition(batch, "red2", "Complete"), "red2 Complete")
    wait_for(lambda: job_condition(batch, "blue", "Complete"), "blue Complete")
    assert fake.admin("GET", "/fake/v1/simulations")["rules"][0]["remaining"] == 0
    with pytest.raises(Exception) as err:
        fake.simulate("gremlins")
    assert "400" in str(err.value)


def test_kubectl_drives_the_fake(fake: FakeKubernetes, kubeconfig: Path, tmp_path: Path) -> None:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))

    def kubectl(*args: str) -> str:
        proc = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    manifest = tmp_path / "job.yaml"
    manifest.write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: viakubectl, labels: {via: kubectl}}\n"
        "spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: main, image: busybox:1.36, "
        "command: [sh, -c, 'echo hello from kubectl']}]\n")
    assert "v1.37" in kubectl("version")
    assert "job.batch/viakubectl created" in kubectl("create", "-f", str(manifest),
                                                    "--validate=false")
    kubectl("wait", "--for=condition=complete", "job/viakubectl", "--timeout=60s")
    assert kubectl("logs", "job/viakubectl") == "hello from kubectl\n"
    assert kubectl("get", "jobs", "-l", "via=kubectl", "-o", "name") == "job.batch/viakubectl\n"
    assert kubectl("get", "pods", "-l", "job-name=viakubectl", "-o",
                   "jsonpath={.items[0].status.phase}") == "Succeeded"
    kubectl("delete", "job", "viakubectl", "--cascade=foreground")
    assert kubectl("get", "jobs", "-o", "name") == ""


def test_kubectl_over_tls_sends_the_token(image_root: Path, tmp_path: Path,
                                          sparkwing_home: Path) -> None:
    with FakeKubernetes(image_root=image_root, tls=True, token="tls-token") as fake:
        kc = fake.write_kubeconfig(tmp_path / "kc")
        env = dict(os.environ, KUBECONFIG=str(kc), HOME=str(tmp_path))
        proc = subprocess.run(["kubectl", "get", "jobs", "-o", "name"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        calls = fake.calls()
        assert fake.url.startswith("https://")
        assert any(c["verb"] == "list" and c["user"] == "token" for c in calls)
