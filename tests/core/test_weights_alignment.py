"""Loaded tensors sit in 64-byte aligned memory, so a safetensors round trip is bit-identical
(unaligned views into the file's buffer send some CPU kernels down another path)."""

import torch
from safetensors.torch import save_file

from zoo.weights import load_file


def test_loaded_tensors_are_aligned(tmp_path):
    # odd-sized tensors push the following ones to offsets that are not multiples of 64
    state = {f"t{i}": torch.randn(3 + i, 5) for i in range(8)}
    state["odd"] = torch.arange(3, dtype=torch.int8)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    loaded = load_file(path)
    for key, tensor in loaded.items():
        assert tensor.data_ptr() % 64 == 0, key
        assert torch.equal(tensor, state[key])
