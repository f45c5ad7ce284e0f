"""Following one attempt's Job: watches on the Job and its pod, the pod's log, pending guards.

Two watches run while the attempt lives: the Job (field selector on its
name) and its pods (label selector ``batch.kubernetes.io/job-name``). Each
resumes from the last resource version it saw when the server closes it,
and starts over (synthetic ``ADDED`` events of the current state) on ``410
Gone``. The pod's log is followed from the moment its container runs; lines
go to the node's log as they arrive.

The attempt is over when the Job reports ``Complete`` or ``Failed``, when
the Job disappears, or when a pending guard fires: an image that cannot be
pulled (after ``image_pull_grace_s``; an invalid image name at once), a
container that cannot be configured (after ``config_error_grace_s``), a pod
that stays unschedulable or pending (after ``pending_timeout_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .classify import Problem, job_finished, pending_problem, started
from .logs import LogSink
from .naming import JOB_NAME_LABEL

#: Server-side lifetime of one watch request (it is renewed from the last resource version).
WATCH_S = 120
#: How often pending guards are checked while nothing changes.
TICK_S = 0.5
#: Longest wait for the log stream to drain after the Job finished.
LOG_DRAIN_S = 15.0
#: Read size for streamed responses.
CHUNK = 1 << 16

ListFn = Callable[..., Awaitable[Any]]


class WatchError(Exception):
    """The API server refused a watch (anything but a resumable break)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


@dataclass
class Ending:
    """How the monitoring ended (the executor turns this into a result)."""

    job: dict[str, Any] | None
    pod: dict[str, Any] | None
    pod_deleted: bool
    job_deleted: bool
    problem: Problem | None = None


@dataclass
class _State:
    job: dict[str, Any] | None = None
    pod: dict[str, Any] | None = None
    pod_deleted: bool = False
    job_seen: bool = False
    job_deleted: bool = False
    created: float = field(default_factory=time.monotonic)
    problem_since: dict[str, float] = field(default_factory=dict)
    waiting_noted: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def _batches(resp: Any) -> Any:
    """Yield the complete lines (bytes, no newline) of each read of a streamed response."""
    pending = b""
    while True:
        data = await resp.content.read(CHUNK)
        if not data:
            break
        data = pending + data
        parts = data.split(b"\n")
        pending = parts.pop()
        if parts:
            yield parts
    if pending:
        yield [pending]


class _Expired(Exception):
    """The watch's resource version is too old (410): start over."""


def _event(raw: bytes, on_event: Callable[[str, dict[str, Any]], None]) -> str | None:
    """Handle one watch line; return the object's resource version."""
    event = json.loads(raw)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise _Expired
        raise WatchError(int(obj.get("code") or 500), str(obj.get("message")))
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    if kind != "BOOKMARK":
        on_event(str(kind), obj)
    return str(rv) if rv else None


async def watch(list_fn: ListFn, namespace: str, on_event: Callable[[str, dict[str, Any]], None],
                **selectors: str) -> None:
    """Watch a collection for ever, resuming after breaks; call ``on_event(type, object)``.

    Raises :class:`WatchError` when the server refuses the watch (401, 403,
    400, ...); transport errors and server errors are retried.
    """
    rv: str | None = None
    while True:
        kwargs: dict[str, Any] = {"watch": True, "timeout_seconds": WATCH_S,
                                  "allow_watch_bookmarks": True,
                                  "_request_timeout": float(WATCH_S + 30), **selectors}
        if rv:
            kwargs["resource_version"] = rv
        try:
            resp = await list_fn(namespace, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception:
            await asyncio.sleep(1.0)  # transport error: try again from where we were
            continue
        try:
            if resp.status != 200:
                text = (await resp.read()).decode("utf-8", "replace")
                if resp.status == 410:
                    rv = None
                elif resp.status in (429, 500, 502, 503, 504):
                    await asyncio.sleep(1.0)
                else:
                    raise WatchError(resp.status, " ".join(text.split())[:300])
                continue
            async for batch in _batches(resp):
                for raw in batch:
                    if raw.strip():
                        rv = _event(raw, on_event) or rv
        except _Expired:
            rv = None
        except (WatchError, asyncio.CancelledError):
            raise
        except Exception:  # the stream broke (transport, bad chunk): resume from rv
            await asyncio.sleep(0.2)
        finally:
            resp.release()


class AttemptMonitor:
    """Follows one attempt's Job and pod until the attempt is over."""

    def __init__(self, *, core: Any, batch: Any, namespace: str, job_name: str, sink: LogSink,
                 image_pull_grace_s: float, config_error_grace_s: float,
                 pending_timeout_s: float, log_timeout_s: float,
                 note: Callable[[str, str], None] | None = None) -> None:
        self.core = core
        self.batch = batch
        self.namespace = namespace
        self.job_name = job_name
        self.sink = sink
        self.graces = {"image_pull": image_pull_grace_s, "config_error": config_error_grace_s,
                       "container_start": config_error_grace_s,
                       "unschedulable": pending_timeout_s}
        self.pending_timeout_s = pending_timeout_s
        self.log_timeout_s = log_timeout_s
        self.note = note or (lambda level, text: None)
        self.state = _State()
        self._log_task: asyncio.Task[None] | None = None
        self._log_pod = ""

    # -- events ----------------------------------------------------------------------------
    def _on_job(self, kind: str, obj: dict[str, Any]) -> None:
        st = self.state
        if kind == "DELETED":
            st.job_deleted = True
        else:
            st.job = obj
            st.job_seen = True
        st.changed.set()

    def _on_pod(self, kind: str, obj: dict[str, Any]) -> None:
        st = self.state
        if kind == "DELETED":
            current = (st.pod or {}).get("metadata", {}).get("name")
            if current in (None, obj.get("metadata", {}).get("name")):
                st.pod = obj
                st.pod_deleted = True
        else:
            st.pod = obj
            st.pod_deleted = False
        st.changed.set()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> Ending:
        """Watch until the attempt is over; always stops the watches and the log follower."""
        st = self.state
        watches = [
            asyncio.ensure_future(watch(
                self.batch.list_namespaced_job_without_preload_content, self.namespace,
                self._on_job, field_selector=f"metadata.name={self.job_name}")),
            asyncio.ensure_future(watch(
                self.core.list_namespaced_pod_without_preload_content, self.namespace,
                self._on_pod, label_selector=f"{JOB_NAME_LABEL}={self.job_name}")),
        ]
        try:
            while True:
                for task in watches:
                    if task.done():
                        task.result()  # a refused watch ends the attempt with its error
                ending = self._decide()
                if ending is not None:
                    await self._drain_logs(ending)
                    return ending
                st.changed.clear()
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(st.changed.wait(), TICK_S)
        finally:
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, return_exceptions=True)
            if self._log_task is not None and not self._log_task.done():
                self._log_task.cancel()
                await asyncio.gather(self._log_task, return_exceptions=True)

    def _decide(self) -> Ending | None:
        st = self.state
        pod = st.pod
        if pod is not None and started(pod) and self._log_task is None:
            self._log_pod = pod["metadata"]["name"]
            self._log_task = asyncio.ensure_future(self._follow(self._log_pod))
            node = pod.get("spec", {}).get("nodeName", "")
            self.note("info", f"pod {self._log_pod} running" + (f" on node {node}" if node else ""))
        if st.job_deleted:
            return Ending(st.job, pod, st.pod_deleted, True)
        if st.job_seen and job_finished(st.job):
            return Ending(st.job, pod, st.pod_deleted, False)
        now = time.monotonic()
        problem = pending_problem(pod) if not started(pod) and not st.pod_deleted else None
        if problem is None:
            st.problem_since.clear()
            if pod is None and now - st.created >= self.pending_timeout_s:
                return Ending(st.job, None, False, False, Problem(
                    "unschedulable", "NoPod", f"no pod was created within "
                    f"{self.pending_timeout_s:g}s"))
            return None
        since = st.problem_since.setdefault(problem.failure_reason, now)
        if problem.k8s_reason not in st.waiting_noted:
            st.waiting_noted.add(problem.k8s_reason)
            self.note("warn", f"pod waiting: {problem.k8s_reason}: {problem.message}")
        grace = self.graces.get(problem.failure_reason, self.pending_timeout_s)
        if problem.immediate or now - since >= grace:
            return Ending(st.job, pod, False, False, problem)
        return None

    # -- logs -----------------------------------------------------------------------------
    async def _follow(self, pod_name: str) -> None:
        """Stream the pod's log into the sink; after a break, resume past the lines already seen."""
        seen = 0
        while True:
            try:
                resp = await self.core.read_namespaced_pod_log_without_preload_content(
                    pod_name, self.namespace, follow=True,
                    _request_timeout=float(self.log_timeout_s))
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._pod_done():
                    return
                await asyncio.sleep(0.5)
                continue
            try:
                if resp.status != 200:
                    if resp.status in (400, 404):
                        return  # gone, or never ran: nothing more to read
                    await asyncio.sleep(0.5)
                    continue
                index = 0
                async for batch in _batches(resp):
                    fresh = batch[max(0, seen - index):]
                    index += len(batch)
                    if fresh:
                        seen = index
                        self.sink.lines([b.decode("utf-8", "replace") for b in fresh])
                if self._pod_done():
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # the stream broke: follow again, past the lines seen
                await asyncio.sleep(0.2)
            finally:
                resp.release()

    def _pod_done(self) -> bool:
        st = self.state
        state = ((st.pod or {}).get("status", {}).get("containerStatuses") or [{}])[0]
        return st.pod_deleted or "terminated" in (state.get("state") or {}) or bool(
            job_finished(st.job)) or st.job_deleted

    async def _drain_logs(self, ending: Ending) -> None:
        task = self._log_task
        if task is None or task.done():
            return
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), LOG_DRAIN_S)
