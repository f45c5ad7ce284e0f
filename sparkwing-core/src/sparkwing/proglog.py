"""The program's own logs (not pipeline output): structlog, configured on first use.

Servers log JSON lines; an interactive terminal gets readable lines. The
level comes from ``SPARKWING_LOG_LEVEL`` (default ``warning`` for commands,
``info`` for servers). structlog is imported only when something is logged,
so the ``sparkwing run`` start-up path never pays for it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

_configured = False
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure(*, server: bool = False, stream: Any = None) -> None:
    """Configure structlog once: JSON for servers or non-terminals, console otherwise."""
    global _configured
    import structlog

    level_name = os.environ.get("SPARKWING_LOG_LEVEL", "info" if server else "warning").lower()
    level = _LEVELS.get(level_name, logging.INFO)
    out = stream or sys.stderr
    renderer: Any
    if server or not getattr(out, "isatty", lambda: False)():
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors="NO_COLOR" not in os.environ)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(name: str, **bound: Any) -> Any:
    """Return a structlog logger named *name* (configuring structlog on first use)."""
    if not _configured:
        configure()
    import structlog

    return structlog.get_logger(name).bind(**bound)
