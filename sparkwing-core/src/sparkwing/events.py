"""Event kinds, named once: the engine writes them, the CLI, the server and the web UI read them.

Two streams carry events:

* the run's **event stream** in the state store (``StateStore.append_event``
  and the ``event`` of ``update_node``): transitions of runs, nodes, gates;
* **log records** (``event`` attribute of a record in the log store): the
  markers inside a node's log that the log views fold and colour.

The web UI gets this module's values from ``GET /api/events`` rather than a
copy, so a renamed kind cannot drift between Python and JavaScript.
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
CACHE_HIT: Final = "cache_hit"
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_PENDING: Final = "approval_pending"
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
LOG_NODE_ANNOTATION: Final = "node_annotation"
LOG_NODE_SUMMARY: Final = "node_summary"
LOG_STEP_START: Final = "step_start"
LOG_STEP_END: Final = "step_end"
LOG_STEP_SKIPPED: Final = "step_skipped"
LOG_EXEC_START: Final = "exec_start"
LOG_RETRY: Final = "retry"
LOG_STREAM_END: Final = "stream_end"


def all_kinds() -> dict[str, str]:
    """Every constant of this module by name (served to the web UI)."""
    return {k: v for k, v in globals().items() if k.isupper() and isinstance(v, str)}
