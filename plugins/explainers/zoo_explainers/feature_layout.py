"""Reading a captured layer output as an (N, C, h, w) feature map.

CAM-family methods weight channels over a spatial grid. Convolutions give that grid as NCHW,
but other layers do not:

- timm models declare the layout of ``forward_features`` in ``model.output_fmt``: Swin gives
  NHWC (N, h, w, C), which read as NCHW would be a silently wrong map; an undeclared output that
  fits the image only as NHWC (torchvision's Swin stages) is an error asking for the declaration;
- transformers give tokens (N, L, C): the model's first ``num_prefix_tokens`` (class and
  register tokens) are not on the grid, the rest are the patches row by row.

A :class:`Layout` turns such an output into an NCHW map, and builds the tensor the network
goes on with *from that map*, so the gradient with respect to the map is the gradient the
network really used (and an in-place op downstream cannot overwrite the captured map).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from zoo.errors import ZooError


class LayerError(ZooError, ValueError):
    """The target layer does not exist or does not produce a feature map."""


class Layout(NamedTuple):
    """``kind`` is "NCHW", "NHWC" or "NLC" (tokens: ``prefix`` leading tokens, then ``grid``)."""

    kind: str
    prefix: int = 0
    grid: tuple[int, int] = (0, 0)

    def to_map(self, output: torch.Tensor) -> torch.Tensor:
        """The (N, C, h, w) map held in ``output``."""
        if self.kind == "NHWC":
            return output.permute(0, 3, 1, 2)
        if self.kind == "NLC":
            patches = output[:, self.prefix:]
            return patches.transpose(1, 2).reshape(output.shape[0], output.shape[2], *self.grid)
        return output

    def spatial_size(self, output: torch.Tensor) -> tuple[int, int]:
        """(h, w) of the map held in ``output``."""
        if self.kind == "NHWC":
            return tuple(output.shape[1:3])
        return self.grid if self.kind == "NLC" else tuple(output.shape[2:])

    def from_map(self, feature_map: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """A new tensor laid out like ``output``, its grid part computed from ``feature_map``."""
        if self.kind == "NHWC":
            return feature_map.permute(0, 2, 3, 1).clone()
        if self.kind == "NLC":
            patches = feature_map.flatten(2).transpose(1, 2)
            return torch.cat([output[:, :self.prefix], patches], dim=1)
        return feature_map.clone()


def declared_format(model: nn.Module, module: nn.Module | None) -> str | None:
    """The layout timm declares (``output_fmt``) for ``module``'s output, else for the model's.

    ``module=None`` means ``forward_features``. A convolution's output is NCHW whatever the
    model declares (Swin's patch embedding convolution sits inside an NHWC model).
    """
    if isinstance(module, nn.modules.conv._ConvNd):
        return "NCHW"
    for owner in (module, model):
        fmt = getattr(owner, "output_fmt", None)
        if fmt is not None:
            return str(getattr(fmt, "value", fmt))
    return None


def _looks_channels_last(shape: torch.Size, image_size: tuple[int, int]) -> bool:
    """True when (N, A, B, C) fits the image as an A x B grid (one stride for both axes, within
    2x) but not as a B x C one: a channels-last output that nothing declared."""

    def fits(h: int, w: int) -> bool:
        return 0.5 <= (image_size[0] / h) / (image_size[1] / w) <= 2

    return fits(shape[1], shape[2]) and not fits(shape[2], shape[3])


def token_grid(tokens: int, image_size: tuple[int, int]) -> tuple[int, int] | None:
    """(h, w) with h * w == tokens and h / w as close as possible to the image's aspect ratio."""
    height, width = image_size
    h = max(1, round(math.sqrt(tokens * height / width)))
    for candidate in (h, h - 1, h + 1):
        if candidate > 0 and tokens % candidate == 0:
            return candidate, tokens // candidate
    return None


def _prefix_hint(tokens: int, image_size: tuple[int, int]) -> str:
    """For a model that does not declare ``num_prefix_tokens`` (torchvision's ViT has a class
    token but no such attribute): how many leading tokens to declare so the rest form a grid."""
    for prefix in range(1, min(tokens, 9)):
        grid = token_grid(tokens - prefix, image_size)
        if grid is not None:
            return (f"with model.num_prefix_tokens = {prefix} (timm's attribute) the other {tokens - prefix} "
                    f"would form a {grid[0]}x{grid[1]} grid: set it if the model puts {prefix} class or "
                    "register tokens first; or ")
    return ""


def detect(model: nn.Module, module: nn.Module | None, output: object, name: str,
           image_size: tuple[int, int]) -> Layout:
    """How to read ``output`` (of ``module``, or of ``forward_features`` when None) as a map.

    A map of a single location (1x1) is refused: it cannot say where anything is.
    """
    layout = _layout(model, module, output, name, image_size)
    height, width = layout.spatial_size(output)
    if height * width == 1:
        raise LayerError(f"target layer {name} gives a 1x1 map for a {image_size[0]}x{image_size[1]} input, "
                         "so it cannot show where the evidence is; use larger images or an earlier layer "
                         "(target_layer=)")
    return layout


def _layout(model: nn.Module, module: nn.Module | None, output: object, name: str,
            image_size: tuple[int, int]) -> Layout:
    if isinstance(output, torch.Tensor) and output.ndim == 4:
        declared = declared_format(model, module)
        if declared is None and _looks_channels_last(output.shape, image_size):
            n, a, b, c = output.shape
            raise LayerError(f"target layer {name} returned {tuple(output.shape)}: read as (N, C, h, w) that is a "
                             f"{b}x{c} map for a {image_size[0]}x{image_size[1]} input, while as channels-last "
                             f"(N, h, w, C) it would be {a}x{b}. Declare which with output_fmt = 'NHWC' (or 'NCHW') on "
                             f"that module (timm's attribute; on the model, for all its layers), or choose "
                             f"another with target_layer=")
        return Layout("NHWC" if declared == "NHWC" else "NCHW")
    if isinstance(output, torch.Tensor) and output.ndim == 3:
        declared = getattr(model, "num_prefix_tokens", None)
        prefix = declared if isinstance(declared, int) and 0 <= declared < output.shape[1] else 0
        grid = token_grid(output.shape[1] - prefix, image_size)
        if grid is not None:
            return Layout("NLC", prefix, grid)
        hint = _prefix_hint(output.shape[1], image_size) if declared is None else ""
        raise LayerError(f"target layer {name} returned {output.shape[1]} tokens ({prefix} prefix tokens) "
                         f"that do not form a grid for a {image_size[0]}x{image_size[1]} input; "
                         f"{hint}choose another with target_layer=")
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
    raise LayerError(f"target layer {name} returned {shape}, not a feature map ((N, C, h, w), NHWC as "
                     "the model declares in output_fmt, or (N, tokens, C)); choose another with target_layer=")
