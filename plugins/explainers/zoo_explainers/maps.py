"""Post-processing shared by the methods: upsampling to the input size and min-max scaling."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) -> (N, H, W), bilinear (the Grad-CAM paper's choice)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (H, W) map to [0, 1]; a constant map becomes all zeros, never NaN."""
    flat = maps.flatten(1)
    low = flat.min(1).values[:, None, None]
    span = flat.max(1).values[:, None, None] - low
    ok = span > 0
    return torch.where(ok, (maps - low) / torch.where(ok, span, torch.ones_like(span)), torch.zeros_like(maps))
