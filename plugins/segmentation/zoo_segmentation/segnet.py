"""SegNet: Badrinarayanan, Kendall, Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", TPAMI 2017 (arXiv:1511.00561, 2015).

What makes it SegNet: each encoder stage ends in a 2x2 max-pooling that remembers *where* each
maximum came from (``return_indices=True``), and the matching decoder stage upsamples with
``MaxUnpool2d`` using those indices: every value goes back to the position of the maximum it came
from and everything else is zero; the decoder's convolutions then densify that sparse map. There
is no skip concatenation and no learned upsampling. The paper's encoder is VGG-16's 13 convs
(``widths=(64, 128, 256, 512, 512), depths=(2, 2, 3, 3, 3)``); the default here is a narrower,
shallower one that trains on a CPU. One difference at any width: the last decoder stage keeps
``widths[0]`` channels and a 1x1 classifier follows, where the paper's last 3x3 conv outputs the
class scores itself (one conv more here).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from zoo.inputs import check_image_batch, weights_dtype
from zoo_segmentation.errors import ModelConfigError
from zoo_segmentation.layers import (
    MIN_INPUT_SIZE,
    ConvBNReLU,
    check_positive_int_sequences,
    check_positive_ints,
    conv_stack,
    crop_to,
    init_weights,
    pad_to_multiple,
)


class EncoderStage(nn.Module):
    """Convs then 2x2 max-pool: (N, c_in, h, w) -> ((N, c, h/2, w/2), indices of the same shape)."""

    def __init__(self, in_chs: int, out_chs: int, num_convs: int, batch_norm: bool = True):
        super().__init__()
        self.conv = conv_stack(in_chs, out_chs, num_convs, batch_norm)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, return_indices=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pool(self.conv(x))


class DecoderStage(nn.Module):
    """Unpool with the encoder's indices, then convs: (N, c_in, h, w) -> (N, c_out, 2h, 2w).

    The first ``num_convs - 1`` convs keep ``in_chs`` channels, the last maps to ``out_chs``
    (the width of the next, shallower, stage), mirroring the encoder.
    """

    def __init__(self, in_chs: int, out_chs: int, num_convs: int, batch_norm: bool = True):
        super().__init__()
        self.unpool = nn.MaxUnpool2d(kernel_size=2, stride=2)
        self.conv = nn.Sequential(
            *[ConvBNReLU(in_chs, in_chs, batch_norm=batch_norm) for _ in range(num_convs - 1)],
            ConvBNReLU(in_chs, out_chs, batch_norm=batch_norm),
        )

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return self.conv(self.unpool(x, indices))


class SegNet(nn.Module):
    """SegNet for semantic segmentation: (N, in_chans, H, W) -> logits (N, num_classes, H, W).

    Args:
        num_classes: output channels (classes).
        in_chans: input channels.
        widths: channels of each encoder stage (one 2x2 pooling per stage).
        depths: convs per stage (same length as ``widths``); the decoder mirrors them.
        batch_norm: BatchNorm after each conv (as in the paper).
    """

    def __init__(self, num_classes: int = 21, in_chans: int = 3, widths: Sequence[int] = (16, 32, 64, 128),
                 depths: Sequence[int] = (2, 2, 3, 3), batch_norm: bool = True):
        super().__init__()
        check_positive_ints("segnet", num_classes=num_classes, in_chans=in_chans)
        check_positive_int_sequences("segnet", widths=widths, depths=depths)
        widths, depths = tuple(widths), tuple(depths)
        if len(widths) != len(depths):
            raise ModelConfigError(f"segnet: widths {widths} and depths {depths} must have the same length "
                                   "(one entry per encoder stage)")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.num_stages = len(widths)

        in_widths = (in_chans,) + widths[:-1]
        self.encoder = nn.ModuleList([
            EncoderStage(c_in, c, n, batch_norm) for c_in, c, n in zip(in_widths, widths, depths)
        ])
        # decoder[i] undoes encoder[-1 - i]; the last one keeps widths[0] channels for the classifier
        out_widths = (widths[0],) + widths[:-1]
        self.decoder = nn.ModuleList([
            DecoderStage(c, c_out, n, batch_norm)
            for c, c_out, n in reversed(list(zip(widths, out_widths, depths)))
        ])
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, in_chans=self.in_chans, min_size=MIN_INPUT_SIZE, owner=type(self).__name__,
                          dtype=weights_dtype(self))
        height, width = x.shape[-2:]
        # every pooling must see an even size so that unpooling restores it exactly
        x = pad_to_multiple(x, 2**self.num_stages)

        indices = []
        for stage in self.encoder:
            x, idx = stage(x)  # (N, c, h/2, w/2) twice
            indices.append(idx)
        for stage in self.decoder:
            x = stage(x, indices.pop())
        return crop_to(self.head(x), height, width)


def segnet(num_classes: int = 21, in_chans: int = 3, **kwargs) -> SegNet:
    """Builder used by the ``segnet*`` registry names."""
    return SegNet(num_classes=num_classes, in_chans=in_chans, **kwargs)
