"""sparkwing: CI/CD pipelines as Python code.

The authoring API is re-exported here (``import sparkwing as sw``). Names
are resolved lazily so that importing :mod:`sparkwing` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .plugins import hookimpl

_LAZY: dict[str, str] = {}

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'sparkwing' has no attribute {name!r}")
    import importlib

    modname, attr = target.split(":")
    value = getattr(importlib.import_module(modname), attr)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    pass
