"""Shared output helpers: ``-o pretty|json`` and JSON printing."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

output_option = click.option(
    "-o", "--output", "output", type=click.Choice(["pretty", "json"]), default="pretty",
    show_default=True, help="Output format: human-readable, or JSON for machines.",
)


def emit_json(value: Any) -> None:
    """Print *value* as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def emit_ndjson(values: list[Any]) -> None:
    """Print one compact JSON object per line (list verbs)."""
    out = sys.stdout
    for v in values:
        out.write(json.dumps(v, default=str, separators=(",", ":")) + "\n")
