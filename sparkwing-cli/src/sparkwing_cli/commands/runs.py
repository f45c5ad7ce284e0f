"""``sparkwing runs ...``: inspect and manage recorded runs.

Every verb reads the stores of the profile that applies here (``--profile``,
else the project's ``defaults.profile``, else laptop) and first settles
orphaned runs (see :mod:`sparkwing.orchestrator.reconcile`). The verbs live
in :mod:`sparkwing_cli.runsverbs` and are imported only when used.
"""

from __future__ import annotations

import click

from ..lazy import LazyGroup

VERBS = {
    "list": "sparkwing_cli.runsverbs.listing:list_cmd",
    "stats": "sparkwing_cli.runsverbs.listing:stats_cmd",
    "status": "sparkwing_cli.runsverbs.inspect:status_cmd",
    "errors": "sparkwing_cli.runsverbs.inspect:errors_cmd",
    "get": "sparkwing_cli.runsverbs.inspect:get_cmd",
    "logs": "sparkwing_cli.runsverbs.logs:logs_cmd",
    "cancel": "sparkwing_cli.runsverbs.control:cancel_cmd",
    "wait": "sparkwing_cli.runsverbs.control:wait_cmd",
    "prune": "sparkwing_cli.runsverbs.control:prune_cmd",
    "retry": "sparkwing_cli.runsverbs.control:retry_cmd",
    "approvals": "sparkwing_cli.runsverbs.approvals:approvals_group",
}


@click.group("runs", cls=LazyGroup, lazy=VERBS)
def runs_group() -> None:
    """Inspect and manage recorded runs (list, status, logs, errors, cancel, ...).

    --run takes a run id, or `latest` for the newest run.
    """
