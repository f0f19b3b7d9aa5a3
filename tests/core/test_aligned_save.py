"""zoo.aligned_save: an ordinary safetensors file whose tensors start 64-byte aligned where their sizes allow,
so zoo.safetensors_file.load_file can keep them as views of the file instead of copying them."""

import json
import struct

import pytest
import safetensors.torch
import torch

from zoo.aligned_save import save_file
from zoo.safetensors_file import load_file, read_header

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn, torch.int64,
          torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64]


def _state():
    state = {f"conv{i}.weight": torch.randn(16, 3 + i, 3, 3) for i in range(4)}  # 64-multiple sizes
    state.update({f"conv{i}.bias": torch.randn(5 + i) for i in range(4)})  # odd sizes
    state["bn.num_batches_tracked"] = torch.tensor(7)
    state.update({f"dtype.{str(d)[6:]}": torch.arange(6).to(d) for d in DTYPES})
    state["empty"] = torch.empty(0, 4)
    return state


def _data_start(path) -> int:
    with open(path, "rb") as f:
        return 8 + struct.unpack("<Q", f.read(8))[0]


def test_every_reader_gets_the_same_tensors_and_metadata(tmp_path):
    state = _state()
    path = tmp_path / "model.safetensors"
    save_file(state, path, metadata={"format": "pt"})
    for loaded in (safetensors.torch.load_file(str(path)), load_file(path)):
        assert set(loaded) == set(state)
        for key, value in state.items():
            assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key
    with safetensors.safe_open(str(path), "pt") as f:
        assert f.metadata() == {"format": "pt"}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


def test_tensors_whose_size_allows_start_aligned(tmp_path):
    state = _state()
    path = tmp_path / "model.safetensors"
    save_file(state, path)
    start = _data_start(path)
    assert start % 64 == 0
    for name, entry in read_header(path).items():
        if (entry.end - entry.begin) % 64 == 0:
            assert (start + entry.begin) % 64 == 0, name
    # and the loader keeps those as views of the file: same address as a plain safetensors read
    plain, zoo_loaded = safetensors.torch.load_file(str(path)), load_file(path)
    for i in range(4):
        key = f"conv{i}.weight"
        assert plain[key].data_ptr() % 64 == 0 and zoo_loaded[key].data_ptr() % 64 == 0


def test_the_standard_writer_leaves_them_unaligned(tmp_path):
    # the reason this writer exists: back-to-back packing after an 8-byte-aligned header
    path = tmp_path / "plain.safetensors"
    safetensors.torch.save_file(_state(), str(path))
    start = _data_start(path)
    assert any((start + e.begin) % 64 for e in read_header(path).values() if (e.end - e.begin) % 64 == 0)


def test_shared_tensors_are_refused_and_nothing_is_written(tmp_path):
    weight = torch.randn(4, 4)
    path = tmp_path / "model.safetensors"
    with pytest.raises(ValueError, match="share memory"):
        save_file({"a": weight, "b": weight}, path)
    assert list(tmp_path.iterdir()) == []


def test_header_is_plain_json_padded_with_spaces(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(3)}, path)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = raw[8:8 + n]
    assert (8 + n) % 64 == 0 and header.startswith(b"{")
    assert json.loads(header)["w"]["dtype"] == "F32"  # trailing spaces are valid JSON whitespace


def test_file_gets_the_usual_permissions(tmp_path):
    # like any file the process creates (umask applied), not a private temporary file's 0600
    path, plain = tmp_path / "model.safetensors", tmp_path / "plain.bin"
    save_file({"w": torch.ones(2)}, path)
    plain.write_bytes(b"")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_empty_tensors_are_not_taken_for_shared_memory(tmp_path):
    # every empty tensor reports the same (null) data pointer
    path = tmp_path / "model.safetensors"
    save_file({"a": torch.empty(0), "b": torch.empty(0, 3), "w": torch.ones(2)}, path)
    assert {k: v.shape for k, v in load_file(path).items()} == {"a": (0,), "b": (0, 3), "w": (2,)}


def test_a_dtype_safetensors_cannot_store_is_refused_by_name(tmp_path):
    with pytest.warns(UserWarning, match="ComplexHalf"):
        state = {"w": torch.zeros(2, dtype=torch.complex32)}
    with pytest.raises(ValueError, match="tensor 'w': dtype torch.complex32 cannot be stored"):
        save_file(state, tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path):
    (tmp_path / "model.safetensors").mkdir()  # the rename into place fails
    (tmp_path / "model.safetensors" / "keep").write_text("")
    with pytest.raises(OSError):
        save_file({"w": torch.ones(2)}, tmp_path / "model.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
