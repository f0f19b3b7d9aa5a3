"""How an image file becomes a model's input: decoded, turned upright as its EXIF orientation says
(a phone stores a photo sideways and viewers show it upright, as the user sees it), resized to the
config's ``input_size``, scaled to [0, 1], then normalised with its ``mean``/``std`` (see
:mod:`zoo.model_config` for where the config comes from)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from zoo.errors import ImageFileError, ModelConfigError


def normalise(images, mean: float | Sequence[float] | None, std: float | Sequence[float] | None):
    """``(images - mean) / std`` per channel (dim -3) of a (C, H, W) image or an (N, C, H, W)
    batch, on its device and in its dtype; a None ``mean`` is 0, a None ``std`` 1."""
    import torch

    def per_channel(value, default):
        value = default if value is None else value
        return torch.as_tensor(value, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)

    return (images - per_channel(mean, 0.0)) / per_channel(std, 1.0)


@dataclasses.dataclass
class Preprocessing:
    """How an image file becomes the model's input."""

    in_chans: int
    mean: list[float]
    std: list[float]
    size: tuple[int, int] | None  # (H, W), None keeps each image's size

    @classmethod
    def from_config(cls, config: dict, in_chans: int, source: str | Path | None = None) -> "Preprocessing":
        """``source``: the file ``config`` was read from, named in its errors."""
        if in_chans not in (1, 3):
            raise ModelConfigError(f"image files are read as 1- or 3-channel images; this model takes {in_chans}")
        mean, std = channel_stats(config, in_chans, source)
        return cls(in_chans, mean, std, _input_size(config.get("input_size")))

    def load(self, path: Path):
        """(the image as RGB PIL for drawing, the model's float (C, H, W) tensor in [0, 1]), both
        upright as the file's EXIF orientation says."""
        import numpy as np
        import torch
        from PIL import Image, ImageOps, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im.load()
                upright = ImageOps.exif_transpose(_to_8_bit(_unpaletted(im)))
                source = upright.convert("L" if self.in_chans == 1 else "RGB")
        except Image.DecompressionBombError as exc:  # not an OSError
            raise ImageFileError(f"{path}: refused, too many pixels for an image ({exc})") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise ImageFileError(f"{path}: not an image Pillow can read ({exc})") from exc
        pixels = source
        if self.size is not None and (source.height, source.width) != self.size:
            pixels = source.resize((self.size[1], self.size[0]), Image.BILINEAR)
        array = np.asarray(pixels, dtype=np.float32) / 255.0
        x = torch.from_numpy(array).reshape(pixels.height, pixels.width, self.in_chans).permute(2, 0, 1)
        return source.convert("RGB"), x.contiguous()

    def normalise(self, x):
        return normalise(x, self.mean, self.std)


def channel_stats(config: dict, in_chans: int, source: str | Path | None = None) -> tuple[list[float], list[float]]:
    """The config's ``mean`` and ``std``, one value per channel of a model taking ``in_chans``
    (0 and 1 where it gives none); a :class:`ModelConfigError` (naming ``source``, the file the
    config came from, when given) where they fit neither the model nor the config's own channel
    count (see :func:`_per_channel`)."""
    size = config.get("input_size")
    declared = (("in_chans", config["in_chans"]) if config.get("in_chans")
                else ("input_size", int(size[0])) if isinstance(size, list) and len(size) == 3 else None)
    try:
        mean = _per_channel(_or(config.get("mean"), 0.0), in_chans, "mean", declared)  # null: the default
        std = _per_channel(_or(config.get("std"), 1.0), in_chans, "std", declared)
    except ModelConfigError as exc:
        if source is None:
            raise
        raise ModelConfigError(f"{source}: {exc}") from None
    return mean, std


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _per_channel(value: Any, in_chans: int, key: str, declared: tuple[str, int] | None = None) -> list[float]:
    """The config's ``mean`` or ``std`` for each of the model's ``in_chans`` channels.

    A model may be asked for another channel count than its config was written for (``--in-chans 1``
    on RGB weights: the stem's RGB filters are summed into one). Then the values are derived: one
    value, or equal ones, apply to any number of channels; three (RGB) become their average for one
    grey channel. Values that fit neither the model nor the config's own channel count
    (``declared``: ``("in_chans", C)`` or ``("input_size", C)`` from ``[C, H, W]``) are an error,
    not guessed at.
    """
    values = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    if declared is not None and len(values) not in (1, declared[1]):
        raise ModelConfigError(f"config {key} has {len(values)} values but its {declared[0]} says the model takes "
                               f"C = {declared[1]}; give one value per channel, or one for all")
    if len(values) == in_chans:
        return values
    if len(set(values)) == 1:
        return values[:1] * in_chans
    if len(values) == 3 and in_chans == 1:
        return [sum(values) / 3]
    raise ModelConfigError(f"config {key} has {len(values)} values but the model takes {in_chans} channels; "
                           f"give one value per channel, or one for all")


def _input_size(value: Any) -> tuple[int, int] | None:
    """``64``, ``[H, W]`` or timm-style ``[C, H, W]`` -> (H, W)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (int(value), int(value))
    values = [int(v) for v in value]
    if len(values) in (2, 3):
        return (values[-2], values[-1])
    raise ModelConfigError(f"config input_size must be N, [H, W] or [C, H, W], got {value!r}")


def _unpaletted(image):
    """A palette image with transparency as RGBA first, as Pillow asks (converting it straight to
    RGB or L warns, to the user, about a step that is the zoo's to take)."""
    return image.convert("RGBA") if image.mode == "P" and "transparency" in image.info else image


def _to_8_bit(image):
    """16-bit, 32-bit and float greyscale images scaled to 8 bits; Pillow's own ``convert("L")``
    clips them, so a 16-bit scan would come out almost white. Full scale: 65535 for integer
    images that fit in 16 bits, 1.0 for float images in [0, 1], else the image's maximum."""
    import numpy as np
    from PIL import Image

    if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image
    array = np.asarray(image, dtype=np.float64)
    peak = float(array.max()) if array.size else 0.0
    usual = 1.0 if image.mode == "F" else 65535.0
    full_scale = usual if peak <= usual else peak
    return Image.fromarray(np.clip(array / full_scale * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
