"""Config parsing is bounded: alias bombs and oversized files are one-line errors, fast."""

from __future__ import annotations

import pytest

SUFFIX = "invalid YAML: expands to more than 100000 values (aliases that repeat each other?)"


def assert_one_line_error(proc, file: str, message: str) -> None:
    """Exit 2, nothing on stdout, one ``error: <file>: <message>`` line, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and lines[0].endswith(f"{file}: {message}"), lines

#: Nine levels of ten aliases each: about 10**9 values once expanded.
BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 10)]
) + "\n"


@pytest.mark.parametrize("argv", [
    ("pipeline", "list"),
    ("run", "hello"),
    ("profile",),
])
def test_alias_bomb_in_project_file(cfg, argv: tuple[str, ...]) -> None:
    cfg.write_project(BOMB + "pipelines: []\n")
    proc = cfg.cli(*argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert_one_line_error(proc, ".sparkwing/sparkwing.yaml", SUFFIX)


@pytest.mark.parametrize("argv", [("profile",), ("profile", "-o", "json")])
def test_alias_bomb_in_profiles_file(cfg, argv: tuple[str, ...]) -> None:
    cfg.write_profiles(BOMB)
    proc = cfg.cli(*argv)
    assert_one_line_error(proc, "profiles.yaml", SUFFIX)


def test_oversized_project_file(cfg) -> None:
    path = cfg.write_project("pipelines: []\n")
    with path.open("a") as fh:
        fh.write(("# padding padding padding padding padding padding padding\n") * 20_000)
    proc = cfg.cli("pipeline", "list")
    assert_one_line_error(proc, ".sparkwing/sparkwing.yaml",
                          "too large for a config file (over 1024 KiB)")


def test_a_few_shared_aliases_still_work(cfg) -> None:
    cfg.write_project("""
        defaults: &d {entrypoint: "pipelines.hello:plan"}
        pipelines:
          - {name: hello, <<: *d}
    """)
    proc = cfg.cli("pipeline", "list")
    assert "expands to more than" not in proc.stderr
