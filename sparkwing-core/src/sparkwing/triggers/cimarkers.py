"""The variables that mark a CI vendor's job: the cheap test every ``sparkwing run`` makes.

:mod:`sparkwing.triggers.civendor` reads a vendor job's facts; it is
imported only when :func:`in_vendor_job` says there is a job to read.
"""

from __future__ import annotations

from collections.abc import Mapping

#: ``TriggerMeta.source`` of a run started inside a CI vendor's job.
CI_EMBEDDED = "ci-embedded"

#: The variable (set to ``true``) that marks each vendor's jobs.
VENDOR_MARKERS = ("GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE")


def in_vendor_job(env: Mapping[str, str]) -> bool:
    """True when a vendor's marker is set to ``true`` in *env* (``detect_ci`` may find a job)."""
    return any(env.get(marker, "").strip() == "true" for marker in VENDOR_MARKERS)
