"""Which sync job bodies finish at once, so they can run on the event loop without a thread.

A sync body normally runs in a pool thread, so a body that blocks (a
command, a sleep, a network call) cannot stall the run's other jobs, its
timeouts or its cancel. Handing a body to a thread and back costs about
0.1 ms, which is most of what a job like ``lambda ctx: None`` costs.

A body whose code calls nothing, loops nowhere and imports nothing cannot
block: it only loads names and constants, builds containers from them and
returns. :func:`runs_instantly` recognises such code by its bytecode (a
whitelist of instructions; an instruction it does not know counts as
unsafe), and :mod:`sparkwing.execution.local` runs those bodies inline.
Attribute and item access, hashing (sets, maps with computed keys) and
unpacking are not on the list: they can run user code.
"""

from __future__ import annotations

import opcode
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

#: Instructions that load, store, build or return values without calling anything.
_SAFE_NAMES = (
    "CACHE", "RESUME", "NOP", "EXTENDED_ARG", "RETURN_VALUE", "RETURN_CONST", "POP_TOP",
    "LOAD_CONST", "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST", "LOAD_DEREF",
    "LOAD_GLOBAL", "LOAD_NAME", "STORE_FAST", "COPY_FREE_VARS", "MAKE_CELL", "COPY",
    "SWAP", "BUILD_TUPLE", "BUILD_LIST", "BUILD_CONST_KEY_MAP", "LIST_APPEND", "PUSH_NULL",
)
_SAFE = frozenset(opcode.opmap[n] for n in _SAFE_NAMES if n in opcode.opmap)

_verdicts: dict[CodeType, bool] = {}


def runs_instantly(fn: Callable[..., Any]) -> bool:
    """Whether calling *fn* runs only loads, container builds and a return (see the module docs).

    Only plain Python functions qualify (no bound methods, partials or
    callable objects); the verdict is kept per code object.
    """
    if type(fn) is not FunctionType:
        return False
    code = fn.__code__
    verdict = _verdicts.get(code)
    if verdict is None:
        raw = code.co_code
        verdict = all(raw[i] in _SAFE for i in range(0, len(raw), 2))
        _verdicts[code] = verdict
    return verdict
