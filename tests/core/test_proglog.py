"""Program logs are structlog: JSON lines for servers, filtered by SPARKWING_LOG_LEVEL."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", **env}, check=True)
    return out.stderr


def test_server_logs_are_json_lines() -> None:
    err = _run("from sparkwing.proglog import configure, get_logger\n"
               "configure(server=True)\nget_logger('t').info('started', port=4343)")
    rec = json.loads(err.strip().splitlines()[-1])
    assert rec["event"] == "started" and rec["port"] == 4343 and rec["level"] == "info"
    assert rec["timestamp"].endswith("Z")


def test_level_filter() -> None:
    code = ("from sparkwing.proglog import get_logger\n"
            "log = get_logger('t'); log.info('hidden'); log.warning('shown')")
    err = _run(code)
    assert "shown" in err and "hidden" not in err
    err = _run(code, SPARKWING_LOG_LEVEL="debug")
    assert "hidden" in err
