"""The profile keys of a ``s3`` block: a module of constants only.

The plugin's entry point registers these keys on every command, so they live
apart from :mod:`.settings` (which compiles patterns and builds dataclasses
only when a profile actually uses the type).
"""

from __future__ import annotations

#: Keys a profile block of type ``s3`` may carry besides ``type``.
REQUIRED = ("bucket",)
OPTIONAL = ("prefix", "endpoint_url", "region", "aws_profile", "retries", "timeout")
