"""Registration of the built-in ``controller`` state, log and cache stores.

``{type: controller, url: URL, token_env: VAR}`` (or ``token: RAW``, never
in a committed file). A profile whose only block is ``controller:`` gets
its state, logs and cache from it (see :mod:`sparkwing.config.profiles`).
Nothing here opens a connection: the first store call does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...plugins.registry import BackendContext, Registry
    from .artifacts import ControllerArtifactStore
    from .logs import ControllerLogStore
    from .state import ControllerStateStore

#: Keys of a ``controller`` surface block besides ``type``.
REQUIRED = ("url",)
OPTIONAL = ("token", "token_env")


def _token(config: Mapping[str, Any]) -> str:
    return str(config.get("token") or "")


def _token_env(config: Mapping[str, Any]) -> str:
    return str(config.get("token_env") or "")


def make_state_store(config: Mapping[str, Any], context: BackendContext) -> ControllerStateStore:
    """Build a :class:`~.state.ControllerStateStore` for ``config['url']``."""
    from .state import ControllerStateStore

    return ControllerStateStore(str(config["url"]), token=_token(config),
                                token_env=_token_env(config))


def make_log_store(config: Mapping[str, Any], context: BackendContext) -> ControllerLogStore:
    """Build a :class:`~.logs.ControllerLogStore` for ``config['url']``."""
    from .logs import ControllerLogStore

    return ControllerLogStore(str(config["url"]), token=_token(config),
                              token_env=_token_env(config))


def make_artifact_store(config: Mapping[str, Any],
                        context: BackendContext) -> ControllerArtifactStore:
    """Build a :class:`~.artifacts.ControllerArtifactStore` for ``config['url']``."""
    from .artifacts import ControllerArtifactStore

    return ControllerArtifactStore(str(config["url"]), token=_token(config),
                                   token_env=_token_env(config))


def register_controller(registry: Registry) -> None:
    """Add the ``controller`` state, log and cache types to *registry*."""
    registry.add_state_store(
        "controller", make_state_store, required=REQUIRED, optional=OPTIONAL,
        description="runs, nodes and events kept by a sparkwing controller at url "
        "(token from token_env, default $SPARKWING_TOKEN)",
    )
    registry.add_log_store(
        "controller", make_log_store, required=REQUIRED, optional=OPTIONAL,
        description="log records kept by a sparkwing controller's logs service at url",
    )
    registry.add_cache_store(
        "controller", make_artifact_store, required=REQUIRED, optional=OPTIONAL,
        description="artifact blobs and cache entries kept by a sparkwing controller at url "
        "(in the cache store of the controller's own profile)",
    )
