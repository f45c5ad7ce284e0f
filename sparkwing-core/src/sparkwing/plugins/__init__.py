"""The sparkwing plugin system (pluggy, project name ``sparkwing``).

A plugin is a module that implements hooks from :mod:`sparkwing.plugins.hookspecs`
with the :data:`hookimpl` marker, published through the ``sparkwing``
entry-point group::

    [project.entry-points.sparkwing]
    s3 = "sparkwing_s3.plugin"

and, in ``sparkwing_s3/plugin.py``::

    import sparkwing
    from sparkwing.plugins.registry import Registry

    SPARKWING_CONTRACT = 1  # the plugin contract this module was built for

    @sparkwing.hookimpl
    def sparkwing_register_backends(registry: Registry) -> None:
        registry.add_log_store("s3", make_log_store, required=("bucket",))

``docs/plugins.md`` is the guide; :data:`CONTRACT_ATTRIBUTE` names the
module attribute holding the contract version (see
:data:`sparkwing.execution.contracts.CONTRACT_VERSION`).
"""

from __future__ import annotations

import pluggy

PROJECT = "sparkwing"
ENTRY_POINT_GROUP = "sparkwing"
#: Module-level attribute of an entry-point module declaring its contract version.
CONTRACT_ATTRIBUTE = "SPARKWING_CONTRACT"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["CONTRACT_ATTRIBUTE", "ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]
