"""Windows-only built-in modules are known to be absent before the standard library tries them."""

from __future__ import annotations

import subprocess
import sys

from sparkwing.absentmods import WINDOWS_ONLY, mark_absent

PROBE = """
import sys
from sparkwing.absentmods import mark_absent
mark_absent()
import pathlib, subprocess, shutil
assert pathlib.PureWindowsPath("C:/a/b").parts == ("C:\\\\", "a", "b")
for name in {names!r}:
    assert sys.modules[name] is None, name
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(name)
print("ok")
"""


def test_windows_modules_fail_at_once_and_pathlib_still_works() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(names=WINDOWS_ONLY)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_a_run_does_not_search_the_path_for_them(tmp_path) -> None:
    """`python -vv` shows every file an import tried; none for the Windows modules."""
    (tmp_path / ".sparkwing" / "pipelines").mkdir(parents=True)
    (tmp_path / ".sparkwing" / "sparkwing.yaml").write_text(
        'pipelines:\n  - name: p\n    entrypoint: "pipelines.p:plan"\n')
    (tmp_path / ".sparkwing" / "pipelines" / "p.py").write_text(
        "def plan(plan, inputs, run):\n    plan.job('a', lambda ctx: None)\n")
    code = ("import sys; sys.argv = ['sparkwing', 'run', 'p']\n"
            "from sparkwing_cli.main import main\nmain()")
    out = subprocess.run([sys.executable, "-vv", "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    tried = [line for line in out.stderr.splitlines() if line.startswith("# trying ")]
    assert any("/pathlib." in line or "sparkwing" in line for line in tried)  # -vv works
    searched = [line for line in tried if any(f"/{name}." in line for name in WINDOWS_ONLY)]
    assert searched == []


def test_nothing_changes_on_windows(monkeypatch) -> None:
    for name in WINDOWS_ONLY:
        monkeypatch.delitem(sys.modules, name, raising=False)
    mark_absent("win32")
    assert not any(name in sys.modules for name in WINDOWS_ONLY)
    mark_absent("linux")
    assert all(sys.modules[name] is None for name in WINDOWS_ONLY)


def test_a_module_already_imported_is_left_alone(monkeypatch) -> None:
    marker = object()
    monkeypatch.setitem(sys.modules, "winreg", marker)
    for name in WINDOWS_ONLY:
        if name != "winreg":
            monkeypatch.delitem(sys.modules, name, raising=False)
    mark_absent("linux")
    assert sys.modules["winreg"] is marker
