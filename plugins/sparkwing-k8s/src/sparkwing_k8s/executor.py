"""The ``k8s`` executor: each attempt of a job as one ``batch/v1`` Job running ``sparkwing node exec``.

For an attempt it

1. merges the profile's ``executor:`` block with the job's
   ``.executor("k8s", ...)`` settings (:mod:`.settings`);
2. creates the attempt's Secret when it has secret values, then its Job
   (deterministic name; ``backoffLimit: 0`` because sparkwing owns retries;
   ``activeDeadlineSeconds`` from the attempt's timeout;
   ``ttlSecondsAfterFinished``), and hands the Secret to the Job as owner so
   Kubernetes collects it with the Job; an existing Job of the same name is
   this very attempt, dispatched before, and is followed rather than
   created twice;
3. follows the Job and its pod (:mod:`.monitor`), streaming the pod's log
   into the node's log;
4. reads the result ``node exec`` recorded (the ``attempt_finished`` event)
   from the run's state store; without one, classifies what Kubernetes
   reports (:mod:`.classify`): ``oom``, ``image_pull``, ``deadline``,
   ``evicted``, ``node_lost``, ``unschedulable``, ``config_error``,
   ``container_start``, ``pod_deleted``, else ``executor_lost`` with the
   container's exit code;
5. deletes the attempt's Secret, and the Job itself when it did not finish
   (a pod stuck pending, a cancelled attempt), with foreground propagation
   so its pod is gone before the Job is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

from sparkwing.errors import ConfigError, SparkwingError
from sparkwing.execution.contracts import Attempt, AttemptResult, ExecutorContext

from . import manifests, naming
from .api import DEFAULT_TIMEOUT_S, KubeApi, KubeApiError
from .classify import job_finished, terminal_verdict
from .connection import PROBE_TIMEOUT_S, ClusterTarget, connect_blocking, locate
from .logs import LogSink
from .monitor import AttemptMonitor, Ending, WatchError, WatchHub
from .results import ResultReader, StateOpener
from .settings import JobSettings, check_job_settings, check_profile_block, merge

#: Longest time a log follow request may stay open when the attempt has no deadline.
DEFAULT_LOG_TIMEOUT_S = 7 * 24 * 3600.0

#: How often, and how far apart, a result node exec should have recorded is looked for again.
RESULT_RETRIES = 10
RESULT_RETRY_S = 0.2

def _exit_code(ending: Ending) -> int | None:
    """The container's exit code, when it terminated."""
    status = ((ending.pod or {}).get("status", {}).get("containerStatuses") or [{}])[0]
    code = ((status.get("state") or {}).get("terminated") or {}).get("exitCode")
    return code if isinstance(code, int) else None


def _ensure_commit(url: str, token: str, workdir: Any, sha: str) -> int:
    from sparkwing.queueclient import QueueClient
    from sparkwing.runcode import ensure_commit

    try:
        client = QueueClient(url, token)
    except ValueError as exc:
        raise ConfigError(f"controller url: {exc}") from None
    with client:
        return ensure_commit(client, workdir, sha)


def _failed(reason: str, error: str, exit_code: int | None = None) -> AttemptResult:
    return AttemptResult("failed", exit_code=exit_code, failure_reason=reason, error=error)


def api_message(exc: BaseException) -> str:
    """A one-line description of a Kubernetes API error (the Status message when there is one)."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    message = ""
    if body:
        try:
            message = str(json.loads(body).get("message") or "")
        except (ValueError, AttributeError):
            message = str(body)
    if not message:
        message = str(getattr(exc, "reason", "") or exc)
    text = " ".join(message.split())
    if status in (401, 403):
        text += " (the executor's credentials need create/get/watch/delete on jobs.batch, " \
                "watch on pods, get on pods/log and create/patch/delete on secrets; see " \
                "deploy/k8s/runner-rbac.yaml)"
    return f"HTTP {status}: {text}" if status else text


class K8sExecutor:
    """Runs attempts as Kubernetes Jobs (one executor serves a whole run)."""

    name = "k8s"
    in_process = False

    def __init__(self, target: ClusterTarget, configuration: Any, profile_values: Mapping[str, Any],
                 server_version: str = "", *, results: ResultReader | None = None,
                 controller: Mapping[str, Any] | None = None) -> None:
        self.target = target
        #: The run profile's ``controller:`` block: when set, pods fetch the run's commit
        #: from that controller (``node exec --code-from-controller``) and the executor
        #: first makes sure the controller holds it.
        self.controller = dict(controller) if controller else None
        self._code_ready: set[str] = set()
        self._code_lock = asyncio.Lock()
        self.configuration = configuration
        self.profile_values = dict(profile_values)
        self.server_version = server_version
        self._results = results
        self._state = StateOpener()
        self._api: KubeApi | None = None
        self._api_lock = asyncio.Lock()
        #: Jobs of attempts in flight: name -> namespace.
        self.active: dict[str, str] = {}
        self._hubs: dict[tuple[str, str], WatchHub] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ExecutorContext, *,
                    results: ResultReader | None = None) -> K8sExecutor:
        """Check the profile block, find the cluster and probe it (one-line ConfigError otherwise).

        *results* reads attempt results from a given state store instead of
        the one of each attempt's profile.
        """
        where = f'profile "{context.profile}": executor'
        values = check_profile_block(config, where)
        target = locate(values)
        timeout = float(values.get("request_timeout_s") or PROBE_TIMEOUT_S)
        configuration, version = connect_blocking(target, timeout)
        return cls(target, configuration, values, version, results=results,
                   controller=context.controller)

    # -- plumbing ----------------------------------------------------------------------------
    async def _kube(self) -> KubeApi:
        async with self._api_lock:
            if self._api is None:
                cfg = self.configuration
                # one connection per followed log plus the shared watches: never queue them
                cfg.connection_pool_maxsize = max(int(cfg.connection_pool_maxsize or 0), 1024)
                self._api = KubeApi(cfg, float(self.profile_values.get("request_timeout_s")
                                              or DEFAULT_TIMEOUT_S))
            return self._api

    async def _reader(self, attempt: Attempt) -> ResultReader | str:
        """The reader of recorded results, or why there is none (a one-line reason)."""
        if self._results is not None:
            return self._results
        try:
            return await self._state.get(attempt.workdir, attempt.profile)
        except Exception as exc:
            return " ".join(str(exc).split()) or type(exc).__name__

    def settings_for(self, attempt: Attempt) -> JobSettings:
        """The merged settings of *attempt* (raises a one-line ConfigError)."""
        where = f'job "{attempt.node_id}": .executor("k8s")'
        job_values = check_job_settings(attempt.settings or {}, where)
        return merge(self.profile_values, job_values, self.target.namespace)

    async def _ensure_code(self, attempt: Attempt, sink: LogSink) -> None:
        """Once per run: the controller can rebuild the run's commit (sent from here if not).

        A runner's triggered run finds it there already; a ``sparkwing run``
        on a controller profile sends it from its checkout, like the
        ``queue`` executor (the token then needs ``runs.write``).
        """
        async with self._code_lock:
            if attempt.run_id in self._code_ready:
                return
            ctx = attempt.context
            sha = ctx.run.git.sha if ctx is not None else ""
            if not sha:
                raise SparkwingError("the run records no git commit")
            block = self.controller or {}
            token = str(block.get("token") or "") or os.environ.get(
                str(block.get("token_env") or "SPARKWING_TOKEN"), "")
            sent = await asyncio.to_thread(_ensure_commit, str(block.get("url") or ""), token,
                                           attempt.workdir, sha)
            if sent:
                sink.record(f"code: sent commit {sha[:12]} to the controller ({sent} bytes)")
            self._code_ready.add(attempt.run_id)

    # -- one attempt -------------------------------------------------------------------------
    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        """Create the attempt's Job, follow it, and report how it ended (see the module docs)."""
        nid = attempt.node_id
        log = attempt.context.log if attempt.context is not None else None
        sink = LogSink(log)
        try:
            settings = self.settings_for(attempt)
        except ConfigError as exc:
            sink.record(str(exc), level="error")
            return _failed("config_error", str(exc))
        if self.controller is not None:
            try:
                await self._ensure_code(attempt, sink)
            except SparkwingError as exc:
                text = f"{nid}: the pods fetch the run's code from the controller: {exc}"
                sink.record(text, level="error")
                return _failed("executor_error", text)
        m = manifests.build(attempt, settings, "stdout" if log is not None else "store",
                            self.controller is not None)
        api = await self._kube()
        reader_task = asyncio.ensure_future(self._reader(attempt))
        try:
            await self._create(api, m, sink)
        except asyncio.CancelledError:
            await asyncio.shield(self._delete(api, m))
            reader_task.cancel()
            raise
        except Exception as exc:
            reader_task.cancel()
            await asyncio.shield(self._delete(api, m))
            text = f"{nid}: cannot create Job {m.name} in namespace {m.namespace}: " \
                   f"{api_message(exc)}"
            sink.record(text, level="error")
            return _failed("k8s_api", text)
        self.active[m.name] = m.namespace
        deadline = m.job["spec"].get("activeDeadlineSeconds")
        monitor = AttemptMonitor(
            api=api, hub=self._hub(api, m.namespace, attempt.run_id),
            job_name=m.name, sink=sink,
            image_pull_grace_s=settings.image_pull_grace_s,
            config_error_grace_s=settings.config_error_grace_s,
            pending_timeout_s=settings.pending_timeout_s,
            log_timeout_s=float(deadline) + 120.0 if deadline else DEFAULT_LOG_TIMEOUT_S,
            note=lambda level, text: sink.record(text, level=level,
                                                 attrs={"job": m.name, "namespace": m.namespace}),
        )
        try:
            ending = await monitor.run()
        except asyncio.CancelledError:
            sink.record(f"attempt cancelled: deleting Job {m.name}", level="warn")
            await asyncio.shield(self._delete(api, m))
            reader_task.cancel()
            raise
        except WatchError as exc:
            await asyncio.shield(self._delete(api, m))
            reader_task.cancel()
            text = f"{nid}: cannot follow Job {m.name}: {api_message(exc)}"
            sink.record(text, level="error")
            return _failed("k8s_api", text)
        finally:
            self.active.pop(m.name, None)
        unfinished = ending.problem is not None or not job_finished(ending.job)
        await asyncio.shield(self._delete(api, m, job=unfinished))
        reader = await reader_task
        return await self._outcome(attempt, m, ending, sink, reader)

    def _hub(self, api: KubeApi, namespace: str, run_id: str) -> WatchHub:
        key = (namespace, run_id)
        hub = self._hubs.get(key)
        if hub is None:
            selector = f"{naming.MANAGED_BY}={naming.MANAGER}," \
                       f"{naming.RUN_LABEL}={naming.label_value(run_id)}"
            hub = self._hubs[key] = WatchHub(api, namespace, selector)
        return hub

    async def _create(self, api: KubeApi, m: manifests.AttemptManifests, sink: LogSink) -> None:
        if m.secret is not None:
            try:
                await api.create_secret(m.namespace, m.secret)
            except KubeApiError as exc:
                if exc.status != 409:
                    raise
                await api.patch_secret(m.namespace, m.secret["metadata"]["name"],
                                       {"stringData": m.secret["stringData"]})
        try:
            job = await api.create_job(m.namespace, m.job)
            sink.record(f"created Job {m.name} in namespace {m.namespace} (image "
                        f"{m.job['spec']['template']['spec']['containers'][0]['image']})",
                        attrs={"job": m.name, "namespace": m.namespace})
        except KubeApiError as exc:
            if exc.status != 409:
                raise
            job = await api.read_job(m.namespace, m.name)
            notes = job.get("metadata", {}).get("annotations") or {}
            mine = m.job["metadata"]["annotations"]
            if any(notes.get(k) != mine[k] for k in (naming.RUN_ANNOTATION,
                                                      naming.NODE_ANNOTATION)):
                raise
            sink.record(f"Job {m.name} already exists for this attempt: following it",
                        level="warn", attrs={"job": m.name, "namespace": m.namespace})
        if m.secret is not None:
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": m.name,
                     "uid": job["metadata"]["uid"]}
            await api.patch_secret(m.namespace, m.secret["metadata"]["name"],
                                   {"metadata": {"ownerReferences": [owner]}})

    async def _delete(self, api: KubeApi, m: manifests.AttemptManifests, *,
                      job: bool = True) -> None:
        """Delete the attempt's Secret and (unless *job* is false) its Job, foreground; ignore 404."""
        if job:
            with contextlib.suppress(Exception):
                await api.delete_job(m.namespace, m.name, "Foreground")
        if m.secret is not None:
            with contextlib.suppress(Exception):
                await api.delete_secret(m.namespace, m.secret["metadata"]["name"])

    async def _outcome(self, attempt: Attempt, m: manifests.AttemptManifests, ending: Ending,
                       sink: LogSink, reader: ResultReader | str) -> AttemptResult:
        nid = attempt.node_id
        if ending.problem is not None:
            p = ending.problem
            text = f"{nid}: pod of Job {m.name} cannot run: {p.k8s_reason}: {p.message}"
            sink.record(text, level="error")
            return _failed(p.failure_reason, text)
        verdict = terminal_verdict(ending.job, ending.pod, ending.pod_deleted)
        payload = None
        if isinstance(reader, str):
            sink.record(f"cannot read the attempt's recorded result from the run's state store: "
                        f"{reader}", level="warn")
        else:
            payload = await reader.find(attempt.run_id, nid, attempt.attempt)
            # node exec records its result and exits 0 or 1; give a store that is slow to
            # show another process's write a moment before calling the result lost
            tries = 0
            while payload is None and verdict is None and _exit_code(ending) in (0, 1) \
                    and tries < RESULT_RETRIES:
                tries += 1
                await asyncio.sleep(RESULT_RETRY_S)
                payload = await reader.find(attempt.run_id, nid, attempt.attempt)
        if payload is not None:
            result = AttemptResult.from_payload(payload)
            if result.outcome == "success" or verdict is None:
                return result
            # Kubernetes ended the pod (OOM kill, deadline, eviction, lost node): that is
            # the reason, whatever node exec could still record about its own end.
            text = f"{nid}: {verdict.message}"
            sink.record(text, level="error")
            if result.outcome == "cancelled":
                # node exec was stopped by the cluster's SIGTERM, not by this run: a failure,
                # recorded again by the orchestrator with its reason
                return _failed(verdict.failure_reason, text, verdict.exit_code)
            result.failure_reason = verdict.failure_reason
            result.error = f"{result.error} ({verdict.message})" if result.error else text
            return result
        if verdict is not None:
            text = f"{nid}: {verdict.message}"
            sink.record(text, level="error")
            return _failed(verdict.failure_reason, text, verdict.exit_code)
        if ending.job_deleted:
            text = f"{nid}: Job {m.name} was deleted before it finished"
            sink.record(text, level="error")
            return _failed("pod_deleted", text)
        code = _exit_code(ending)
        tail = f": {sink.tail[-1]}" if sink.tail else ""
        how = f"exited with status {code}" if code is not None else "ended"
        text = f"{nid}: node exec in pod of Job {m.name} {how} without recording a result{tail}"
        sink.record(text, level="error")
        return _failed("executor_lost", text, code)

    async def close(self) -> None:
        """Delete Jobs still in flight (foreground), close the API client and the state store."""
        if self._api is not None:
            for name, ns in list(self.active.items()):
                with contextlib.suppress(Exception):
                    await self._api.delete_job(ns, name, "Foreground")
            for hub in self._hubs.values():
                await hub.close()
            self._hubs.clear()
            await self._api.close()
            self._api = None
        self._state.close()
