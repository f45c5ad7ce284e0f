"""What importing the plugin costs: every ``sparkwing`` command imports its entry-point module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _modules_after(code: str) -> list[str]:
    probe = (
        f"import sys; {code}; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sqlite3', 'sqlalchemy', 'structlog') "
        "or m == 'sparkwing_sqlite.store'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m.strip("' ") for m in out.stdout.strip()[1:-1].split(",") if m.strip()]


def test_the_entry_point_module_imports_neither_the_store_nor_sqlite3() -> None:
    assert _modules_after("import sparkwing_sqlite.plugin") == []


def test_the_store_uses_the_standard_library_not_sqlalchemy(tmp_path: Path) -> None:
    code = (
        "from sparkwing_sqlite.store import SqliteStateStore; "
        f"s = SqliteStateStore({str(tmp_path / 'state.db')!r}); s.list_runs(); s.close()"
    )
    loaded = _modules_after(code)
    assert "sparkwing_sqlite.store" in loaded and "sqlite3" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("sqlalchemy", "structlog")] == []
