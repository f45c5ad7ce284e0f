"""The parse cache: an unchanged file is read without PyYAML, a changed one is never stale."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sparkwing.config import load_project
from sparkwing.errors import ConfigError

PROBE = (
    "import sys; from pathlib import Path; from sparkwing.config import load_project; "
    "p = load_project(Path('.')); print('yaml' in sys.modules, [e.name for e in p.pipelines])"
)


def _probe(cfg) -> str:
    return subprocess.run([sys.executable, "-c", PROBE], cwd=cfg.repo, capture_output=True,
                          text=True, check=True).stdout.strip()


def _cached(cfg) -> list:
    directory = cfg.sw_home / "cache" / "config"
    return sorted(directory.glob("*.json")) if directory.exists() else []


def test_second_load_skips_pyyaml(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: aaa, entrypoint: 'p:f'}\n")
    assert _probe(cfg) == "True ['aaa']"  # first load parses
    assert len(_cached(cfg)) == 1
    assert _probe(cfg) == "False ['aaa']"  # second load reads the cached tree


def test_a_changed_file_is_never_read_from_a_stale_entry(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: aaa, entrypoint: 'p:f'}\n")
    assert [p.name for p in load_project(cfg.repo).pipelines] == ["aaa"]
    # same size, written right away: the cache is keyed by content, not by mtime
    cfg.write_project("pipelines:\n  - {name: bbb, entrypoint: 'p:f'}\n")
    assert [p.name for p in load_project(cfg.repo).pipelines] == ["bbb"]
    assert len(_cached(cfg)) == 2


def test_validation_runs_on_a_cache_hit(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: a, entrypoint: 'p:f', hiden: true}\n")
    messages = []
    for _ in range(2):
        with pytest.raises(ConfigError) as err:
            load_project(cfg.repo)
        messages.append(str(err.value))
    assert len(_cached(cfg)) == 1
    assert messages[0] == messages[1]
    assert messages[0].startswith('.sparkwing/sparkwing.yaml:2: unknown key "hiden"')


def test_a_corrupt_entry_is_ignored(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: aaa, entrypoint: 'p:f'}\n")
    load_project(cfg.repo)
    [entry] = _cached(cfg)
    entry.write_text('["m", 1, [["garbage"]]]')
    assert [p.name for p in load_project(cfg.repo).pipelines] == ["aaa"]


def test_cache_can_be_turned_off(cfg, monkeypatch) -> None:
    monkeypatch.setenv("SPARKWING_NO_CONFIG_CACHE", "1")
    cfg.write_project("pipelines:\n  - {name: aaa, entrypoint: 'p:f'}\n")
    load_project(cfg.repo)
    assert _cached(cfg) == []


def test_line_numbers_survive_the_cache(cfg) -> None:
    cfg.write_project("# one\n# two\npipelines:\n\n  - name: aaa\n    entrypoint: p:f\n    hidden: 3\n")
    for _ in range(2):
        with pytest.raises(ConfigError) as err:
            load_project(cfg.repo)
        assert str(err.value) == (
            '.sparkwing/sparkwing.yaml:7: hidden in pipeline "aaa" must be true or false, '
            "got int 3")


def test_unwritable_home_still_loads(cfg, monkeypatch) -> None:
    blocker = cfg.tmp / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("SPARKWING_HOME", str(blocker))
    cfg.write_project("pipelines:\n  - {name: aaa, entrypoint: 'p:f'}\n")
    assert [p.name for p in load_project(cfg.repo).pipelines] == ["aaa"]
