"""``zoo cache``: shows what the zoo keeps in ZOO_CACHE_DIR; ``--clear`` removes the derived data only."""

from __future__ import annotations

import torch
from safetensors.torch import save_file

from zoo import aligned_copies, checked_files
from zoo.cache_dir import zoo_cache_dir
from zoo.cli import main
from zoo.safetensors_file import load_file


def test_cache_lists_then_clears_the_derived_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)  # the file below is written just now
    monkeypatch.setattr(aligned_copies, "MIN_UNALIGNED_BYTES", 1024)
    path = tmp_path / "foreign.safetensors"
    save_file({"odd": torch.zeros(3), "w": torch.randn(64, 64)}, str(path))  # "w" lands unaligned
    load_file(path, aligned_copy=True)  # writes a record (checked/) and a copy (aligned/)
    (zoo_cache_dir() / "hub-serve").mkdir()
    (zoo_cache_dir() / "hub-serve" / "config.toml").write_text("x")

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(zoo_cache_dir()) in out
    assert f"downloaded weights: not here, in the Hugging Face cache {tmp_path / 'hf-hub'}" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:] if line and line[0].isalpha()}
    assert rows["checked"] == "1" and rows["aligned"] == "1" and rows["hub-serve"] == "1"

    assert main(["cache", "--clear"]) == 0
    out = capsys.readouterr().out
    assert "removed" in out and "aligned" not in out.split("zoo cache:")[1]
    assert not (zoo_cache_dir() / "checked").exists() and not (zoo_cache_dir() / "aligned").exists()
    assert (zoo_cache_dir() / "hub-serve" / "config.toml").read_text() == "x"
    checked_files.forget_all()
    assert torch.equal(load_file(path, aligned_copy=True)["w"], load_file(path)["w"])  # rebuilt as needed


def test_a_cache_folder_that_is_a_file_is_an_error_not_an_empty_cache(tmp_path, monkeypatch, capsys):
    (tmp_path / "cachefile").write_text("")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cachefile"))
    for args in (["cache"], ["cache", "--clear"]):
        assert main(args) == 3
        assert "is a file, not a folder: point ZOO_CACHE_DIR at a folder" in capsys.readouterr().err


def test_cache_works_whatever_huggingface_hubs_settings_say(monkeypatch, capsys):
    """A setting huggingface_hub cannot read is `zoo download`'s to report; `zoo cache` (which
    downloads nothing) still lists the zoo's own folders."""
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1.5")  # huggingface_hub reads whole seconds only
    assert main(["cache"]) == 0
    assert "downloaded weights: not here, in the Hugging Face cache (" in capsys.readouterr().out
