"""What the orchestrator's parts share: attributes and helpers of one live run.

:class:`~sparkwing.orchestrator.engine.Orchestrator` defines them; the mixins
(memoize, concurrency groups, gates, expansion) declare them here so each
module is typed on its own. Nothing here runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..dsl.nodes import JobNode
    from ..dsl.plan import Plan
    from ..runtime.context import Context, RunContext
    from ..runtime.secrets import Masker
    from ..storage.records import Run
    from .engine import NodeState, RunOptions
    from .leases import Leases
    from .reporting import Reporter


class EngineCore:
    """Declared state of a live run (see :class:`~sparkwing.orchestrator.engine.Orchestrator`)."""

    plan: Plan
    state: Any
    logs: Any
    run: Run | None
    run_ctx: RunContext
    options: RunOptions
    reporter: Reporter
    masker: Masker
    nodes: dict[str, JobNode]
    states: dict[str, NodeState]
    outputs: dict[str, Any]
    done: dict[str, asyncio.Event]
    tasks: dict[str, asyncio.Task[None]]
    leases: Leases
    host: str
    holder_of: dict[tuple[str, str], str]
    dynamic_children: dict[str, list[str]]
    expanded: dict[str, asyncio.Event]
    expanded_errors: dict[str, str]
    cancel_reason: str
    loop: asyncio.AbstractEventLoop

    if TYPE_CHECKING:
        def _set(self, nid: str, fields: dict[str, Any], event: str | None = None,
                 payload: dict[str, Any] | None = None) -> None: ...

        def _settle(self, nid: str, outcome: str, error: str = "", event: str = "",
                    extra: dict[str, Any] | None = None,
                    payload: dict[str, Any] | None = None) -> None: ...

        async def _call(self, fn: Callable[..., Any], *args: Any) -> Any: ...

        async def _node(self, nid: str) -> None: ...

        async def _execute(self, node: JobNode, *, slot: bool = True) -> None: ...

        def _finish_node(self, node: JobNode, ctx: Context, outcome: str, error: str,
                         reason: str, exit_code: int | None, output: Any) -> None: ...
