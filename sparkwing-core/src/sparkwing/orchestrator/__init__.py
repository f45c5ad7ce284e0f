"""Turning a plan into a run: scheduling, retries, timeouts, cancellation, reporting."""
