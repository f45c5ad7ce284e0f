"""What the fake cluster should do to a pod: run it, or make it fail the way a real cluster does.

A pod gets a simulated failure from, in order:

1. the annotations ``fake.sparkwing.dev/simulate`` (one of :data:`FAILURES`)
   and ``fake.sparkwing.dev/simulate-after`` (seconds) on its Job or pod
   template;
2. a rule added through ``POST /fake/v1/simulations`` (a label selector, the
   failure, a delay, how many pods it applies to);
3. an image the server was told is missing (``--missing-image``, or a rule
   with ``image``): the pull fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .selectors import Requirement, labels_match, parse_label_selector

ANNOTATION = "fake.sparkwing.dev/simulate"
ANNOTATION_AFTER = "fake.sparkwing.dev/simulate-after"

#: Failures the fake can simulate, and what each does.
FAILURES: dict[str, str] = {
    "oom": "the container is killed by the kernel: terminated, reason OOMKilled, exit code 137",
    "image-pull": "the image cannot be pulled: waiting, ErrImagePull then ImagePullBackOff",
    "evicted": "the kubelet evicts the pod under node pressure: phase Failed, reason Evicted",
    "node-lost": "the node stops responding; the pod is failed and removed by the pod GC",
    "slow-scheduling": "the pod stays Unschedulable for simulate-after seconds, then runs",
    "unschedulable": "the pod stays Unschedulable for ever",
    "config-error": "the container cannot be created: waiting, CreateContainerConfigError",
}

#: Default delay (seconds) before a simulated failure strikes a started container.
DEFAULT_AFTER = 0.3


@dataclass(slots=True)
class Directive:
    """The failure one pod gets (``failure`` empty: none)."""

    failure: str = ""
    after_s: float = DEFAULT_AFTER


@dataclass(slots=True)
class Rule:
    """A failure to apply to the next pods matching a selector (or using an image)."""

    id: int
    failure: str
    selector: list[Requirement] = field(default_factory=list)
    selector_text: str = ""
    image: str = ""
    after_s: float = DEFAULT_AFTER
    remaining: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        return {"id": self.id, "failure": self.failure, "selector": self.selector_text,
                "image": self.image, "after_s": self.after_s, "remaining": self.remaining}


class SimulationError(ValueError):
    """A simulation request that names no known failure or has a bad field."""


class Simulations:
    """Rules and missing images; decides each new pod's :class:`Directive`."""

    def __init__(self, missing_images: list[str] | None = None) -> None:
        self.rules: list[Rule] = []
        self.missing_images: set[str] = set(missing_images or [])
        self._ids = itertools.count(1)

    def add(self, spec: Mapping[str, Any]) -> Rule:
        """Add a rule from its JSON form (``failure``, ``selector``, ``image``, ``after_s``, ``count``)."""
        failure = str(spec.get("failure", ""))
        if failure not in FAILURES:
            raise SimulationError(f"unknown failure {failure!r}; valid: {', '.join(FAILURES)}")
        after = spec.get("after_s", DEFAULT_AFTER)
        count = spec.get("count")
        if not isinstance(after, int | float) or after < 0:
            raise SimulationError(f"after_s must be a number >= 0, got {after!r}")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise SimulationError(f"count must be an integer >= 1, got {count!r}")
        text = str(spec.get("selector") or "")
        rule = Rule(next(self._ids), failure, parse_label_selector(text), text,
                    str(spec.get("image") or ""), float(after), count)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule and missing image."""
        self.rules.clear()
        self.missing_images.clear()

    def for_pod(self, pod: Mapping[str, Any], job: Mapping[str, Any] | None) -> Directive:
        """The directive for a new pod (consumes one use of a matching rule)."""
        notes: dict[str, str] = {}
        if job is not None:
            notes.update(job.get("metadata", {}).get("annotations") or {})
        notes.update(pod.get("metadata", {}).get("annotations") or {})
        if notes.get(ANNOTATION):
            failure = notes[ANNOTATION]
            try:
                after = float(notes.get(ANNOTATION_AFTER, DEFAULT_AFTER))
            except ValueError:
                after = DEFAULT_AFTER
            return Directive(failure if failure in FAILURES else "", after)
        labels = pod.get("metadata", {}).get("labels") or {}
        images = [c.get("image", "") for c in pod.get("spec", {}).get("containers") or []]
        for rule in self.rules:
            if rule.remaining == 0:
                continue
            if rule.image and rule.image not in images:
                continue
            if not labels_match(rule.selector, labels):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            return Directive(rule.failure, rule.after_s)
        if any(img in self.missing_images for img in images):
            return Directive("image-pull", 0.0)
        return Directive()
