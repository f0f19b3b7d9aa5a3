"""``zoo.overlay(image, map)``: an explanation map drawn over its image as a heat map.

The colormap is matplotlib's, the resizing and blending Pillow's. Importing this module is
cheap (numpy, Pillow and matplotlib are imported on first use), and it never imports torch:
tensors are recognised by their ``detach``/``cpu``/``numpy`` methods.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ArgumentError
from zoo.picture import to_numpy, to_rgb


def overlay(image: Any, heatmap: Any, *, alpha: float = 0.5, cmap: str | None = None, normalize: bool = True,
            symmetric: bool | None = None):
    """Blend ``heatmap`` (H, W) over ``image`` and return an RGB ``PIL.Image``.

    Args:
        image: a PIL image, an (H, W) / (H, W, C) array (uint8, or float in [0, 1]), or a
            (C, H, W) / (H, W) tensor in [0, 1]; pass the image before mean/std normalisation.
        heatmap: (H, W) array or tensor, e.g. one map from ``zoo.explain``; it is resized
            (bilinear) to the image's size when they differ.
        alpha: opacity of the heat map (0: only the image, 1: only the heat map).
        cmap: a matplotlib colormap name; default ``"jet"``, or ``"bwr"`` for a signed map.
        normalize: min-max scale the map first (a constant map is drawn as zeros); False
            clips it to [0, 1] instead.
        symmetric: scale a signed map (e.g. integrated gradients) by its largest magnitude so
            that zero sits in the middle of the colormap (negative below, positive above).
            Default: when the map has both signs and ``normalize`` is on.
    """
    import matplotlib
    import numpy as np
    from PIL import Image

    if not 0.0 <= alpha <= 1.0:
        raise ArgumentError(f"alpha must be in [0, 1], got {alpha}")
    base = to_rgb(image)
    values = to_numpy(heatmap).astype(np.float32)
    bad = int((~np.isfinite(values)).sum())
    if bad:  # drawn, one Inf flattened the rest of the map and NaN looked like the lowest value
        raise ArgumentError(f"heatmap holds {bad} NaN/Inf value(s), which have no colour: the explanation failed "
                            "there; pass a finite map (np.nan_to_num(map) or map.nan_to_num() to draw it anyway)")
    while values.ndim > 2 and values.shape[0] == 1:  # (1, H, W) or (1, 1, H, W); never H or W of 1
        values = values[0]
    if values.ndim == 3 and values.shape[-1] == 1:  # channel-last (H, W, 1)
        values = values[..., 0]
    if values.ndim != 2:
        raise ArgumentError(f"heatmap must be (H, W), got shape {values.shape}; pass one map, e.g. maps[0]")
    if symmetric is None:
        symmetric = normalize and values.min() < 0 < values.max()
    if symmetric:
        scale = np.abs(values).max()
        values = 0.5 + 0.5 * values / scale if scale > 0 else np.full_like(values, 0.5)
    elif normalize:
        low, span = values.min(), values.max() - values.min()
        values = (values - low) / span if span > 0 else np.zeros_like(values)
    values = np.clip(values, 0.0, 1.0)
    if values.shape != (base.height, base.width):
        values = np.asarray(Image.fromarray(values, mode="F").resize(base.size, Image.BILINEAR))
    if cmap is None:
        cmap = "bwr" if symmetric else "jet"
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ArgumentError(f"unknown matplotlib colormap {cmap!r}, e.g. 'jet', 'viridis', 'inferno'") from None
    heat = Image.fromarray(colormap(np.clip(values, 0.0, 1.0), bytes=True)[..., :3])
    return Image.blend(base, heat, alpha)
