"""The sparkwing plugin system (pluggy, project name ``sparkwing``).

A plugin is a module that implements hooks from :mod:`sparkwing.plugins.hookspecs`
with the :data:`hookimpl` marker, published through the ``sparkwing``
entry-point group::

    [project.entry-points.sparkwing]
    s3 = "sparkwing_s3.plugin"

and, in ``sparkwing_s3/plugin.py``::

    import sparkwing

    @sparkwing.hookimpl
    def sparkwing_register_backends(registry):
        registry.register("logs", "s3", make_log_store, required=("bucket",))
"""

from __future__ import annotations

import pluggy

PROJECT = "sparkwing"
ENTRY_POINT_GROUP = "sparkwing"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]
