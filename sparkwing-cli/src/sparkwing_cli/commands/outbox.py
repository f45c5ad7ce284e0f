"""``sparkwing outbox status|flush``: writes waiting for an unreachable object store.

When a profile's object store (``dir``, ``s3``, ``gcs``, ``azure``) cannot be
reached, runs go on and their state writes, log parts and artifacts wait in
``$SPARKWING_HOME/outbox.db``; the next command using that profile sends
them, and so does ``sparkwing outbox flush``.
"""

from __future__ import annotations

from typing import Any

import click

from ..output import emit_json, output_option


@click.group("outbox")
def outbox_group() -> None:
    """Show or send writes waiting for an unreachable object store."""


def _home() -> Any:
    from sparkwing.paths import sparkwing_home

    return sparkwing_home()


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@outbox_group.command("status")
@output_option
def status_cmd(output: str) -> None:
    """Show what waits, per profile and surface (exit 0 whatever it finds)."""
    from sparkwing.storage.blobs.outbox import outbox_for

    box = outbox_for(_home())
    summary = box.summary()
    if output == "json":
        emit_json({
            "path": str(box.path),
            "pending": sum(s["pending"] for s in summary),
            "failed": sum(s["failed"] for s in summary),
            "targets": summary,
        })
        return
    if not summary:
        click.echo("outbox is empty: every write reached its store")
        return
    rows = [("PROFILE", "SURFACE", "TYPE", "PENDING", "FAILED", "STATE", "LOG", "ARTIFACT",
             "OLDEST")]
    for s in summary:
        rows.append((s["profile"], s["surface"], s["type"], str(s["pending"]), str(s["failed"]),
                     str(s["state"]), str(s["log"]), str(s["artifact"]),
                     _age(s["oldest_age_s"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for s in summary:
        if s["last_error"]:
            click.echo(f'last error ({s["profile"]} {s["surface"]}): {s["last_error"]}')
    click.echo(f"outbox: {box.path}  (send with: sparkwing outbox flush)")


@outbox_group.command("flush")
@click.option("--retry-failed", is_flag=True,
              help="Also retry writes set aside after an error that was not the network.")
@output_option
def flush_cmd(retry_failed: bool, output: str) -> None:
    """Send waiting writes now, oldest first (exit 1 when some are still waiting)."""
    from sparkwing.storage.blobs.flush import flush_outbox

    results = flush_outbox(_home(), retry_failed=retry_failed)
    remaining = sum(r["remaining"] for r in results)
    failed = sum(r["failed"] for r in results)
    if output == "json":
        emit_json({"targets": results, "replayed": sum(r["replayed"] for r in results),
                   "remaining": remaining, "failed": failed})
    elif not results:
        click.echo("outbox is empty: nothing to send")
    else:
        for r in results:
            line = (f'{r["profile"]} {r["surface"]} ({r["type"]}): sent {r["replayed"]}, '
                    f'waiting {r["remaining"]}, failed {r["failed"]}')
            if r["error"]:
                line += f' ({r["error"]})'
            click.echo(line)
    if remaining or failed:
        raise SystemExit(1)
