"""The entry-point scan remembered under SPARKWING_HOME, and rescanned when an install changes."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from sparkwing.plugins import epcache
from sparkwing.plugins.entrypoints import entry_points

OLD_NS = 1_600_000_000 * 10**9  # 2020: long settled


def _dist(base: Path, name: str, version: str, text: str) -> Path:
    d = base / f"{name}-{version}.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    (d / "entry_points.txt").write_text(text)
    return d


def _age(*paths: Path) -> None:
    """Date *paths* back, as an installation that has been still for a while."""
    for p in paths:
        os.utime(p, ns=(OLD_NS, OLD_NS))


def _site(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    site, home = tmp_path / "site", tmp_path / "home"
    home.mkdir()
    a = _dist(site, "alpha", "1.0", "[sparkwing]\nalpha = alpha_mod\n[console_scripts]\nal = a:m\n")
    b = _dist(site, "beta", "2.0", "[pytest11]\nbeta = beta_mod\n")
    _dist(site, "gamma", "3.0", "[console_scripts]\ng = g:m\n")
    _age(a / "entry_points.txt", b / "entry_points.txt",
         site / "gamma-3.0.dist-info" / "entry_points.txt", site)
    return site, home, [str(site)]


def _names(found: list) -> list[tuple[str, str, str]]:
    return sorted((e.name, e.value, e.version) for e in found)


def test_a_second_lookup_is_answered_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    _, home, path = _site(tmp_path)
    first = epcache.cached_entry_points("sparkwing", home, path)
    assert _names(first) == [("alpha", "alpha_mod", "1.0")] == _names(entry_points("sparkwing", path))
    cache = home / epcache.CACHE_NAME
    assert cache.is_file()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600

    def no_scan(*args: object) -> object:
        raise AssertionError("scanned although nothing changed")

    monkeypatch.setattr(epcache, "scan", no_scan)
    assert _names(epcache.cached_entry_points("sparkwing", home, path)) == _names(first)


def test_a_new_distribution_is_found(tmp_path: Path) -> None:
    site, home, path = _site(tmp_path)
    epcache.cached_entry_points("sparkwing", home, path)
    _dist(site, "delta", "0.1", "[sparkwing]\ndelta = delta_mod\n")  # changes site's mtime
    assert [n for n, _, _ in _names(epcache.cached_entry_points("sparkwing", home, path))] == [
        "alpha", "delta"]


def test_a_removed_distribution_is_gone(tmp_path: Path) -> None:
    site, home, path = _site(tmp_path)
    epcache.cached_entry_points("sparkwing", home, path)
    d = site / "alpha-1.0.dist-info"
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    assert epcache.cached_entry_points("sparkwing", home, path) == []


def test_an_entry_points_file_edited_in_place_is_read_again(tmp_path: Path) -> None:
    site, home, path = _site(tmp_path)
    epcache.cached_entry_points("sparkwing", home, path)
    listing = site / "beta-2.0.dist-info" / "entry_points.txt"
    listing.write_text("[sparkwing]\nbeta = beta_mod\n")  # same directory entries, new content
    assert [n for n, _, _ in _names(epcache.cached_entry_points("sparkwing", home, path))] == [
        "alpha", "beta"]


def test_each_group_and_path_has_its_own_entry(tmp_path: Path) -> None:
    _, home, path = _site(tmp_path)
    assert _names(epcache.cached_entry_points("sparkwing", home, path)) == [
        ("alpha", "alpha_mod", "1.0")]
    assert _names(epcache.cached_entry_points("pytest11", home, path)) == [
        ("beta", "beta_mod", "2.0")]
    assert _names(epcache.cached_entry_points("sparkwing", home, path)) == [
        ("alpha", "alpha_mod", "1.0")]
    assert epcache.cached_entry_points("sparkwing", home, [str(tmp_path / "elsewhere")]) == []
    entries = json.loads((home / epcache.CACHE_NAME).read_text())["entries"]
    assert len(entries) == 3


def test_a_fresh_change_is_not_remembered(tmp_path: Path) -> None:
    """Within RACY_S of a change, a later change could keep the same time stamp."""
    site, home, path = _site(tmp_path)
    _dist(site, "delta", "0.1", "[sparkwing]\ndelta = delta_mod\n")  # site's mtime is now
    found = epcache.cached_entry_points("sparkwing", home, path)
    assert sorted(e.name for e in found) == ["alpha", "delta"]
    assert not (home / epcache.CACHE_NAME).exists()


def test_a_broken_cache_file_is_scanned_over(tmp_path: Path) -> None:
    _, home, path = _site(tmp_path)
    for text in ["{not json", '{"format": 1, "entries": []}', '{"format": 99, "entries": {}}',
                 json.dumps({"format": 1, "entries": {
                     "\0".join([sys.executable, "sparkwing", *path]): {
                         "dirs": [[OLD_NS, 4096]], "files": "x", "found": 3}}})]:
        (home / epcache.CACHE_NAME).write_text(text)
        assert _names(epcache.cached_entry_points("sparkwing", home, path)) == [
            ("alpha", "alpha_mod", "1.0")]


def test_no_home_or_a_read_only_one_only_scans(tmp_path: Path) -> None:
    _, home, path = _site(tmp_path)
    missing = tmp_path / "no-home"
    assert _names(epcache.cached_entry_points("sparkwing", missing, path)) == [
        ("alpha", "alpha_mod", "1.0")]
    assert not missing.exists()
    home.chmod(0o500)
    try:
        if os.access(home, os.W_OK):  # root ignores modes: a file in the way instead
            home.chmod(0o700)
            (home / epcache.CACHE_NAME).mkdir()
        assert _names(epcache.cached_entry_points("sparkwing", home, path)) == [
            ("alpha", "alpha_mod", "1.0")]
    finally:
        home.chmod(0o700)


def test_the_real_environment_agrees_with_a_fresh_scan(tmp_path: Path) -> None:
    cached = epcache.cached_entry_points("sparkwing", tmp_path)
    again = epcache.cached_entry_points("sparkwing", tmp_path)
    assert _names(cached) == _names(again) == _names(entry_points("sparkwing"))
