"""The image's HEALTHCHECK: exit 0 when the controller's ``/api/v1/health`` answers.

``ok`` and ``degraded`` both count as healthy: ``degraded`` reports
problems of the work it serves (a stuck trigger claim, a low success
rate), which restarting the controller would not fix.

Standard library only (the image has no curl). The URL is
``SPARKWING_HEALTH_URL`` or ``http://127.0.0.1:4344/api/v1/health``: a
loopback name, which the controller's ``Host`` check always accepts.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

#: Where the health route is, unless ``SPARKWING_HEALTH_URL`` says otherwise.
DEFAULT_URL = "http://127.0.0.1:4344/api/v1/health"
#: Statuses that pass the check.
HEALTHY = ("ok", "degraded")


def main() -> int:
    """Print the health answer; 0 when its status is ``ok`` or ``degraded``, 1 otherwise."""
    url = os.environ.get("SPARKWING_HEALTH_URL", DEFAULT_URL)
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            body = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(body, sort_keys=True))
    return 0 if isinstance(body, dict) and body.get("status") in HEALTHY else 1


if __name__ == "__main__":
    raise SystemExit(main())
