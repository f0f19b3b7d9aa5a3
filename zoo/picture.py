"""Images and maps handed to the drawing functions (``zoo.overlay``, ``zoo.visualize``) as RGB
PIL images and numpy arrays. torch is never imported: tensors are recognised by their
``detach`` method."""

from __future__ import annotations

from typing import Any

from zoo.errors import ArgumentError


def to_numpy(x: Any):
    """An array of ``x`` (array, list or tensor); floating tensors come as float32 (numpy has
    no bfloat16)."""
    import numpy as np

    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = (x.float() if x.is_floating_point() else x).numpy()
    return np.asarray(x)


def to_rgb(image: Any):
    """An RGB ``PIL.Image`` of a PIL image, an (H, W) / (H, W, 3|4) array, or a (C, H, W) tensor;
    uint8 values are taken as they are, float values in [0, 1] are scaled to [0, 255]. A float
    image of which more than 1% is negative is refused: it was normalised by mean/std (the
    model's input, not the picture), and drawn it came out nearly black."""
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    is_tensor = hasattr(image, "detach")
    array = to_numpy(image)
    if is_tensor and array.ndim == 3 and array.shape[0] in (1, 3, 4):  # (C, H, W) -> (H, W, C)
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ArgumentError(f"image must be (H, W), (H, W, 3) or a (C, H, W) tensor, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ArgumentError("image holds NaN or Inf values, which have no colour; pass the image as loaded")
        if (array < 0).mean() > 0.01:  # a little overshoot (bicubic resizing) is clipped below
            raise ArgumentError(f"image has negative values (min {array.min():.3g}): it looks normalised by "
                                "mean/std, the model's input; pass the image before normalisation (values in "
                                "[0, 1], or 0-255), e.g. the tensor you normalised")
        if array.max(initial=0.0) <= 1.0:
            array = array * 255.0
        array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")
