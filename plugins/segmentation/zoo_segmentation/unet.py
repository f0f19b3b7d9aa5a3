"""U-Net: Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (arXiv:1505.04597).

A contracting path of conv blocks and 2x2 max-pooling, an expanding path that upsamples and
concatenates the encoder feature map of the same resolution (the skip), then a 1x1 classifier.
Differences from the paper, as in most modern re-implementations: 'same' (padded) convolutions
instead of valid ones, so no cropping of skips is needed; BatchNorm after every conv; no dropout at
the end of the contracting path; He (fan-out) init of the convs, where the paper draws with the
fan-in, and the transposed up-convolutions keep PyTorch's default init; widths and depth
configurable (the paper is ``base_width=64, depth=4``). Inputs of any size >= 16 are
padded (edge repeated) to a multiple of ``2**depth`` and the logits cropped back. In training, a batch of
one image no larger than ``2**depth`` px on both sides (16x16 for ``depth=4``) would give
BatchNorm a 1x1 bottleneck, so it is padded one ``2**depth`` wider (a 1x2 bottleneck).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from zoo.inputs import check_image_batch, weights_dtype
from zoo_segmentation.errors import ModelConfigError
from zoo_segmentation.layers import (
    MIN_INPUT_SIZE,
    check_positive_ints,
    conv_stack,
    crop_to,
    init_weights,
    pad_for_batch_statistics,
    pad_to_multiple,
)

UPSAMPLE_MODES = ("transposed", "bilinear")
MAX_DEPTH = 10


class Up(nn.Module):
    """Double the resolution of ``x`` and halve its channels: (N, C, h, w) -> (N, C/2, 2h, 2w).

    ``"transposed"`` is the paper's learned 2x2 up-convolution; ``"bilinear"`` is a fixed bilinear
    resize followed by a 1x1 conv (fewer parameters, no checkerboard artefacts).
    """

    def __init__(self, in_chs: int, out_chs: int, mode: str = "transposed"):
        super().__init__()
        if mode == "transposed":
            self.up = nn.ConvTranspose2d(in_chs, out_chs, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_chs, out_chs, kernel_size=1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class DecoderBlock(nn.Module):
    """Upsample, concatenate the skip, two convs: (N, 2c, h, w) + skip (N, c, 2h, 2w) -> (N, c, 2h, 2w)."""

    def __init__(self, in_chs: int, skip_chs: int, out_chs: int, mode: str, batch_norm: bool = True):
        super().__init__()
        self.up = Up(in_chs, skip_chs, mode)
        self.conv = conv_stack(2 * skip_chs, out_chs, 2, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """U-Net for semantic segmentation: (N, in_chans, H, W) -> logits (N, num_classes, H, W).

    Args:
        num_classes: output channels (classes).
        in_chans: input channels.
        base_width: channels of the first block; each of the ``depth`` poolings doubles them.
        depth: number of 2x2 poolings (the bottleneck runs at stride ``2**depth``).
        upsample: ``"transposed"`` (learned, as in the paper) or ``"bilinear"``.
        batch_norm: BatchNorm after each conv (not in the 2015 paper, but standard since).
    """

    def __init__(self, num_classes: int = 21, in_chans: int = 3, base_width: int = 16, depth: int = 4,
                 upsample: str = "transposed", batch_norm: bool = True):
        super().__init__()
        check_positive_ints("unet", num_classes=num_classes, in_chans=in_chans, base_width=base_width,
                            depth=depth)
        if depth > MAX_DEPTH:  # widths double per pooling: depth 40 asked for terabytes, and took the machine
            raise ModelConfigError(f"unet: depth must be at most {MAX_DEPTH} (inputs are padded to a multiple of "
                                   f"2**depth, and the bottleneck has base_width * 2**depth channels), got {depth}")
        if upsample not in UPSAMPLE_MODES:
            raise ModelConfigError(f"unet: upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.depth = depth
        widths = [base_width * 2**i for i in range(depth + 1)]  # e.g. 16, 32, 64, 128, 256

        self.stem = conv_stack(in_chans, widths[0], 2, batch_norm)  # stride 1
        self.pool = nn.MaxPool2d(2)
        # down[i]: stride 2**i -> 2**(i+1), widths[i] -> widths[i+1]; the last one is the bottleneck
        self.down = nn.ModuleList([conv_stack(widths[i], widths[i + 1], 2, batch_norm) for i in range(depth)])
        # up[i] goes back from stride 2**(depth-i) to 2**(depth-i-1)
        self.up = nn.ModuleList([
            DecoderBlock(widths[i + 1], widths[i], widths[i], upsample, batch_norm)
            for i in reversed(range(depth))
        ])
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, in_chans=self.in_chans, min_size=MIN_INPUT_SIZE, owner=type(self).__name__,
                          dtype=weights_dtype(self))
        height, width = x.shape[-2:]
        x = pad_to_multiple(x, 2**self.depth)
        if self.training:  # the bottleneck's BatchNorm runs at stride 2**depth
            x = pad_for_batch_statistics(x, 2**self.depth, self.down[-1])

        skips = [self.stem(x)]  # [(N, w0, H, W), (N, w1, H/2, W/2), ...]
        for block in self.down:
            skips.append(block(self.pool(skips[-1])))
        x = skips.pop()  # bottleneck, (N, w_depth, H/2**depth, W/2**depth)
        for block in self.up:
            x = block(x, skips.pop())
        return crop_to(self.head(x), height, width)


def unet(num_classes: int = 21, in_chans: int = 3, **kwargs) -> UNet:
    """Builder used by the ``unet*`` registry names (their defaults differ only in widths/depth)."""
    return UNet(num_classes=num_classes, in_chans=in_chans, **kwargs)
