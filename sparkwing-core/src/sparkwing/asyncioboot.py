"""Import :mod:`asyncio` without loading :mod:`ssl` until something needs it.

``import asyncio`` imports ``ssl`` (OpenSSL's libraries and a few enum
conversions, about 28 M instructions or a fifth of what ``sparkwing run
hello`` spends importing), yet a run that opens no TLS connection never uses
it. :func:`import_asyncio` imports asyncio as if ``ssl`` were missing and
then watches for the first ``import ssl`` by anyone: when it happens, the
three asyncio modules that keep a reference to ``ssl`` get the real module,
so TLS through asyncio (aiohttp, the controller client) works as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

#: The asyncio modules that hold a module-level reference to ``ssl``.
_HOLDERS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")


def import_asyncio() -> None:
    """Import asyncio, deferring ``ssl`` (nothing happens when either is already imported)."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # asyncio then imports without it
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
    holders = [sys.modules.get(name) for name in _HOLDERS]
    if any(m is None or not hasattr(m, "ssl") or m.ssl is not None for m in holders):
        import ssl  # an asyncio laid out otherwise: give it ssl now rather than guess

        give_ssl(ssl)
        return
    sys.meta_path.insert(0, _SslWatcher())


def give_ssl(ssl: ModuleType) -> None:
    """Point asyncio's modules at the real ``ssl`` (what its own import would have set)."""
    for name in _HOLDERS:
        module = sys.modules.get(name)
        if module is not None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None:
        sslproto.SSLAgainErrors = (  # type: ignore[attr-defined]
            ssl.SSLWantReadError, ssl.SSLSyscallError)


class _SslWatcher:
    """A meta path finder that hands ``ssl`` to asyncio once something imports it."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        """Find ``ssl`` on ``sys.path``, wrapped so asyncio gets it once it has loaded."""
        if name != "ssl":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = PathFinder.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            give_ssl(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
