"""sparkwing-github: start pipelines from GitHub webhooks (``POST /webhooks/github[/{pipeline}]``)."""

from __future__ import annotations

__version__ = "0.1.0"
