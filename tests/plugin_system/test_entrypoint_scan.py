"""The fast entry-point scan agrees with importlib.metadata."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest
from sparkwing.plugins.entrypoints import entry_points


@pytest.mark.parametrize("group", ["sparkwing", "console_scripts", "pytest11"])
def test_scan_matches_importlib_metadata(group: str) -> None:
    ours = sorted((e.name, e.value, e.dist.lower().replace("_", "-")) for e in entry_points(group))
    theirs = sorted(
        (e.name, e.value, (e.dist.name if e.dist else "").lower().replace("_", "-"))
        for e in metadata.entry_points(group=group)
    )
    assert ours == theirs
    assert ours, f"expected some {group} entry points in the dev environment"


def test_scan_reads_versions_and_loads() -> None:
    eps = {e.name: e for e in entry_points("sparkwing")}
    sqlite = eps["sqlite"]
    assert sqlite.dist == "sparkwing-sqlite" and sqlite.version == metadata.version("sparkwing-sqlite")
    module = sqlite.load()
    assert hasattr(module, "sparkwing_register_backends")


def test_first_distribution_on_the_path_wins(tmp_path) -> None:
    for i, base in enumerate([tmp_path / "a", tmp_path / "b"]):
        d = base / "demo_plugin-1.0.dist-info"
        d.mkdir(parents=True)
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.{i}\n\n")
        (d / "entry_points.txt").write_text(f"[sparkwing]\ndemo = demo_mod{i}\n")
    eps = entry_points("sparkwing", [str(tmp_path / "a"), str(tmp_path / "b")])
    assert [(e.name, e.value, e.version) for e in eps] == [("demo", "demo_mod0", "1.0")]
    assert sys.path  # unchanged
