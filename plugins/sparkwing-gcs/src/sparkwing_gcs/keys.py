"""The profile keys of a ``gcs`` block: a module of constants only.

The plugin's entry point registers these keys on every command, so they live
apart from :mod:`.settings` (which compiles patterns and builds dataclasses
only when a profile actually uses the type).
"""

from __future__ import annotations

#: Keys a profile block of type ``gcs`` may carry besides ``type``.
REQUIRED = ("bucket",)
OPTIONAL = ("prefix", "endpoint_url", "project", "retries", "timeout")
