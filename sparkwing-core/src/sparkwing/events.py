"""Event kinds, named once: the engine writes them, the CLI, the server and the web UI read them.

Three families of names, told apart by the constant's prefix:

* the run's **event stream** in the state store (``StateStore.append_event``
  and the ``event`` of ``update_node``): transitions of runs, nodes, gates.
  Constants without a prefix (``NODE_STARTED``);
* **log records** (``event`` key of a record in the log store): the markers
  inside a node's or the run's log that the log views fold and colour.
  Constants prefixed ``LOG_`` (``LOG_EXEC_LINE``). A log marker may carry
  the same text as a state event (``node_paused`` is both);
* **stream frames**: the ``event:`` names the dashboard's Server-Sent Events
  streams send besides the run's own event kinds. Constants prefixed
  ``STREAM_``.

The web UI gets these values from the dashboard (embedded in its page and at
``GET /api/v1/events/kinds``, see :func:`kinds_by_stream`) rather than a
copy, so a renamed kind cannot drift between Python and JavaScript. A test
fails when a string equal to one of these values is written out in the
Python sources instead of the constant.
"""

from __future__ import annotations

from typing import Final

# -- the run's event stream (state store) -----------------------------------
RUN_STARTED: Final = "run_started"
RUN_FINISHED: Final = "run_finished"
CANCEL_REQUESTED: Final = "cancel_requested"
NODE_STARTED: Final = "node_started"
NODE_SUCCEEDED: Final = "node_succeeded"
NODE_FAILED: Final = "node_failed"
NODE_CANCELLED: Final = "node_cancelled"
NODE_SKIPPED: Final = "node_skipped"
NODE_SKIPPED_CONCURRENT: Final = "node_skipped_concurrent"
NODE_SUPERSEDED: Final = "node_superseded"
NODE_REUSED: Final = "node_reused"
NODE_CACHED: Final = "node_cached"
NODE_SATISFIED: Final = "node_satisfied"
NODE_PAUSED: Final = "node_paused"
NODE_RESUMED: Final = "node_resumed"
NODE_FAILURE_EXCERPT: Final = "node_failure_excerpt"
ATTEMPT_RETRY: Final = "attempt_retry"
ATTEMPT_FINISHED: Final = "attempt_finished"
#: The controller's reaper failed a queued node attempt (``agent_lost`` or ``queue_timeout``).
ATTEMPT_REAPED: Final = "attempt_reaped"
#: A memoized job replayed from the cache.
CACHE_HIT: Final = "cache_hit"
#: A memoized job replayed from the result of a concurrent run computing the same key.
COALESCED: Final = "coalesced"
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_RESOLVED: Final = "approval_resolved"
STEP_STARTED: Final = "step_started"
STEP_FINISHED: Final = "step_finished"
CONCURRENCY_WAIT: Final = "concurrency_wait"
CONCURRENCY_PROMOTED: Final = "concurrency_promoted"
CONCURRENCY_CANCELLED: Final = "concurrency_cancelled"
FAN_OUT_EXPANDED: Final = "fan_out_expanded"
EXPANSION_FAILED: Final = "expansion_failed"

# -- log record markers (log store) ------------------------------------------
LOG_RUN_START: Final = "run_start"
LOG_RUN_PLAN: Final = "run_plan"
LOG_RUN_SUMMARY: Final = "run_summary"
LOG_RUN_FINISH: Final = "run_finish"
LOG_NODE_START: Final = "node_start"
LOG_NODE_END: Final = "node_end"
LOG_NODE_SKIPPED: Final = "node_skipped"
LOG_NODE_PAUSED: Final = "node_paused"
LOG_NODE_RESUMED: Final = "node_resumed"
LOG_NODE_ANNOTATION: Final = "node_annotation"
LOG_NODE_SUMMARY: Final = "node_summary"
LOG_STEP_START: Final = "step_start"
LOG_STEP_END: Final = "step_end"
LOG_STEP_SKIPPED: Final = "step_skipped"
#: The command line a job runs (``$ make test``).
LOG_EXEC_START: Final = "exec_start"
#: One line of a command's output.
LOG_EXEC_LINE: Final = "exec_line"
LOG_RETRY: Final = "retry"
#: A memoized job waits for another run computing the same key.
LOG_COALESCING: Final = "coalescing"
#: A step failed and fail-fast cancels the job's other steps.
LOG_WORK_FAIL_FAST: Final = "work_fail_fast"

# -- frames of the dashboard's live streams (Server-Sent Events) -------------
#: Last frame of a finished stream (events or log).
STREAM_END: Final = "stream_end"
#: A page of the runs list (the runs-list stream).
STREAM_RUNS_PAGE: Final = "runs_page"

#: The event a node's settlement appends, by the node's outcome.
_SETTLED: Final = {
    "success": NODE_SUCCEEDED,
    "failed": NODE_FAILED,
    "cancelled": NODE_CANCELLED,
    "skipped": NODE_SKIPPED,
    "skipped-concurrent": NODE_SKIPPED_CONCURRENT,
    "superseded": NODE_SUPERSEDED,
    "cached": NODE_CACHED,
    "satisfied": NODE_SATISFIED,
}

#: The prefix of each family's constants, by family name.
_PREFIXES: Final = (("log", "LOG_"), ("stream", "STREAM_"))


def all_kinds() -> dict[str, str]:
    """Every constant of this module by name."""
    return {k: v for k, v in globals().items()
            if k.isupper() and not k.startswith("_") and isinstance(v, str)}


def node_settled(outcome: str) -> str:
    """The state event a node ending with *outcome* appends (``"failed"`` -> ``node_failed``).

    Raises :class:`KeyError` for a value that is not a node outcome.
    """
    return _SETTLED[outcome]


def kinds_by_stream() -> dict[str, dict[str, str]]:
    """The constants grouped by family: ``{"state": {...}, "log": {...}, "stream": {...}}``.

    This is what the dashboard serves to the web UI.
    """
    out: dict[str, dict[str, str]] = {"state": {}, "log": {}, "stream": {}}
    for name, value in all_kinds().items():
        family = next((fam for fam, prefix in _PREFIXES if name.startswith(prefix)), "state")
        out[family][name] = value
    return out


_FAMILIES = kinds_by_stream()
#: The values of the run's event stream.
STATE_KINDS: Final = frozenset(_FAMILIES["state"].values())
#: The values of log record markers.
LOG_KINDS: Final = frozenset(_FAMILIES["log"].values())
