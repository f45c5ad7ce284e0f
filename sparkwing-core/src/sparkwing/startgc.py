"""Start-up without the cyclic garbage collector, then collection as usual.

Starting ``sparkwing run`` makes tens of thousands of objects that live as
long as the process (modules, classes, functions, the plan). Python 3.11's
collector ran about 40 times while ``run hello`` started, going over them
again each time: about 5 ms of a 60 ms run. The ``run`` and ``node exec``
fast paths call :func:`pause` first; :func:`resume`, called when jobs are
about to run, moves everything made so far into the permanent generation
(``gc.freeze()``: never examined again, never freed) and turns collection
back on, so job bodies are collected as in any Python program.
"""

from __future__ import annotations

import gc

_paused = False


def pause(was_enabled: bool | None = None) -> None:
    """Stop cyclic collection until :func:`resume` (no-op when it was off already).

    A caller that turned it off itself before importing sparkwing (the CLI's
    entry point) passes *was_enabled*: whether it was on before.
    """
    global _paused
    if gc.isenabled() if was_enabled is None else was_enabled:
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what exists now and collect again (only after :func:`pause` turned it off)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
