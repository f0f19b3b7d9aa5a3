"""zoo.cache_dir: one folder for the zoo's own cached data, moved by ZOO_CACHE_DIR, trusted only when private."""

from __future__ import annotations

from pathlib import Path

from zoo import aligned_copies, checked_files, hub_server
from zoo.cache_dir import is_private, private_folder, zoo_cache_dir


def test_default_is_under_the_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert zoo_cache_dir() == tmp_path / "visionzoo"


def test_zoo_cache_dir_moves_everything_the_zoo_keeps(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert checked_files.record_dir() == tmp_path / "elsewhere" / "checked"
    assert hub_server.default_cache_dir() == tmp_path / "elsewhere" / "hub-serve"
    assert private_folder("aligned") == tmp_path / "elsewhere" / "aligned"
    assert aligned_copies.find((1, 2, 3, 4, 5)) is None  # nothing there yet


def test_only_private_folders_are_trusted(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    folder = private_folder("checked")
    assert folder is not None and is_private(folder)
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o775)  # group-writable: someone else could plant records
    assert not is_private(folder) and private_folder("checked") is None
    assert not is_private(Path(tmp_path / "missing"))
