"""Pieces shared by the segmentation models: padding to a multiple of the output stride, and the
conv + BatchNorm + ReLU unit all three families are built from."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo_segmentation.errors import ModelConfigError

# Smallest H or W the models accept. The contract promises any H, W >= 32; we take strips down to
# 16 pixels (e.g. 97x31) because padding makes them work, and reject smaller inputs, which are
# almost always a mistake (a feature map or a thumbnail), with a clear InputError.
MIN_INPUT_SIZE = 16


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of an (N, C, H, W) batch so H and W divide ``multiple``, repeating
    the last row and column.

    An encoder that halves the resolution k times needs H, W divisible by 2**k for its decoder
    (skips, unpooling indices, fixed-stride upsampling) to line up again. Padding at the bottom and
    right keeps pixel (0, 0) in place, so :func:`crop_to` recovers the input grid. The edge is
    repeated rather than padded with zeros: black rows the model never saw in training cost a
    pretrained U-Net about 0.1 mIoU at 63x63 against 64x64, repeated ones almost nothing. Depends
    only on shapes, never on values, so it stays ``torch.export``-able (also with dynamic H, W).
    """
    h, w = x.shape[-2:]
    pad_h = (-h) % multiple
    pad_w = (-w) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height`` x ``width`` window of ``x`` (undoes :func:`pad_to_multiple`).

    A negative pad rather than a slice: the slice's view makes ``torch.export`` specialise the
    graph on whether any padding happened, a fresh tensor does not.
    """
    return F.pad(x, (0, width - x.shape[-1], 0, height - x.shape[-2]))


class ConvBNReLU(nn.Sequential):
    """3x3 (by default) 'same' convolution, BatchNorm, ReLU. The conv has no bias: BN adds one."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 3, batch_norm: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_chs))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def conv_stack(in_chs: int, out_chs: int, num_convs: int, batch_norm: bool = True) -> nn.Sequential:
    """``num_convs`` :class:`ConvBNReLU` units, the first mapping ``in_chs`` -> ``out_chs``."""
    return nn.Sequential(*[
        ConvBNReLU(in_chs if i == 0 else out_chs, out_chs, batch_norm=batch_norm) for i in range(num_convs)
    ])


def init_weights(module: nn.Module) -> None:
    """He (fan-out) init for convs, unit BN: the usual choice for ReLU nets trained from scratch."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_positive_ints(owner: str, **values) -> None:
    """Raise :class:`ModelConfigError` naming the argument unless each value is one int >= 1
    (a list for a scalar argument such as ``num_classes`` would otherwise reach ``nn.Conv2d``)."""
    for name, value in values.items():
        if not _positive_int(value):
            raise ModelConfigError(f"{owner}: {name} must be a positive int, got {value!r}")


def check_positive_int_sequences(owner: str, **values) -> None:
    """Raise :class:`ModelConfigError` naming the argument unless each value is a non-empty
    sequence (list, tuple, range) of ints >= 1 (per-stage arguments such as ``widths``, ``depths``)."""
    for name, value in values.items():
        if not (isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value)
                and all(map(_positive_int, value))):
            raise ModelConfigError(f"{owner}: {name} must be a non-empty sequence of positive ints "
                                   f"(one per stage), got {value!r}")


def pad_for_batch_statistics(x: torch.Tensor, stride: int, module: nn.Module) -> torch.Tensor:
    """Widen a lone padded image by ``stride`` more zero columns where training BatchNorm needs it.

    ``module`` runs at ``stride`` on ``x`` (already padded to a multiple of it), so a batch of one
    image of ``stride`` x ``stride`` reaches it as one value per channel, where a train-mode
    BatchNorm has no batch statistics (torch raises). With one more cell of padding its map is
    1x2; the caller crops the output to the input size as for any padding, so the result keeps
    the input's shape. Nothing changes in eval mode or for frozen BatchNorm.
    """
    if not any(m.training for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        return x
    return _widen_a_lone_image(x, stride)


@torch.fx.wrap  # torch.fx (torchvision's feature extraction) records a call: the sizes are known only when it runs
def _widen_a_lone_image(x: torch.Tensor, stride: int) -> torch.Tensor:
    n, _, h, w = x.shape
    if n != 1 or h > stride or w > stride:
        return x
    return F.pad(x, (0, stride))
