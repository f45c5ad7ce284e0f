"""Fixtures: a fake Kubernetes API server per test, driven with the real ``kubernetes`` client."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config
from sparkwing_k8s.testing import FakeKubernetes

T = TypeVar("T")


def wait_for(fn: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Poll *fn* until it returns something truthy (a safety net, not a timing assertion)."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def job_manifest(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    """A minimal Job running *command* (``backoffLimit: 0``)."""
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": "python:3.11-slim", "command": command}]}
    pod_spec["containers"][0].update(spec.pop("container", {}))
    pod_spec.update(spec.pop("pod", {}))
    meta = {"name": name, **spec.pop("metadata", {})}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"backoffLimit": 0, "template": {"metadata": spec.pop("template_meta", {}),
                                                       "spec": pod_spec}, **spec}}


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """The fake cluster's image root: pods without workingDir run here."""
    root = tmp_path / "image"
    root.mkdir()
    return root


@pytest.fixture
def fake(image_root: Path, sparkwing_home: Path) -> Iterator[FakeKubernetes]:
    """A running fake API server; pods get this process's environment (with the test's home)."""
    server = FakeKubernetes(image_root=image_root, image_env=dict(os.environ)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(fake: FakeKubernetes, tmp_path: Path) -> Path:
    """A kubeconfig pointing at the fake server."""
    return fake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def k8s(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """The official (synchronous) client, configured from the kubeconfig."""
    api = config.new_client_from_config(str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


def job_condition(batch: client.BatchV1Api, name: str, ctype: str) -> Any:
    """The Job's condition of *ctype* when it is true, else ``None``."""
    job = batch.read_namespaced_job(name, "default")
    for cond in job.status.conditions or []:
        if cond.type == ctype and cond.status == "True":
            return cond
    return None


def only_pod(core: client.CoreV1Api, job: str) -> Any:
    """The Job's single pod (``None`` while there is none)."""
    pods = core.list_namespaced_pod("default", label_selector=f"job-name={job}").items
    return pods[0] if pods else None
