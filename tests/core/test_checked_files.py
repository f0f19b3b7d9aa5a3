"""zoo.checked_files: answers about a file are reused only while the file is provably unchanged."""

from __future__ import annotations

import os
import time

import pytest
import torch
from safetensors.torch import save_file

from zoo import checked_files
from zoo import weights as zoo_weights
from zoo.errors import WeightsError


@pytest.fixture
def no_racy_window(monkeypatch):
    """Remember answers for files written just now (the tests' files are all fresh)."""
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)
    checked_files.forget_all()
    yield
    checked_files.forget_all()


def _tick():
    time.sleep(0.05)  # past the file system's timestamp tick, so a rewrite gets new times


def test_answer_is_recalled_while_the_file_is_unchanged(tmp_path, no_racy_window):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    checked_files.remember(path, before, "check", "answer")
    assert checked_files.recall(checked_files.identity(path), "check") == "answer"
    assert checked_files.recall(checked_files.identity(path), "other check") is None


@pytest.mark.parametrize("change", ["rewrite same size", "replace", "append"])
def test_any_change_to_the_file_forgets_the_answer(tmp_path, no_racy_window, change):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    checked_files.remember(path, checked_files.identity(path), "check", "answer")
    _tick()
    if change == "rewrite same size":
        path.write_bytes(b"abd")
    elif change == "replace":
        (tmp_path / "g.bin").write_bytes(b"abc")
        os.replace(tmp_path / "g.bin", path)
    else:
        with open(path, "ab") as f:
            f.write(b"!")
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_file_changed_while_checked_is_not_remembered(tmp_path, no_racy_window):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    before = checked_files.identity(path)
    _tick()
    path.write_bytes(b"xyz")  # changed between the identity and the answer
    checked_files.remember(path, before, "check", "answer")
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_recently_changed_file_is_not_remembered(tmp_path, monkeypatch):
    # Within the racy window a rewrite could keep the same timestamps: nothing is remembered.
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 3600.0)
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    checked_files.remember(path, checked_files.identity(path), "check", "answer")
    assert checked_files.recall(checked_files.identity(path), "check") is None


def test_weights_file_is_scanned_once_and_again_after_it_changes(tmp_path, no_racy_window, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4)}, str(path))
    scans = []
    real_check = zoo_weights._check_finite
    monkeypatch.setattr(zoo_weights, "_check_finite", lambda *a: scans.append(a) or real_check(*a))
    zoo_weights.load_file(path)
    zoo_weights.load_file(path)
    assert len(scans) == 1

    _tick()
    save_file({"w": torch.tensor([1.0, float("nan"), 1.0, 1.0])}, str(path))  # same size, NaN inside
    with pytest.raises(WeightsError, match="NaN"):
        zoo_weights.load_file(path)
    assert len(scans) == 2


def test_header_is_parsed_again_after_the_file_changes(tmp_path, no_racy_window):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4)}, str(path))
    assert zoo_weights.read_header(path)["w"].shape == (4,)
    _tick()
    save_file({"v": torch.ones(4)}, str(path))
    assert list(zoo_weights.read_header(path)) == ["v"]
