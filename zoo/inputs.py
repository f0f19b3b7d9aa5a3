"""Validation of image batches, so bad input fails with a clear message at the model's door
instead of a shape error deep inside a convolution."""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError


class InputError(ZooError, ValueError):
    """An input tensor does not have the shape or dtype the model expects."""


def check_image_batch(x: Any, *, in_chans: int, min_size: int = 1, owner: str = "model",
                      dtype: Any = None) -> None:
    """Raise :class:`InputError` unless ``x`` is a non-empty float (N, in_chans, H, W) tensor with
    H, W >= ``min_size``, of ``dtype`` when given (see :func:`weights_dtype`)."""
    import torch
    import torch.fx

    if isinstance(x, torch.fx.Proxy):  # torch.fx traces the model (torchvision's feature extraction): no values
        return  # to check, as timm's models check nothing under tracing either
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{owner}: expected a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.ndim == 3 else ""
        raise InputError(f"{owner}: expected a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}.{hint}")
    if x.shape[0] == 0:
        raise InputError(f"{owner}: got an empty batch (N=0), shape {tuple(x.shape)}")
    _check_pixels(x, in_chans=in_chans, min_size=min_size, prefix=owner)
    check_dtype(x, dtype, owner)


def check_finite_images(x: Any, owner: str) -> None:
    """Raise :class:`InputError` naming the images of the (N, ...) batch ``x`` that hold NaN or Inf
    values (or for a batch on the meta device, which holds none). Models take them; an explanation
    of one means nothing (the outputs are NaN, and each method fails its own way: saliency a
    plausible map, Grad-CAM zeros, integrated gradients NaN)."""
    import torch

    if x.device.type == "meta":
        raise InputError(f"{owner}: the images are on the meta device, which holds no values to explain; pass "
                         "real images")
    finite = torch.isfinite(x).flatten(1).all(1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten().tolist()
        raise InputError(f"{owner}: image(s) {', '.join(map(str, bad[:10]))} of the batch hold NaN or Inf values, "
                         "which make every explanation meaningless; check the preprocessing")


def check_image(image: Any, *, in_chans: int, min_size: int = 1, owner: str = "model",
                where: str = "image", dtype: Any = None) -> None:
    """Raise :class:`InputError` unless ``image`` is one float (in_chans, H, W) tensor with
    H, W >= ``min_size``, of ``dtype`` when given: what torchvision's detection models take, in a list."""
    import torch

    if not isinstance(image, torch.Tensor):
        raise InputError(f"{owner}: {where} must be a torch.Tensor of shape (C, H, W), got {type(image).__name__}")
    if image.ndim != 3:
        hint = " Pass a list of images, one (C, H, W) tensor each." if image.ndim == 4 else ""
        raise InputError(f"{owner}: {where} must be 3-D (C, H, W), got shape {tuple(image.shape)}.{hint}")
    _check_pixels(image, in_chans=in_chans, min_size=min_size, prefix=f"{owner}: {where}")
    check_dtype(image, dtype, f"{owner}: {where}", one_image=True)


def weights_dtype(module: Any) -> Any:
    """The dtype of ``module``'s first floating-point parameter (None if it has none): what its
    input must be, unless autocast converts it. The first one only, so that a forward pass can
    afford to ask; an explainer, called once per batch, asks all of them and checks only a model
    whose float parameters agree (``zoo_explainers.base.check_model_dtype``)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), None)


def check_dtype(x: Any, dtype: Any, owner: str, *, one_image: bool = False) -> None:
    """An :class:`InputError` for a float tensor that is not ``dtype`` (None: anything goes), before
    torch's "expected scalar type Double but found Float" from deep inside a layer. Under autocast,
    which converts between float32 and half precision itself (never float64), those go too.
    ``one_image``: ``x`` is one image of a list (the advice then casts each image)."""
    import torch

    if dtype is None or not x.is_floating_point() or x.dtype == dtype:
        return
    if torch.float64 not in (x.dtype, dtype) and _autocast_enabled(x.device.type):
        return  # autocast converts between float32 and half precision, never to or from float64
    method = {torch.float32: "float", torch.float64: "double", torch.float16: "half", torch.bfloat16: "bfloat16"}
    cast = f".{method[dtype]}()" if dtype in method else f".to({dtype})"
    back = f"model.{method[x.dtype]}()" if x.dtype in method else f"model.to({x.dtype})"
    advice = (f"cast each image with [image{cast} for image in images]" if one_image
              else f"cast the batch with images{cast}")
    raise InputError(f"{owner}: the images are {x.dtype} but the model's parameters are {dtype}; "
                     f"{advice} (or the model with {back})")


def _autocast_enabled(device_type: str) -> bool:
    import torch

    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 asks per device kind
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _check_pixels(x, *, in_chans: int, min_size: int, prefix: str) -> None:
    """dtype, channel count (dim -3) and size (the last two dims) of an image or a batch."""
    import torch

    if x.layout != torch.strided:
        raise InputError(f"{prefix}: expected a dense tensor, got layout {x.layout}; convert with x.to_dense()")
    if not x.is_floating_point():
        fix = {torch.bool: "x.float()"}.get(x.dtype, "x.real (or x.abs())" if x.is_complex() else "x.float() / 255")
        raise InputError(f"{prefix}: expected a floating-point tensor, got {x.dtype}; convert with {fix}.")
    c, h, w = x.shape[-3:]
    if c == 0:
        raise InputError(f"{prefix}: the images have no channels (shape {tuple(x.shape)}); expected {in_chans}")
    if c != in_chans:
        raise InputError(f"{prefix}: expected {in_chans} input channels, got {c} (shape {tuple(x.shape)}); "
                         f"create the model with in_chans={c} or convert the images.")
    if h < min_size or w < min_size:
        raise InputError(f"{prefix}: expected images of at least {min_size}x{min_size}, got {h}x{w}; resize or "
                         f"pad them to at least {min_size}x{min_size}.")
