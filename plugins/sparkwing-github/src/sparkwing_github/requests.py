"""Turning a GitHub delivery into :class:`~sparkwing.triggers.contracts.RunRequest` values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sparkwing.triggers.contracts import RunRequest, TriggerMeta

#: The events that can start a pipeline.
RUN_EVENTS = ("push", "pull_request", "workflow_dispatch")


def idempotency_key(delivery: str, pipeline: str) -> str:
    """The key of one delivery for one pipeline: a redelivery reuses it and starts nothing."""
    return f"github:{delivery}:{pipeline}"


def _ref_and_sha(event: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    if event == "pull_request":
        head = (payload.get("pull_request") or {}).get("head") or {}
        return str(head.get("ref") or ""), str(head.get("sha") or "")
    if event == "push":
        return str(payload.get("ref") or ""), str(payload.get("after") or "")
    return str(payload.get("ref") or ""), ""


def _actor(event: str, payload: Mapping[str, Any]) -> str:
    sender = str((payload.get("sender") or {}).get("login") or "")
    if event == "push":
        return str((payload.get("pusher") or {}).get("name") or sender)
    return sender


def _extra(event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    repo = payload.get("repository") or {}
    extra: dict[str, Any] = {"repository": str(repo.get("full_name") or "")}
    if event == "push":
        extra["before"] = str(payload.get("before") or "")
    if event == "pull_request":
        pr = payload.get("pull_request") or {}
        head = pr.get("head") or {}
        base = pr.get("base") or {}
        extra.update(
            action=str(payload.get("action") or ""),
            pr_number=int(payload.get("number") or pr.get("number") or 0),
            head_repo=str((head.get("repo") or {}).get("full_name") or ""),
            head_ref=str(head.get("ref") or ""),
            base_ref=str(base.get("ref") or ""),
            base_sha=str(base.get("sha") or ""),
        )
    return extra


def build_request(
    pipeline: str, event: str, delivery: str, payload: Mapping[str, Any], workdir: Path | None,
) -> RunRequest:
    """The run request for *pipeline* from one delivery (key: delivery id and pipeline)."""
    ref, sha = _ref_and_sha(event, payload)
    inputs: dict[str, Any] = {}
    if event == "workflow_dispatch":
        raw = payload.get("inputs") or {}
        inputs = {str(k): v for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    return RunRequest(
        pipeline=pipeline,
        inputs=inputs,
        git_ref=ref,
        git_sha=sha,
        trigger=TriggerMeta(source="github", actor=_actor(event, payload), event=event,
                            delivery_id=delivery, extra=_extra(event, payload)),
        idempotency_key=idempotency_key(delivery, pipeline),
        workdir=workdir,
    )
