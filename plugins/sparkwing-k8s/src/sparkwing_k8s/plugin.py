"""Entry point of sparkwing-k8s: registers ``executor: {type: k8s}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sparkwing.plugins import hookimpl

from .keys import PROFILE_KEYS

if TYPE_CHECKING:
    from sparkwing.execution.contracts import ExecutorContext
    from sparkwing.plugins.registry import Registry

    from .executor import K8sExecutor

#: Version of the plugin contract this plugin was built for.
SPARKWING_CONTRACT = 1


def make_executor(config: Mapping[str, Any], context: ExecutorContext) -> K8sExecutor:
    """Build the ``k8s`` executor: check the block, find the cluster, probe ``/version``."""
    from .executor import K8sExecutor

    return K8sExecutor.from_config(config, context)


@hookimpl
def sparkwing_register_executors(registry: Registry) -> None:
    """Register the ``k8s`` executor."""
    registry.add_executor(
        "k8s", make_executor, optional=PROFILE_KEYS,
        description="each job attempt as a Kubernetes batch/v1 Job running sparkwing node exec",
    )
