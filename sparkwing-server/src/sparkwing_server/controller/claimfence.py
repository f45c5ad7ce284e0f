"""The fence on writes made under a node claim (the ``X-Sparkwing-Claim`` header).

A runner's ``node exec`` child writes its attempt's state and log records
through the controller stores with the header
(:mod:`sparkwing.storage.controller.claim`). :func:`check_write_claim`
runs, in the guard middleware, for every write request that carries it:
the node queue row ``(run, node, attempt)`` must still be ``claimed`` by
the header's ``holder`` in claim ``seq``. A reaped (``agent_lost``),
released, re-claimed or finished row answers 409 ``claim_lost`` naming
what became of it, before the handler runs, so nothing is written.

A finished row is refused even when its own holder finished it: the
child records its ``attempt_finished`` event and closes its logs before it
exits, and the runner finishes the claim only after that, so no write of
the child comes after the finish. Writes without the header are not
checked (laptops, triggers' runs, the orchestrator).
"""

from __future__ import annotations

from aiohttp import web
from sparkwing.storage.controller.claim import CLAIM_HEADER, CLAIM_LOST, WriteClaim

from .context import ControllerContext
from .errors import fail


async def check_write_claim(request: web.Request, ctx: ControllerContext) -> None:
    """Refuse (409 ``claim_lost``) a write whose claim header is not the row's current claim.

    A malformed header answers 400 naming it; no header: nothing is checked.
    """
    text = request.headers.get(CLAIM_HEADER)
    if text is None:
        return
    try:
        claim = WriteClaim.parse(text.strip())
    except ValueError as exc:
        fail(400, f"header {CLAIM_HEADER}: {exc}", field=CLAIM_HEADER)
    where = f"node {claim.run_id}/{claim.node_id} attempt {claim.attempt}"
    held = f"not held by {claim.holder} (claim {claim.seq})"
    if ctx.nodes is None:
        fail(409, f"{where}: this controller has no node queue, so it is {held}", CLAIM_LOST)
    row = await ctx.queue_call(ctx.nodes.get, claim.run_id, claim.node_id, claim.attempt)
    if (row is not None and row.status == "claimed" and row.claimed_by == claim.holder
            and row.claim_seq == claim.seq):
        return
    if row is None:
        now = "not queued"
    elif row.status == "claimed":
        now = f"claimed by {row.claimed_by} (claim {row.claim_seq})"
    elif row.status == "finished":
        reason = f", {row.failure_reason}" if row.failure_reason else ""
        now = f"finished ({row.outcome}{reason}, claim {row.claim_seq} by {row.claimed_by})"
    else:
        now = row.status
    fail(409, f"{where} is {now}, {held}: write refused, stop its work", CLAIM_LOST)
