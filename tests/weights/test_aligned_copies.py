"""zoo.aligned_copies: a file with many unaligned tensors gets an aligned copy in the zoo cache on
its first load; later loads (in any process) map the copy instead of copying tensors, and only
while the source is unchanged and the copy holds the same tensors."""

from __future__ import annotations

import os
import sys
import time

import pytest
import torch
from safetensors.torch import load_file as safetensors_load
from safetensors.torch import save_file

from zoo import aligned_copies, checked_files
from zoo.cache_dir import zoo_cache_dir
from zoo.safetensors_file import load_file as zoo_load_file


def load_file(path):
    return zoo_load_file(path, aligned_copy=True)


@pytest.fixture
def settled_now(monkeypatch):
    """Treat files written just now as settled (the tests' files are all fresh)."""
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 0.0)
    monkeypatch.setattr(aligned_copies, "MIN_UNALIGNED_BYTES", 1024)
    checked_files.forget_all()
    yield
    checked_files.forget_all()


def _unaligned_file(path, seed=0):
    # one odd-sized tensor first pushes every following tensor off the 64-byte grid
    g = torch.Generator().manual_seed(seed)
    state = {"a_odd": torch.randn(3, generator=g), "conv.weight": torch.randn(64, 32, 3, 3, generator=g),
             "fc.weight": torch.randn(10, 64, generator=g), "fc.bias": torch.randn(10, generator=g)}
    save_file(state, str(path))
    return state


def _copies():
    folder = zoo_cache_dir() / "aligned"
    return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []


def _mapped_files() -> set[str]:
    with open("/proc/self/maps") as f:
        return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}


def _assert_same(loaded, state):
    assert set(loaded) == set(state)
    for key, tensor in loaded.items():
        assert tensor.data_ptr() % 64 == 0, key
        assert torch.equal(tensor, state[key]), key


def test_first_load_writes_an_aligned_copy_that_later_loads_map(tmp_path, settled_now):
    path = tmp_path / "foreign.safetensors"
    state = _unaligned_file(path)
    _assert_same(load_file(path), state)
    (copy,) = _copies()
    assert copy.name.startswith("-".join(map(str, checked_files.identity(path))))

    checked_files.forget_all()  # as a new process
    loaded = load_file(path)
    _assert_same(loaded, state)
    if sys.platform.startswith("linux"):
        assert str(copy) in _mapped_files()  # the tensors are the copy's pages, not copies in memory
    assert _copies() == [copy]


def test_changed_source_gets_a_new_copy_and_the_old_one_goes(tmp_path, settled_now):
    path = tmp_path / "foreign.safetensors"
    _unaligned_file(path, seed=0)
    load_file(path)
    (old,) = _copies()
    time.sleep(0.05)  # past the timestamp tick
    state = _unaligned_file(path, seed=1)  # same names and shapes, other values
    _assert_same(load_file(path), state)
    (new,) = _copies()
    assert new != old


def test_copy_that_does_not_match_its_source_is_discarded(tmp_path, settled_now):
    path = tmp_path / "foreign.safetensors"
    state = _unaligned_file(path)
    load_file(path)
    (copy,) = _copies()
    save_file({"something": torch.zeros(2)}, str(copy))  # a copy holding other tensors
    checked_files.forget_all()
    _assert_same(load_file(path), state)  # read from the source, not the bad copy
    (remade,) = _copies()  # and the bad copy replaced by a good one
    assert set(safetensors_load(str(remade))) == set(state)


def test_copy_in_a_folder_others_can_write_to_is_not_used(tmp_path, settled_now):
    path = tmp_path / "foreign.safetensors"
    state = _unaligned_file(path)
    load_file(path)
    (copy,) = _copies()
    save_file({k: torch.zeros_like(v) for k, v in state.items()}, str(copy))  # planted weights
    copy.parent.chmod(0o777)
    checked_files.forget_all()
    _assert_same(load_file(path), state)


def test_no_copy_when_switched_off_or_small_or_fresh(tmp_path, settled_now, monkeypatch):
    path = tmp_path / "foreign.safetensors"
    state = _unaligned_file(path)
    monkeypatch.setenv("ZOO_ALIGNED_COPIES", "0")
    _assert_same(load_file(path), state)
    assert _copies() == []

    monkeypatch.delenv("ZOO_ALIGNED_COPIES")
    monkeypatch.setattr(aligned_copies, "MIN_UNALIGNED_BYTES", 1 << 30)
    _assert_same(load_file(path), state)
    assert _copies() == []

    # a file changed within the racy window could be rewritten without a new identity: no copy
    monkeypatch.setattr(aligned_copies, "MIN_UNALIGNED_BYTES", 1024)
    monkeypatch.setattr(checked_files, "RACY_SECONDS", 3600.0)
    _assert_same(load_file(path), state)
    assert _copies() == []


def test_unwritable_cache_still_loads(tmp_path, settled_now, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(blocker))
    path = tmp_path / "foreign.safetensors"
    state = _unaligned_file(path)
    _assert_same(load_file(path), state)
    assert blocker.read_text() == ""


def test_aligned_file_gets_no_copy(tmp_path, settled_now):
    from zoo.aligned_save import save_file as aligned_save

    path = tmp_path / "ours.safetensors"
    state = {"conv.weight": torch.randn(64, 32, 3, 3), "fc.weight": torch.randn(16, 64)}
    aligned_save(state, path)
    _assert_same(load_file(path), state)
    assert _copies() == []
    assert os.path.getsize(path) > aligned_copies.MIN_UNALIGNED_BYTES


def test_local_files_get_no_copy_unless_asked(tmp_path, settled_now):
    # zoo.create(weights=path) files may be one checkpoint of many: a copy of each would fill the disk
    path = tmp_path / "checkpoint.safetensors"
    state = _unaligned_file(path)
    _assert_same(zoo_load_file(path), state)
    assert _copies() == []


def test_copies_of_deleted_files_go_when_the_next_copy_is_made(tmp_path, settled_now):
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    _unaligned_file(first)
    load_file(first)
    first.unlink()
    _unaligned_file(second, seed=1)
    load_file(second)
    (copy,) = _copies()
    assert copy.name.startswith("-".join(map(str, checked_files.identity(second))))


def test_half_written_copies_of_a_killed_process_go_when_the_next_copy_is_made(tmp_path, settled_now):
    # A SIGKILL while a copy was written left a hidden .tmp (40 MB for resnet18) that nothing removed.
    folder = zoo_cache_dir() / "aligned"
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh = folder / ".old.safetensors.dead.tmp", folder / ".new.safetensors.live.tmp"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"x" * 100)  # another process may be writing it right now
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    _unaligned_file(tmp_path / "w.safetensors")
    load_file(tmp_path / "w.safetensors")
    assert len(_copies()) == 1 and not stale.exists() and fresh.exists()


def test_switched_off_an_existing_copy_is_not_used_either(tmp_path, settled_now, monkeypatch):
    path = tmp_path / "foreign.safetensors"
    state = _unaligned_file(path)
    load_file(path)
    (copy,) = _copies()
    save_file({k: torch.zeros_like(v) for k, v in state.items()}, str(copy))  # planted weights
    monkeypatch.setenv("ZOO_ALIGNED_COPIES", "0")
    checked_files.forget_all()
    _assert_same(load_file(path), state)
