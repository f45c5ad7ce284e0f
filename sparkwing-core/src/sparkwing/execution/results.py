"""The ``attempt_finished`` event: how an attempt's result is written to, and read from, a run's stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .contracts import AttemptOutcome, AttemptResult


def attempt_payload(attempt: int, result: AttemptResult, executor: str) -> dict[str, Any]:
    """The payload of an ``attempt_finished`` event."""
    payload: dict[str, Any] = {"attempt": attempt, "outcome": result.outcome,
                               "executor": executor}
    if result.exit_code is not None:
        payload["exit_code"] = result.exit_code
    if result.failure_reason:
        payload["failure_reason"] = result.failure_reason
    if result.error:
        payload["error"] = result.error
    if result.output is not None:
        payload["output"] = result.output
    return payload


def payload_result(payload: Mapping[str, Any]) -> AttemptResult:
    """Read an :class:`AttemptResult` back from an ``attempt_finished`` payload."""
    raw = payload.get("outcome")
    outcome: AttemptOutcome = "success" if raw == "success" else (
        "cancelled" if raw == "cancelled" else "failed")
    return AttemptResult(
        outcome, exit_code=payload.get("exit_code"),
        failure_reason=str(payload.get("failure_reason") or ""),
        error=str(payload.get("error") or ""), output=payload.get("output"), recorded=True,
    )
