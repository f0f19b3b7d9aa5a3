"""Drawing predictions on images: class-colour overlays for semantic masks, and boxes, labels,
scores and masks for instances. Used by ``zoo predict``; plain functions for notebooks too.

Colours come from matplotlib colormaps (``tab10``/``tab20``, a resampled ``turbo`` beyond 20
classes) and all compositing is Pillow's; class ``i`` has the same colour in both functions.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zoo.errors import ArgumentError
from zoo.picture import to_numpy, to_rgb


def class_colours(num_classes: int) -> list[tuple[int, int, int]]:
    """One distinct RGB colour per class index, from a matplotlib colormap."""
    import matplotlib

    if num_classes <= 10:
        cmap, n = matplotlib.colormaps["tab10"], 10
    elif num_classes <= 20:
        cmap, n = matplotlib.colormaps["tab20"], 20
    else:
        cmap, n = matplotlib.colormaps["turbo"].resampled(num_classes), num_classes
    rgba = cmap(np.arange(num_classes) % n, bytes=True)
    return [tuple(int(v) for v in c[:3]) for c in rgba]


def overlay_segmentation(image: Any, mask: Any, class_names: Sequence[str], *, alpha: float = 0.5,
                         background: int | None = 0, legend: bool = True) -> Image.Image:
    """Blend a class colour over every pixel of ``image`` by its class in ``mask``.

    Args:
        image: a PIL image, an (H, W) / (H, W, 3) array (uint8, or float in [0, 1]), or a
            (C, H, W) tensor in [0, 1], as for ``zoo.overlay``.
        mask: (H, W) integer class indices (array or tensor), the image's size.
        class_names: one name per class index.
        alpha: opacity of the colours.
        background: the class left uncoloured (None colours every class).
        legend: draw a legend of the classes present in the top-left corner.

    Returns an RGB image of the input's size.
    """
    base = to_rgb(image)
    mask = to_numpy(mask).astype(np.int64)
    if mask.shape != (base.height, base.width):
        raise ArgumentError(f"mask shape {mask.shape} does not match the image size {(base.height, base.width)}")
    num_classes = max(len(class_names), int(mask.max(initial=0)) + 1)
    palette = np.array(class_colours(num_classes), dtype=np.uint8)
    coloured = Image.blend(base, Image.fromarray(palette[mask]), alpha)
    keep = mask != background if background is not None else np.ones_like(mask, dtype=bool)
    out = Image.composite(coloured, base, Image.fromarray(keep.astype(np.uint8) * 255))
    if legend:
        present = [int(c) for c in np.unique(mask) if background is None or c != background]
        _draw_legend(out, [(_name(class_names, c), tuple(palette[c])) for c in present])
    return out


def draw_instances(image: Any, prediction: Mapping[str, Any], class_names: Sequence[str], *,
                   score_threshold: float = 0.5, alpha: float = 0.45, mask_threshold: float = 0.5) -> Image.Image:
    """Draw each detection scoring at least ``score_threshold``: its mask, box and "name score".

    ``prediction`` is one element of a torchvision detection model's output: ``boxes`` (N, 4)
    xyxy in pixels of ``image``, ``labels`` (N,), ``scores`` (N,) and optionally ``masks``
    (N, 1, H, W) or (N, H, W) probabilities. Colours follow the class, as in
    :func:`overlay_segmentation`. Returns an RGB image of the input's size.
    """
    out = to_rgb(image)
    boxes = to_numpy(prediction["boxes"]).reshape(-1, 4)
    labels = to_numpy(prediction["labels"]).astype(np.int64).reshape(-1)
    scores = to_numpy(prediction.get("scores", np.ones(len(labels)))).reshape(-1)
    masks = prediction.get("masks")
    masks = None if masks is None else to_numpy(masks).reshape(len(labels), out.height, out.width)
    keep = np.flatnonzero(scores >= score_threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")][::-1]  # draw the best last, on top
    palette = class_colours(max(len(class_names), int(labels.max(initial=0)) + 1))

    if masks is not None:
        for i in keep:
            colour = Image.new("RGB", out.size, palette[labels[i]])
            inside = Image.fromarray((masks[i] >= mask_threshold).astype(np.uint8) * 255)
            out = Image.composite(Image.blend(out, colour, alpha), out, inside)

    draw = ImageDraw.Draw(out)
    font = _font(out)
    width = max(1, min(out.size) // 128)
    for i in keep:
        colour = palette[labels[i]]
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=width)
        text = f"{_name(class_names, labels[i])} {scores[i]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        ty = y0 - th - 2 if y0 - th - 2 >= 0 else y0  # above the box, or inside it at the top
        tx = min(max(x0, 0), max(out.width - tw - 2, 0))
        draw.rectangle([tx, ty, tx + tw + 2, ty + th + 2], fill=colour)
        draw.text((tx + 1 - left, ty + 1 - top), text, fill=_ink(colour), font=font)
    return out


def _draw_legend(image: Image.Image, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
    if not entries:
        return
    draw = ImageDraw.Draw(image, "RGBA")
    font = _font(image)
    line = max(draw.textbbox((0, 0), name, font=font)[3] for name, _ in entries) + 2
    swatch = max(line - 4, 4)
    text_w = max(draw.textlength(name, font=font) for name, _ in entries)
    draw.rectangle([0, 0, swatch + 6 + text_w + 4, line * len(entries) + 4], fill=(0, 0, 0, 140))
    for row, (name, colour) in enumerate(entries):
        y = 2 + row * line
        draw.rectangle([3, y + 2, 3 + swatch, y + 2 + swatch], fill=tuple(int(c) for c in colour))
        draw.text((swatch + 7, y), name, fill=(255, 255, 255), font=font)


def _font(image: Image.Image) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    size = int(np.clip(min(image.size) / 20, 8, 24))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType: the bitmap font
        return ImageFont.load_default()


def _ink(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on ``colour``."""
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _name(class_names: Sequence[str], index: int) -> str:
    return str(class_names[index]) if 0 <= index < len(class_names) else f"class {index}"
