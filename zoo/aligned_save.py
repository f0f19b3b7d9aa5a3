"""Writing safetensors files whose tensors start at 64-byte aligned offsets.

Why: a tensor read from a safetensors file is a view into the file's memory map, at the
file's own offset. ``zoo.safetensors_file.load_file`` copies every tensor that does not start 64-byte
aligned (some CPU kernels round differently on unaligned memory, so outputs after a round
trip would not be bit-identical); the copy costs a pass over the data and fresh pages. The
standard writer packs tensors back to back after an 8-byte-aligned header, so most tensors
land unaligned. This writer pads the header with spaces (allowed by the format) so that the
data starts 64-byte aligned, and stores first the tensors whose byte size is a multiple of
64 (most conv and linear weights), so those all stay aligned and load without a copy. The
result is an ordinary safetensors file: any reader loads it.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from pathlib import Path

import torch

ALIGNMENT = 64

_DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint64: "U64", torch.uint32: "U32", torch.uint16: "U16", torch.uint8: "U8",
    torch.bool: "BOOL", torch.complex64: "C64", torch.complex128: "C128",
}


def save_file(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``state`` to ``path`` as safetensors, aligned as the module docstring says.

    The file is written next to ``path`` and renamed into place, so a crash never leaves a
    partial file. Tensors sharing memory are refused, as ``safetensors.torch.save_file`` does.
    """
    tensors = {name: t.detach().cpu().contiguous() for name, t in state.items()}
    _refuse_shared(state)
    order = sorted(tensors, key=lambda name: (_nbytes(tensors[name]) % ALIGNMENT != 0, name))
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name in order:
        t = tensors[name]
        if t.dtype not in _DTYPE_NAMES:
            raise ValueError(f"tensor {name!r}: dtype {t.dtype} cannot be stored in safetensors")
        header[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + _nbytes(t)]}
        offset += _nbytes(t)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % ALIGNMENT)

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # open() keeps the umask's permissions
    try:
        with open(tmp, "xb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for name in order:
                f.write(tensors[name].reshape(-1).view(torch.uint8).numpy().tobytes())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _refuse_shared(state: dict[str, torch.Tensor]) -> None:
    owners: dict[int, str] = {}
    for name, t in state.items():
        if t.numel() == 0:
            continue
        ptr = t.untyped_storage().data_ptr()
        if ptr in owners:
            raise ValueError(f"tensors {owners[ptr]!r} and {name!r} share memory (tied weights?); store one "
                             "copy of each, e.g. with .clone()")
        owners[ptr] = name
