"""The entry-point module stays cheap: every sparkwing command imports it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"google", "requests", "grpc"}


def test_entry_point_module_imports_no_sdk() -> None:
    code = (
        "import sys, sparkwing_gcs.plugin as p\n"
        "assert p.SPARKWING_CONTRACT >= 1\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


def test_store_module_does_import_it() -> None:
    # The counterpart, so the check above can fail: building a store needs the SDK.
    code = (
        "import sys, sparkwing_gcs.store\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() != "[]", out.stdout
