"""zoo.cache_dir: one folder for the zoo's own cached data, moved by ZOO_CACHE_DIR, trusted only when private."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zoo import aligned_copies, checked_files, hub_server
from zoo.cache_dir import contents, is_private, private_folder, switched_off, zoo_cache_dir


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


def test_a_home_relative_zoo_cache_dir_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ZOO_CACHE_DIR", "~/zoo-cache")  # quoted in a shell or an .env file: no shell expansion
    assert zoo_cache_dir() == tmp_path / "zoo-cache"


@pytest.mark.parametrize("value, off", [("0", True), ("false", True), ("OFF", True), (" No ", True), ("False", True),
                                        ("1", False), ("", False), ("yes", False)])
def test_a_switch_is_off_however_the_user_spells_off(monkeypatch, value, off):
    monkeypatch.setenv("ZOO_REMEMBER_CHECKS", value)
    assert switched_off("ZOO_REMEMBER_CHECKS") is off
    assert (checked_files.record_dir() is None) is off


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a folder away")
def test_a_folder_of_another_user_is_not_trusted(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    folder = private_folder("checked")
    os.chown(folder, os.getuid() + 1, -1)  # mode 0700 still, but another user could forge records in it
    assert not is_private(folder) and private_folder("checked") is None


def test_contents_counts_a_linked_file_once(monkeypatch, tmp_path):
    """``hub-serve/`` holds a huggingface_hub cache: snapshot links point at blobs."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    blob = tmp_path / "cache" / "hub-serve" / "blobs" / "abc"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"0123456789")
    link = tmp_path / "cache" / "hub-serve" / "snapshots" / "c0ffee" / "model.safetensors"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)
    assert contents() == [("hub-serve", 1, 10)]
