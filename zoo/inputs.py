"""Validation of image batches, so bad input fails with a clear message at the model's door
instead of a shape error deep inside a convolution."""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError


class InputError(ZooError, ValueError):
    """An input tensor does not have the shape or dtype the model expects."""


def check_image_batch(x: Any, *, in_chans: int, min_size: int = 1, owner: str = "model") -> None:
    """Raise :class:`InputError` unless ``x`` is a non-empty float (N, in_chans, H, W) tensor with
    H, W >= ``min_size``."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise InputError(f"{owner} expects a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.ndim == 3 else ""
        raise InputError(f"{owner} expects a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise InputError(f"{owner} expects a floating-point tensor, got {x.dtype}; convert with x.float() / 255.")
    n, c, h, w = x.shape
    if n == 0:
        raise InputError(f"{owner} got an empty batch (N=0), shape {tuple(x.shape)}")
    if c != in_chans:
        raise InputError(f"{owner} expects {in_chans} input channels, got {c} (shape {tuple(x.shape)}); "
                         f"create the model with in_chans={c} or convert the images.")
    if h < min_size or w < min_size:
        raise InputError(f"{owner} needs images of at least {min_size}x{min_size}, got {h}x{w}")
