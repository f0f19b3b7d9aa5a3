"""Where an encoder's feature pixels sit on its input: the grid FCN's upsampling must land on.

Pixel j of a stride-s feature map is centred at input pixel s*j + a_s. Two offsets cover the
common encoders, and FCN has an upsampling for each:

* ``CELL_CENTRED``, a_s = (s-1)/2, the centre of the pixel's s x s cell: every strided layer is a
  non-overlapping window (VGG's 2x2 max-pooling; the patchify stem and 2x2 downsampling of
  ConvNeXt);
* ``CORNER_ALIGNED``, a_s = 0: every strided layer is a symmetrically padded odd window (3x3 convs
  and max-pooling with padding 1, a 7x7 stem with padding 3, 1x1 shortcuts), as in ResNets,
  RegNets, MobileNets and EfficientNets.

:func:`measure_offsets` reads a_s off the encoder itself, without computing anything: one forward
pass on the meta device (``torch.func.functional_call`` with meta stand-ins for the parameters and
buffers, so no state changes), with hooks on the strided convolutions and poolings. A layer with
kernel k, stride s and left padding p, on an input grid of stride t and offset a_t, centres its
output pixel j at t*(s*j + (k-1)/2 - p) + a_t. The first layer that produces a stride sets its
offset: a residual block's main path runs before its shortcut.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import torch
import torch.nn as nn

CELL_CENTRED = "cell-centred"
CORNER_ALIGNED = "corner-aligned"
GRIDS = (CELL_CENTRED, CORNER_ALIGNED)

_STRIDED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
_PROBE_SIZE = 64  # a multiple of 32, as FCN pads its inputs: 'same' layers then pad as in use


def grid_offset(grid: str, stride: int) -> float:
    """a_s of a grid: where pixel 0 of a stride-``stride`` map is centred."""
    return (stride - 1) / 2 if grid == CELL_CENTRED else 0.0


def measure_offsets(encoder: nn.Module, in_chans: int) -> dict[int, tuple[float, float]]:
    """{stride: (a_s along the height, along the width)} for each stride a hooked layer produces.

    Strides reached otherwise (a reshape, a strided linear layer) are missing. Raises whatever the
    encoder raises on the meta device.
    """
    offsets: dict[int, tuple[float, float]] = {1: (0.0, 0.0)}

    def record(module, inputs, output):
        size_in, size_out = inputs[0].shape[-2:], output.shape[-2:]
        t = _PROBE_SIZE // size_in[0]
        if t not in offsets or _PROBE_SIZE // size_in[1] != t:
            return
        shifts = [_layer_shift(module, axis, size_in[axis], size_out[axis]) for axis in (0, 1)]
        strides = [_pair(module.stride)[axis] for axis in (0, 1)]
        if strides[0] == strides[1]:
            offsets.setdefault(t * strides[0], tuple(a + t * d for a, d in zip(offsets[t], shifts)))

    meta = {name: torch.empty_like(tensor, device="meta")
            for name, tensor in itertools.chain(encoder.named_parameters(), encoder.named_buffers())}
    handles = [m.register_forward_hook(record) for m in encoder.modules()
               if isinstance(m, _STRIDED) and max(_pair(m.stride)) > 1]
    try:
        with torch.no_grad():
            torch.func.functional_call(encoder, meta, (torch.empty(1, in_chans, _PROBE_SIZE, _PROBE_SIZE,
                                                                   device="meta"),))
    finally:
        for handle in handles:
            handle.remove()
    del offsets[1]
    return offsets


def grid_of(offsets: dict[int, tuple[float, float]], strides: Sequence[int]) -> str | None:
    """The grid whose offsets ``offsets`` has at every stride in ``strides``, or None."""
    for grid in GRIDS:
        if all(offsets.get(s) == (grid_offset(grid, s),) * 2 for s in strides):
            return grid
    return None


def _layer_shift(module: nn.Module, axis: int, size_in: int, size_out: int) -> float:
    """(k-1)/2 - p along one axis, in the layer's input pixels: how far its output pixel j sits
    from input pixel s*j. Layers that pad themselves ('same' padding computed at run time, as in
    timm's Conv2dSame) are recognised by their output size and pad as TensorFlow does."""
    kernel, stride = _pair(module.kernel_size)[axis], _pair(module.stride)[axis]
    dilation = _pair(getattr(module, "dilation", 1))[axis]
    padding = module.padding if not isinstance(module.padding, str) else 0  # 'valid'
    padding = _pair(padding)[axis]
    span = dilation * (kernel - 1) + 1
    if (size_in + 2 * padding - span) // stride + 1 != size_out:
        padding = max((size_out - 1) * stride + span - size_in, 0) // 2
    return (span - 1) / 2 - padding


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)
