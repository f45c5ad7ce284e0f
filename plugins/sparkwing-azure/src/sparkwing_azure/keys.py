"""The profile keys of a ``azure`` block: a module of constants only.

The plugin's entry point registers these keys on every command, so they live
apart from :mod:`.settings` (which compiles patterns and builds dataclasses
only when a profile actually uses the type).
"""

from __future__ import annotations

#: Keys a profile block of type ``azure`` may carry besides ``type``.
REQUIRED = ("container",)
OPTIONAL = ("prefix", "endpoint_url", "account", "url", "retries", "timeout")
