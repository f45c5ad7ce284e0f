"""The few Kubernetes API calls the executor makes, over the official client's ``ApiClient``.

The official client (``kubernetes.aio``) provides the configuration
(kubeconfig, in-cluster service account, token refresh), authentication,
TLS and the HTTP session; the calls themselves are sent as plain JSON. The
generated API classes and models are not used: importing ``CoreV1Api`` and
``BatchV1Api`` and building their pydantic models costs seconds on a busy
machine, which every run would pay before its first job, while the executor
only needs a handful of fields it reads from the JSON itself.

Calls (each is one RBAC verb, see ``deploy/k8s/runner-rbac.yaml``):

======================================  ===================================
``create_job`` / ``read_job`` /         jobs.batch create / get / delete
``delete_job``
``watch_jobs``, ``watch_pods``          jobs.batch watch, pods watch
``follow_log``                          pods/log get
``create_secret`` / ``patch_secret`` /  secrets create / patch / delete
``delete_secret``
``version``                             ``GET /version`` (non-resource URL)
======================================  ===================================
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

#: Seconds a plain (non-streaming) call may take.
DEFAULT_TIMEOUT_S = 30.0


class KubeApiError(Exception):
    """The API server answered with an error status (``status``, the Status ``message``)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        message = ""
        try:
            message = str(json.loads(body).get("message") or "")
        except (ValueError, AttributeError):
            message = body.strip()
        self.message = " ".join((message or reason).split())
        super().__init__(f"HTTP {status}: {self.message}")


def _q(value: str) -> str:
    return quote(value, safe="")


class KubeApi:
    """JSON calls on a ``kubernetes.aio`` ``ApiClient`` (one per executor, one event loop)."""

    def __init__(self, configuration: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        from kubernetes.aio.client.api_client import ApiClient

        self.client = ApiClient(configuration)
        self.timeout_s = timeout_s

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()  # type: ignore[no-untyped-call]

    # -- transport ---------------------------------------------------------------------------
    async def send(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                   body: Any = None, content_type: str = "application/json",
                   timeout: float | None = None, accept: str = "application/json") -> Any:
        """Send one request; return the aiohttp response (the caller reads and releases it)."""
        params = [(k, _text(v)) for k, v in (query or {}).items() if v is not None]
        method, url, headers, body, post = await self.client.param_serialize(
            method, path, query_params=params,
            header_params={"Accept": accept, "Content-Type": content_type},
            body=body, auth_settings=["BearerToken"])
        rest = await self.client.call_api(method, url, headers, body, post,
                                          _request_timeout=float(timeout or self.timeout_s))
        return rest.response

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        """Send one request and return its decoded JSON body; raise :class:`KubeApiError` on >= 400."""
        resp = await self.send(method, path, **kw)
        try:
            raw = await resp.read()
            if resp.status >= 400:
                raise KubeApiError(resp.status, str(resp.reason or ""),
                                   raw.decode("utf-8", "replace"))
            return json.loads(raw) if raw else None
        finally:
            resp.release()

    async def stream(self, path: str, query: dict[str, Any], timeout: float) -> Any:
        """Open a streaming GET (a watch or a log follow); the caller reads and releases it."""
        return await self.send("GET", path, query=query, timeout=timeout,
                               accept="application/json, */*")

    # -- calls -------------------------------------------------------------------------------
    async def version(self, timeout: float | None = None) -> dict[str, Any]:
        """``GET /version/``."""
        return dict(await self.call("GET", "/version/", timeout=timeout))

    async def create_job(self, namespace: str, job: dict[str, Any]) -> dict[str, Any]:
        """Create a Job; return it as the server stored it."""
        return dict(await self.call("POST", f"/apis/batch/v1/namespaces/{_q(namespace)}/jobs",
                                    body=job))

    async def read_job(self, namespace: str, name: str) -> dict[str, Any]:
        """Read a Job."""
        return dict(await self.call(
            "GET", f"/apis/batch/v1/namespaces/{_q(namespace)}/jobs/{_q(name)}"))

    async def delete_job(self, namespace: str, name: str, propagation: str = "Foreground") -> None:
        """Delete a Job; its pods go with it (``propagationPolicy``)."""
        await self.call("DELETE", f"/apis/batch/v1/namespaces/{_q(namespace)}/jobs/{_q(name)}",
                        query={"propagationPolicy": propagation})

    async def create_secret(self, namespace: str, secret: dict[str, Any]) -> dict[str, Any]:
        """Create a Secret."""
        return dict(await self.call("POST", f"/api/v1/namespaces/{_q(namespace)}/secrets",
                                    body=secret))

    async def patch_secret(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """Merge-patch a Secret."""
        await self.call("PATCH", f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}",
                        body=patch, content_type="application/merge-patch+json")

    async def delete_secret(self, namespace: str, name: str) -> None:
        """Delete a Secret."""
        await self.call("DELETE", f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}")

    async def watch_jobs(self, namespace: str, **query: Any) -> Any:
        """Open a watch on the namespace's Jobs (``labelSelector``, ``resourceVersion``, ...)."""
        return await self.stream(f"/apis/batch/v1/namespaces/{_q(namespace)}/jobs",
                                 {"watch": True, **query}, _watch_timeout(query))

    async def watch_pods(self, namespace: str, **query: Any) -> Any:
        """Open a watch on the namespace's pods."""
        return await self.stream(f"/api/v1/namespaces/{_q(namespace)}/pods",
                                 {"watch": True, **query}, _watch_timeout(query))

    async def follow_log(self, namespace: str, pod: str, timeout: float) -> Any:
        """Open ``pods/{pod}/log?follow=true``."""
        return await self.stream(f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(pod)}/log",
                                 {"follow": True}, timeout)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _watch_timeout(query: dict[str, Any]) -> float:
    return float(query.get("timeoutSeconds") or 300) + 30.0
