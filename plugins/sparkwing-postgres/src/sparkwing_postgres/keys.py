"""The profile keys of a ``postgres`` block: a module of constants only.

The plugin's entry point registers these keys on every command, so they live
apart from :mod:`.settings` (which compiles patterns and builds dataclasses
only when a profile actually uses the type).
"""

from __future__ import annotations

#: Keys the block may carry besides ``type`` and ``url``.
OPTIONAL_KEYS = (
    "schema", "pool_size", "sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout",
    "retry_timeout", "migration_wait", "notify",
)
