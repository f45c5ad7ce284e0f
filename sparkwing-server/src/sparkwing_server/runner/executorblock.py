"""The executor the runner's runs use: ``--executor NAME`` and its settings, checked at start.

The runner writes the block into its children's ``controller`` profile as
``executor: {type: NAME, ...}``, so every job of a run it starts goes to
that executor unless the job names another (``.executor(...)``). The block
is checked before the runner claims anything: an unknown name is the
plugin registry's one-line error (it lists the registered executors), an
unknown key or a bad value is the executor's own, and the executor is built
once (the ``k8s`` executor finds and probes its cluster) and closed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparkwing.errors import ConfigError, SparkwingError, UsageError


def _settings_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"--executor-settings {path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"--executor-settings {path}{where}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"--executor-settings {path}: expected a mapping of the executor's "
                          "keys (e.g. image: ..., namespace: ...)")
    if "type" in data:
        raise ConfigError(f"--executor-settings {path}: remove the type key; --executor names "
                          "the executor")
    return data


def _pair(text: str) -> tuple[str, Any]:
    import yaml

    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise UsageError(f"--executor-setting {text!r}: expected KEY=VALUE, e.g. namespace=ci")
    if key == "type":
        raise UsageError("--executor-setting type=...: --executor names the executor")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # not YAML: the text as it is
    return key, value


def executor_block(name: str, settings_file: Path | None,
                   pairs: Sequence[str]) -> dict[str, Any] | None:
    """The ``executor:`` block from the flags (``None`` without ``--executor``), not yet checked.

    Settings come from the file first, then each ``KEY=VALUE`` (values read
    as YAML scalars: ``ttl_s=60`` is a number, ``run_as_non_root=false`` a bool).
    """
    if not name:
        if settings_file is not None or pairs:
            raise UsageError("--executor-settings/--executor-setting need --executor NAME")
        return None
    block: dict[str, Any] = {"type": name}
    if settings_file is not None:
        block.update(_settings_file(settings_file))
    for text in pairs:
        key, value = _pair(text)
        block[key] = value
    return block


def check_executor(block: dict[str, Any], home: Path, profile: str,
                   controller: dict[str, Any] | None = None) -> None:
    """Refuse at start an executor nobody provides or settings it rejects (one line, exit 2).

    The executor is built as a child run would build it under *profile*
    (so its own checks run: the ``k8s`` executor probes the cluster; the
    ``queue`` executor needs the profile's *controller* block) and closed
    at once.
    """
    from sparkwing.execution.contracts import ExecutorContext
    from sparkwing.plugins.manager import get_host

    name = str(block["type"])
    where = f"--executor {name}"
    registry = get_host().registry
    try:
        registry.get("executor", name)
    except SparkwingError as exc:
        raise UsageError(f"{where}: {exc}") from None
    registry.validate("executor", block, where)
    try:
        executor = registry.build_executor(name, block, ExecutorContext(
            home=home, profile=profile, controller=controller))
    except SparkwingError as exc:
        text = str(exc).replace(f'profile "{profile}": executor: ', "", 1)
        if text.startswith(f"executor {name}:"):  # already names the executor
            raise ConfigError(text) from None
        raise ConfigError(f"{where}: {text}") from None
    asyncio.run(executor.close())
