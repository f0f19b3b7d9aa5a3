"""Checks of detection inputs (a list of images, and targets when training).

torchvision's detection models fail on bad input with an assertion or a shape error deep in
the RPN; these checks fail first, with :class:`zoo.inputs.InputError` naming the image and
what to do about it.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from zoo.inputs import InputError, check_image

OWNER = "maskrcnn_mini"


def as_image_list(images: Any, *, in_chans: int, min_size: int = 8, dtype: Any = None) -> list[torch.Tensor]:
    """Validate ``images`` (of ``dtype`` when given) and return them as a list of (C, H, W) tensors.

    Accepts a list/tuple of (C, H, W) float tensors (torchvision's contract) or, for
    convenience, one (N, C, H, W) float tensor.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise InputError(f"{OWNER}: expected a list of (C, H, W) images or one (N, C, H, W) tensor, "
                             f"got a tensor of shape {tuple(images.shape)}")
        images = list(images.unbind(0))
    if not isinstance(images, (list, tuple)):
        raise InputError(f"{OWNER}: expected a list of (C, H, W) image tensors, got {type(images).__name__}")
    if len(images) == 0:
        raise InputError(f"{OWNER}: got an empty list of images; pass at least one (C, H, W) tensor")
    for i, image in enumerate(images):
        check_image(image, in_chans=in_chans, min_size=min_size, owner=OWNER, where=f"image {i}", dtype=dtype)
    return list(images)


def check_targets(targets: Any, images: list[torch.Tensor], *, head_classes: Mapping[str, int],
                  needs_masks: bool = True) -> None:
    """Raise :class:`InputError` unless ``targets`` fit torchvision's training contract.

    One dict per image with ``boxes`` (N, 4) float xyxy, ``labels`` (N,) int64 in
    [1, K - 1] (0 is the background) and ``masks`` (N, H, W). N may be 0. ``head_classes``
    gives K of each predictor the model has *now* (``{"box predictor": 6, ...}``), so a
    head replaced after building (torchvision's fine-tuning recipe) sets the bound; a label
    must fit every head. Empty: only labels < 1 are refused. ``needs_masks=False`` (the mask
    branch removed, as torchvision's ``RoIHeads.has_mask()`` tells): ``masks`` may be left out,
    and are checked only where given.
    """
    if targets is None:
        raise InputError(f"{OWNER}: in training mode it needs targets: model(images, targets), one dict per "
                         f"image with boxes, labels and masks; call model.eval() to predict instead")
    if not isinstance(targets, (list, tuple)) or len(targets) != len(images):
        got = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise InputError(f"{OWNER}: expected one target dict per image: {len(images)} images, got {got}")
    for i, (target, image) in enumerate(zip(targets, images)):
        where = f"target {i}"
        if not isinstance(target, dict):
            raise InputError(f"{OWNER}: {where} must be a dict with boxes, labels, masks; got {type(target).__name__}")
        required = ("boxes", "labels", "masks") if needs_masks else ("boxes", "labels")
        missing = [k for k in required if k not in target]
        if missing:
            trains_on = "boxes, labels and masks" if needs_masks else "boxes and labels (its mask branch is removed)"
            raise InputError(f"{OWNER}: {where} lacks {', '.join(missing)}; Mask R-CNN trains on {trains_on} "
                             f"(use zero-length tensors for an image without objects)")
        boxes, labels, masks = target["boxes"], target["labels"], target.get("masks")
        for key, value in (("boxes", boxes), ("labels", labels), ("masks", masks)):
            if not isinstance(value, torch.Tensor) and key in target:
                raise InputError(f"{OWNER}: {where}['{key}'] must be a tensor, got {type(value).__name__}")
        if boxes.ndim != 2 or boxes.shape[-1] != 4 or not boxes.is_floating_point():
            raise InputError(f"{OWNER}: {where}['boxes'] must be a float (N, 4) tensor of x1, y1, x2, y2; "
                             f"got {boxes.dtype} {tuple(boxes.shape)}")
        n = boxes.shape[0]
        if labels.shape != (n,) or labels.is_floating_point() or labels.dtype == torch.bool:
            raise InputError(f"{OWNER}: {where}['labels'] must be an int64 ({n},) tensor, got "
                             f"{labels.dtype} {tuple(labels.shape)}")
        limit = min(head_classes.values(), default=None)  # labels must be below every head's count
        if n and (int(labels.min()) < 1 or (limit is not None and int(labels.max()) >= limit)):
            bound = "num_classes - 1" if limit is None else limit - 1
            raise InputError(f"{OWNER}: {where}['labels'] must lie in [1, {bound}] (0 is the background; "
                             f"{_classes_note(head_classes)}), got {labels.tolist()}")
        if masks is not None:
            _check_masks(masks, n, image, where)
        if n and not bool(torch.isfinite(boxes).all()):
            bad = boxes[~torch.isfinite(boxes).all(dim=1)][0].tolist()
            raise InputError(f"{OWNER}: {where}['boxes'] has a non-finite coordinate (NaN or inf): {bad}; "
                             f"boxes are finite x1, y1, x2, y2 in pixels (check the annotation or augmentation)")
        if n and bool((boxes[:, 2:] <= boxes[:, :2]).any()):
            bad = boxes[(boxes[:, 2:] <= boxes[:, :2]).any(dim=1)][0].tolist()
            raise InputError(f"{OWNER}: {where} has a box with no width or height: {bad} "
                             f"(boxes are x1, y1, x2, y2 with x2 > x1 and y2 > y1)")


def _check_masks(masks: torch.Tensor, n: int, image: torch.Tensor, where: str) -> None:
    """One binary (H, W) mask per box, at the image's size."""
    if masks.shape != (n, *image.shape[-2:]):
        raise InputError(f"{OWNER}: {where}['masks'] must have shape ({n}, H, W) = "
                         f"{(n, *image.shape[-2:])} to match the boxes and the image, got {tuple(masks.shape)}")
    if n and masks.dtype != torch.bool and masks.numel() and (masks.min() < 0 or masks.max() > 1):
        # the mask loss is a binary cross-entropy against them: 0/255 images trained to a negative loss
        raise InputError(f"{OWNER}: {where}['masks'] must be binary (0 and 1; bool or uint8), one mask per "
                         f"object; got values from {masks.min().item():g} to {masks.max().item():g} (a 0/255 "
                         f"image: masks > 0; an instance-id map: one (ids == k) mask per object)")


def _classes_note(head_classes: Mapping[str, int]) -> str:
    """Where the label bound comes from, for the error message."""
    counts = set(head_classes.values())
    if not counts:
        return "the predictors do not say how many classes they score"
    if len(counts) == 1:
        heads = " and ".join(head_classes)
        return f"num_classes={counts.pop()} counts it, read from the model's {heads}"
    sizes = ", ".join(f"{head} {k}" for head, k in head_classes.items())
    return (f"the predictors disagree on num_classes ({sizes}, background included) and a label must "
            f"fit every head: give them the same num_classes")
