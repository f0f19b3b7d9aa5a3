"""Hostile and broken local weight files: each is refused with a clear error naming the file.

Nothing is unpickled (a pickle that would create a marker file when loaded never does), and
no model is returned half-loaded.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import struct
import warnings

import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo.errors import WeightsError
from zoo.testing.hub_fixture import register_hubtest, seeded_state
from zoo.safetensors_file import load_file, read_header


@pytest.fixture
def arch():
    register_hubtest({})
    return "hubtest_seg"


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(seeded_state(0), str(path))
    return path


def raw_file(path, header: dict, data: bytes):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def split(path):
    """(header dict, data bytes) of a safetensors file."""
    content = path.read_bytes()
    (n,) = struct.unpack("<Q", content[:8])
    return json.loads(content[8:8 + n]), content[8 + n:]


class _Trap:
    """Unpickling this creates a file: proof that something ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def refused(arch, path, *needles):
    with pytest.raises(WeightsError) as info:
        zoo.create(arch, weights=path)
    message = str(info.value)
    assert str(path) in message or path.name in message, message
    for needle in needles:
        assert needle.lower() in message.lower(), message
    return message


def test_good_file_loads_strictly_in_eval_mode(arch, good):
    model = zoo.create(arch, weights=good)
    assert not model.training
    assert not any(t.is_meta for t in model.state_dict().values())
    for key, value in seeded_state(0).items():
        assert torch.equal(model.state_dict()[key], value)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".tar"])
def test_pickle_suffixes_are_refused_unopened(arch, tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(_Trap(marker)))
    refused(arch, path, "convert it to safetensors")
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_numpy_files_are_refused_unopened_without_being_called_pickles(arch, tmp_path, suffix):
    """An .npy of numbers was refused as ".npy files are pickles", which it is not."""
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"never read")
    refused(arch, path, f"{suffix} is NumPy's format, not safetensors")
    refused(arch, path, "safetensors.numpy.save_file")


@pytest.mark.parametrize("protocol", [0, 1, 2, 4])  # 0 and 1 have no \x80 marker: "header claims" before
def test_pickle_renamed_to_safetensors(arch, tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(_Trap(marker), protocol=protocol))
    refused(arch, path, "pickle", "never unpickles", "convert it to safetensors")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_a_legacy_torch_save_renamed_to_safetensors(arch, tmp_path, protocol):
    """torch.save without the zip format: at protocol 0/1 it starts with a text LONG (its magic
    number) and ends with raw storage bytes, so neither the \\x80 marker nor pickle's STOP is there."""
    path = tmp_path / "model.safetensors"
    torch.save(seeded_state(0), path, pickle_protocol=protocol, _use_new_zipfile_serialization=False)
    refused(arch, path, "pickle", "never unpickles")


def test_a_header_cut_after_a_dot_is_truncated_not_a_pickle(tmp_path):
    """A header whose length starts with '(' (a protocol-0 pickle's first opcode), cut after a '.'
    (pickle's STOP), looked like a pickle; its 9th byte, '{', says safetensors."""
    path = tmp_path / "model.safetensors"
    for pad in range(300):
        save_file({"features.0.weight": torch.zeros(2)}, str(path), metadata={"pad": "x" * pad})
        data = path.read_bytes()
        if data[:1] == b"(":
            break
    path.write_bytes(data[:data.index(b".", 8) + 1])
    with pytest.raises(WeightsError, match="its header claims") as info:
        read_header(path)
    assert "pickle" not in str(info.value)


def test_a_link_is_judged_by_the_file_it_names_and_reported_by_its_own_name(arch, tmp_path):
    """latest.safetensors -> ckpt.pt holding safetensors loads (the suffix checked is the name
    given); a dangling link is reported under its own name."""
    real = tmp_path / "ckpt.pt"
    save_file(seeded_state(0), str(real))
    link = tmp_path / "latest.safetensors"
    link.symlink_to(real)
    assert torch.equal(zoo.create(arch, weights=link).stem.weight, seeded_state(0)["stem.weight"])
    real.unlink()
    assert "latest.safetensors: no such weights file" in refused(arch, link, "no such weights file")


def test_a_file_rewritten_during_the_load_is_refused(arch, tmp_path, monkeypatch):
    """A writer still at work: the header checked and the tensors read would not be one file."""
    import zoo.safetensors_file

    path = tmp_path / "model.safetensors"
    save_file(seeded_state(0), str(path))
    read = zoo.safetensors_file._read_tensors

    def rewrite_then_read(file, shown):
        state = seeded_state(1)
        state["stem.weight"][0, 0, 0, 0] = float("nan")
        save_file(state, str(path))
        return read(file, shown)

    monkeypatch.setattr(zoo.safetensors_file, "_read_tensors", rewrite_then_read)
    refused(arch, path, "the file changed while it was read")


def test_a_link_moved_between_the_plan_and_the_load_loads_the_planned_file(arch, tmp_path, monkeypatch):
    """The plan (keys, kinds) was made on one file and the tensors read from the other: an int32
    tensor where the model has float32 was cast silently."""
    import zoo.weights

    good, other = tmp_path / "good.safetensors", tmp_path / "other.safetensors"
    save_file(seeded_state(0), str(good))
    state = seeded_state(0)
    state["stem.weight"] = (state["stem.weight"] * 100).to(torch.int32)
    save_file(state, str(other))
    latest = tmp_path / "latest.safetensors"
    latest.symlink_to(good)
    plan = zoo.weights._plan

    def plan_then_flip(*args, **kwargs):
        result = plan(*args, **kwargs)
        latest.unlink()
        latest.symlink_to(other)
        return result

    monkeypatch.setattr(zoo.weights, "_plan", plan_then_flip)
    assert torch.equal(zoo.create(arch, weights=latest).stem.weight, seeded_state(0)["stem.weight"])


def test_a_pipe_is_refused_unopened(arch, tmp_path):
    """A FIFO (or /dev/zero) was called 'no such weights file'; opening a FIFO would block."""
    path = tmp_path / "model.safetensors"
    os.mkfifo(path)
    message = refused(arch, path, "not a regular file")
    assert "no such" not in message


def test_torch_save_checkpoint_renamed_to_safetensors(arch, tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save(seeded_state(0), str(path))
    refused(arch, path, "zip archive")


def test_zero_byte_file(arch, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    refused(arch, path, "empty (0 bytes)")


def test_file_shorter_than_a_header(arch, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x10\x00\x00")
    refused(arch, path, "truncated")


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_file(arch, good, keep):
    content = good.read_bytes()
    good.write_bytes(content[: int(len(content) * keep)])
    refused(arch, good, "truncated")


def test_header_length_larger_than_the_file(arch, good):
    content = good.read_bytes()
    good.write_bytes(struct.pack("<Q", len(content) * 10) + content[8:])
    refused(arch, good, "header claims")


def test_header_is_not_json(arch, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 6) + b"{nope}" + b"\0" * 8)
    refused(arch, path, "not valid JSON")


@pytest.mark.parametrize("header, message", [
    (b'{"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}', "unknown dtype ['F32']"),
    (b'{"w": {"dtype": {}, "shape": [1], "data_offsets": [0, 4]}}', "unknown dtype {}"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # a RecursionError in json
    (b'{"w": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}', "not valid JSON"),
])
def test_a_hostile_header_is_a_weights_error_not_a_python_one(tmp_path, header, message):
    """Found by fuzzing: a list as dtype raised TypeError (unhashable), deep nesting RecursionError,
    a 5000-digit int Python's digit-limit ValueError; the hub then kept such a file in its cache."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(WeightsError, match=re.escape(message)):
        read_header(path)


def test_header_lies_about_a_tensor_size(arch, good):
    header, data = split(good)
    header["stem.weight"]["shape"] = [8, 3, 3, 4]  # more elements than its byte range holds
    raw_file(good, header, data)
    refused(arch, good, "lies about tensor 'stem.weight'")


def test_header_lies_about_offsets(arch, good):
    header, data = split(good)
    first, second = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])[:2]
    size = header[second]["data_offsets"][1] - header[second]["data_offsets"][0]
    header[second]["data_offsets"] = [0, size]  # overlaps the first tensor
    raw_file(good, header, data)
    refused(arch, good, "overlaps")


def test_unknown_dtype_in_header(arch, good):
    header, data = split(good)
    header["stem.weight"]["dtype"] = "F128"
    raw_file(good, header, data)
    refused(arch, good, "unknown dtype 'F128'")


def test_file_much_larger_than_its_header_says(arch, good):
    with open(good, "ab") as f:
        f.write(os.urandom(1 << 20))
    refused(arch, good, "larger than its header describes")


def test_wrong_dtype_kind_is_refused(arch, tmp_path):
    state = seeded_state(0)
    state["stem.weight"] = (state["stem.weight"] * 100).to(torch.int32)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    refused(arch, path, "wrong dtype kind", "'stem.weight': file I32 vs model float32")


def test_half_precision_weights_are_cast_to_the_model_dtype(arch, tmp_path):
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in seeded_state(0).items()}
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    model = zoo.create(arch, weights=path)
    assert model.stem.weight.dtype == torch.float32
    assert torch.equal(model.stem.weight, state["stem.weight"].float())


def test_double_values_the_model_dtype_cannot_hold_are_refused(arch, tmp_path):
    """1e300 is finite in a float64 file and Inf once cast to the model's float32: it was loaded."""
    state = {k: (v.double() if v.is_floating_point() else v) for k, v in seeded_state(0).items()}
    state["head.bias"][0] = 1e300
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    refused(arch, path, "too large for the model's dtype", "'head.bias' (torch.float64 -> torch.float32)")
    state["head.bias"][0] = 0.5
    save_file(state, str(path))
    assert zoo.create(arch, weights=path).head.bias[0].item() == 0.5


def test_a_link_moved_during_a_load_never_gives_the_other_files_tensors(arch, tmp_path, monkeypatch):
    """A trainer's latest.safetensors link flipped to a NaN checkpoint between the checks and the
    read: the zoo read the NaN file but trusted the NaN/Inf scan remembered for the good one."""
    import zoo.safetensors_file

    good, bad = tmp_path / "good.safetensors", tmp_path / "bad.safetensors"
    save_file(seeded_state(0), str(good))
    state = seeded_state(1)
    state["stem.weight"][0, 0, 0, 0] = float("nan")
    save_file(state, str(bad))
    latest = tmp_path / "latest.safetensors"
    latest.symlink_to(good)
    zoo.create(arch, weights=latest)  # the good file's scan is now remembered
    read = zoo.safetensors_file._read_tensors

    def flip_then_read(path, shown):
        latest.unlink()
        latest.symlink_to(bad)
        return read(path, shown)

    monkeypatch.setattr(zoo.safetensors_file, "_read_tensors", flip_then_read)
    model = zoo.create(arch, weights=latest)  # the file the checks saw, not the one the link names now
    assert torch.equal(model.stem.weight, seeded_state(0)["stem.weight"])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_refused(arch, tmp_path, bad):
    state = seeded_state(0)
    state["bn.running_mean"][2] = bad
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    refused(arch, path, "NaN or Inf", "bn.running_mean")
    # the explicit opt-out of the low-level reader still sees the value
    assert not torch.isfinite(load_file(path, allow_nonfinite=True)["bn.running_mean"]).all()


def test_missing_unexpected_and_mis_shaped_keys_are_listed_together(arch, tmp_path):
    state = seeded_state(0)
    del state["bn.weight"]
    state["extra.weight"] = torch.zeros(2)
    state["head.weight"] = torch.zeros(3, 4, 1, 1)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    message = refused(arch, path, "missing (1): 'bn.weight'", "unexpected (1): 'extra.weight'",
                      "mis-shaped (1): 'head.weight': file [3, 4, 1, 1] vs model [3, 8, 1, 1]")
    assert message.startswith(str(path))


def test_tensor_names_are_quoted_so_an_empty_or_blank_name_is_visible(arch, tmp_path):
    state = seeded_state(0)
    state[""], state[" "] = torch.zeros(1), torch.zeros(1)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    refused(arch, path, "unexpected (2): '', ' '")
    state = seeded_state(0)
    state["bn.running_mean"][0] = float("nan")
    save_file(state, str(path))
    refused(arch, path, "NaN or Inf values: 'bn.running_mean'")


def test_weights_for_another_head_without_a_tag_are_refused_not_adapted(arch, tmp_path):
    # weights= with a bare arch has no pretrained config to adapt from: strict.
    path = tmp_path / "model.safetensors"
    save_file(seeded_state(0, num_classes=5), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused(arch, path, "mis-shaped")


def test_missing_file(arch, tmp_path):
    refused(arch, tmp_path / "absent.safetensors", "no such weights file")
    with pytest.raises(FileNotFoundError) as info:  # what open() and torch.load raise, as they raise it
        zoo.create(arch, weights=tmp_path / "absent.safetensors")
    assert info.value.errno == errno.ENOENT and info.value.filename == str(tmp_path / "absent.safetensors")


def test_read_header_reads_no_tensor_data(good):
    entries = read_header(good)
    assert entries["stem.weight"].shape == (8, 3, 3, 3) and entries["stem.weight"].dtype == "F32"


def test_a_file_that_is_no_weights_file_says_to_check_the_path_before_fetching_again(tmp_path):
    """`zoo predict ... --weights image.png` was told to delete its own image and fetch it again."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    with pytest.raises(WeightsError, match=r"not safetensors\)\. Check that the path names the weights file; if it "
                                           r"is a download, delete it and fetch it again\."):
        read_header(path)
