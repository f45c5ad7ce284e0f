"""Request counters of the controller, rendered as Prometheus text (no client library)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict


class Metrics:
    """Counts requests by route pattern (bounded label set), status and auth refusals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.seconds: defaultdict[tuple[str, str], float] = defaultdict(float)
        self.auth_refusals: Counter[str] = Counter()
        self.reaped: Counter[str] = Counter()
        #: Gauges set by the reaper's tick: name -> (help, {label value: value}).
        self.gauges: dict[str, tuple[str, dict[str, float]]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.seconds[(method, route)] += seconds

    def refused(self, reason: str) -> None:
        """Count one request refused by the auth check (``missing``, ``revoked``, ...)."""
        with self._lock:
            self.auth_refusals[reason] += 1

    def reap(self, what: str, count: int) -> None:
        """Count *count* claims the reaper ended (``agent_lost``, ``queue_timeout``,
        ``trigger_requeued``, ``run_orphaned``, ``run_undispatched``)."""
        with self._lock:
            self.reaped[what] += count

    def set_gauge(self, name: str, help_text: str, values: dict[str, float]) -> None:
        """Set gauge *name* (``{"": v}`` for an unlabelled one) until it is set again."""
        with self._lock:
            self.gauges[name] = (help_text, dict(values))

    def render(self, gauges: dict[str, tuple[str, dict[str, float]]]) -> str:
        """Prometheus text exposition (version 0.0.4) of the counters plus *gauges*.

        *gauges* (and the gauges set with :meth:`set_gauge`) map a metric name
        to ``(help, {label value of "status": value})``; the label value
        ``""`` renders the gauge without labels.
        """
        with self._lock:
            requests = sorted(self.requests.items())
            seconds = sorted(self.seconds.items())
            refusals = sorted(self.auth_refusals.items())
            reaped = sorted(self.reaped.items())
            gauges = {**self.gauges, **gauges}
        out = [
            "# HELP sparkwing_controller_requests_total Requests answered, by route pattern.",
            "# TYPE sparkwing_controller_requests_total counter",
        ]
        out += [f'sparkwing_controller_requests_total{{method="{m}",route="{_esc(r)}",'
                f'status="{s}"}} {n}' for (m, r, s), n in requests]
        out += [
            "# HELP sparkwing_controller_request_seconds_total Time spent answering, by route.",
            "# TYPE sparkwing_controller_request_seconds_total counter",
        ]
        out += [f'sparkwing_controller_request_seconds_total{{method="{m}",route="{_esc(r)}"}} '
                f"{v:.6f}" for (m, r), v in seconds]
        out += [
            "# HELP sparkwing_controller_auth_refusals_total Requests refused by the token check.",
            "# TYPE sparkwing_controller_auth_refusals_total counter",
        ]
        out += [f'sparkwing_controller_auth_refusals_total{{reason="{r}"}} {n}'
                for r, n in refusals]
        out += [
            "# HELP sparkwing_controller_reaped_total Claims the reaper ended, by reason.",
            "# TYPE sparkwing_controller_reaped_total counter",
        ]
        out += [f'sparkwing_controller_reaped_total{{reason="{r}"}} {n}' for r, n in reaped]
        for name, (help_text, values) in sorted(gauges.items()):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            out += [f'{name}{{status="{k}"}} {v:g}' if k else f"{name} {v:g}"
                    for k, v in sorted(values.items())]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
