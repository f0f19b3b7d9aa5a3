"""What an explanation explains: a scalar score per image, from the model's output.

A target callable maps the model output and the per-image class indices to one differentiable
score per image. Classification explains the class logit; semantic segmentation explains the
sum of the class's logits over the pixels predicted as that class (or over a given mask).
New model kinds plug in by passing their own callable as ``score_fn``. A model returning a dict
with an ``"out"`` tensor (torchvision's segmenters) is explained on that tensor
(:func:`explained_output`).

The contract of a ``score_fn(output, classes) -> scores``: ``output`` is the model's output for
one batch of N images, in the caller's image order (row n is image n, or a noisy copy / path
point / masked copy of image n), ``classes`` the (N,) class indices, and ``scores`` must be (N,),
differentiable for the gradient methods. The methods that stack several copies of the batch
into one pass (SmoothGrad, Integrated Gradients, RISE) call it once per copy, on that copy's N
rows (:func:`stacked_scores`), so per-image data held by the callable (an (N, H, W) mask,
per-image weights) lines up with the rows whatever ``chunk_size`` is.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import torch

from zoo.errors import TargetError
from zoo.targets import contract_target, is_array, is_sequence

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def explained_output(output: Any) -> Any:
    """What the explainers read of a model's output: the output itself, or, where it is a mapping
    holding an ``"out"`` tensor (torchvision's segmentation models return ``{"out": logits, "aux":
    ...}``), that tensor: the other entries are training aids the prediction does not use."""
    if isinstance(output, Mapping) and isinstance(output.get("out"), torch.Tensor):
        return output["out"]
    return output


def classification_logit(output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``output[n, classes[n]]``: the logit of each image's target class, shape (N,)."""
    return output.gather(1, classes[:, None]).squeeze(1)


class SegmentationClassSum:
    """Sum of class c's logits over a mask: the pixels predicted as c, or a given ``mask``.

    ``mask`` is (H, W) (the same region for every image) or (N, H, W) (one per image, in the
    batch's order), bool or 0/1, at the output's resolution.
    """

    def __init__(self, mask: torch.Tensor | None = None) -> None:
        self.mask = mask

    def __call__(self, output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        logits = output.gather(1, classes[:, None, None, None].expand(-1, 1, *output.shape[2:])).squeeze(1)
        if self.mask is None:
            mask = output.detach().argmax(1) == classes[:, None, None]
        else:
            mask = torch.as_tensor(self.mask, device=output.device)
            if mask.shape[-2:] != output.shape[-2:]:
                raise TargetError(f"segmentation mask of shape {tuple(mask.shape)} does not match the "
                                  f"output's spatial size {tuple(output.shape[-2:])}")
            if mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[0] not in (1, logits.shape[0])):
                raise TargetError(f"segmentation mask of shape {tuple(mask.shape)} does not fit a batch of "
                                  f"{logits.shape[0]} images: pass an (H, W) mask for all images or an "
                                  f"(N, H, W) mask with one region per image")
            mask = mask.expand_as(logits)
        return (logits * mask.to(logits.dtype)).sum(dim=(1, 2))


class EmptyTargetWarning(UserWarning):
    """A segmentation target covers no pixel of some images (the class is predicted nowhere
    there, or the given mask is empty): nothing explained depends on the input, so those maps
    are all zeros and the faithfulness metrics give NaN for them."""


def target_region(fn: ScoreFn | None, output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor | None:
    """The (N, H, W) pixels a :class:`SegmentationClassSum` sums for this (clean) output: its
    mask, or the pixels predicted as each image's class. None for any other score function."""
    if not isinstance(fn, SegmentationClassSum) or not isinstance(output, torch.Tensor) or output.ndim != 4:
        return None
    if fn.mask is None:
        return output.detach().argmax(1) == classes[:, None, None]
    mask = torch.as_tensor(fn.mask, device=output.device)
    try:
        return mask.expand(output.shape[0], *output.shape[-2:])
    except RuntimeError:  # a mask that does not fit: SegmentationClassSum itself says so
        return None


def empty_images(region: torch.Tensor | None) -> torch.Tensor | None:
    """(N,) True for the images whose region holds no pixel; None without a region."""
    return None if region is None else ~region.flatten(1).ne(0).any(1)


#: how to get a non-empty region, for an explainer
EXPLAIN_ANOTHER_REGION = ("explain a class the model predicts in the image (target=None picks the one covering most "
                          "pixels), or pass score_fn=SegmentationClassSum(mask) with the region you mean")


def warn_empty_regions(region: torch.Tensor | None, classes: torch.Tensor, consequence: str,
                       fix: str = EXPLAIN_ANOTHER_REGION) -> None:
    """An :class:`EmptyTargetWarning` naming the images (and classes) whose region is empty."""
    empty = empty_images(region)
    if empty is None or not empty.any():
        return
    index = empty.nonzero().flatten().tolist()
    if len(empty) == 1:  # one image: no index to give (zoo explain explains its files one at a time)
        where = f"in the image (class {int(classes[0])})"
    else:
        named = ", ".join(f"{i} (class {int(classes[i])})" for i in index[:10]) + (", ..." if len(index) > 10 else "")
        where = f"in image(s) {named}, of {len(empty)}"
    warnings.warn(f"segmentation target: the region explained is empty {where}: "
                  f"the model predicts that class on no pixel there (or the given mask is empty), so "
                  f"{consequence}; {fix}", EmptyTargetWarning, stacklevel=2)


def checked_scores(fn: ScoreFn, output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``fn(output, classes)`` for one batch of N images, refused unless it is (N,)."""
    scores = fn(output, classes)
    n = classes.shape[0]
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (n,):
        got = f"shape {tuple(scores.shape)}" if isinstance(scores, torch.Tensor) else f"a {type(scores).__name__}"
        raise TargetError(f"score_fn must return one score per image, a tensor of shape ({n},) for this batch "
                          f"of {n} images; it returned {got}")
    check_finite_output(scores[:, None])  # a noisy copy or a path point can overflow where the image did not
    return scores


def stacked_scores(fn: ScoreFn, output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Scores of a stack of copies of the batch: ``output`` holds ``copies * N`` rows, copy j of
    image n at row ``j * N + n``; ``fn`` is called once per copy on its N rows with the (N,)
    ``classes``, so it sees what a one-batch call gives it. Returns ``(copies * N,)``."""
    n = classes.shape[0]
    if output.shape[0] == n:
        return checked_scores(fn, output, classes)
    return torch.cat([checked_scores(fn, block, classes) for block in output.split(n)])


def default_score_fn(output: torch.Tensor) -> ScoreFn:
    """The target callable for a model output: logits (N, K) or segmentation logits (N, K, H, W)."""
    if output.ndim == 2:
        return classification_logit
    if output.ndim == 4:
        return SegmentationClassSum()
    raise TargetError(f"cannot choose a target for model output of shape {tuple(output.shape)}: "
                      "expected (N, K) logits or (N, K, H, W) segmentation logits; pass score_fn=")


def predicted_classes(output: torch.Tensor) -> torch.Tensor:
    """The predicted class per image: argmax of the logits, or for segmentation the class
    covering the most pixels."""
    output = output.detach()
    if output.ndim == 2:
        return output.argmax(1)
    pixels = output.argmax(1).flatten(1)  # (N, H*W)
    counts = torch.zeros(output.shape[0], output.shape[1], dtype=torch.long, device=output.device)
    counts.scatter_add_(1, pixels, torch.ones_like(pixels))
    return counts.argmax(1)


def resolve_classes(target: int | Sequence[int] | torch.Tensor | None, output: torch.Tensor, *,
                    own_score_fn: bool = False) -> torch.Tensor:
    """Per-image class indices (N,) from an int, a list (one per image), a tensor, or None.

    ``own_score_fn``: the caller's ``score_fn`` decides what an index means (a new model kind),
    so an index is not checked against the output's dimension 1, and an output of another shape
    than logits (a regression's (N,) or (N, H, W)) is the score_fn's to read: None gives zeros there.
    """
    if own_score_fn and isinstance(output, torch.Tensor) and output.ndim >= 1:
        if target is not None:
            return _indices(target, output.shape[0], None, output.device)
        if output.ndim in (2, 4):  # (N, K) or (N, K, H, W): logits, whose predicted class means something
            return predicted_classes(output)
        return torch.zeros(output.shape[0], dtype=torch.long, device=output.device)
    if isinstance(output, torch.Tensor) and output.ndim == 0:
        raise TargetError("the model returned one number for the whole batch (a 0-d tensor); explanations need one "
                          "output row per image: return (N, ...) from forward")
    if isinstance(output, torch.Tensor) and output.ndim < 2:
        raise TargetError(f"the model returned a tensor of shape {tuple(output.shape)}, not (N, K) logits or "
                          "(N, K, H, W) segmentation logits, so no class target applies; pass score_fn=, a callable "
                          "score_fn(output, classes) returning one score per image (a regression's own output, "
                          "for one)")
    if not isinstance(output, torch.Tensor):
        raise TargetError(f"the model returned a {type(output).__name__}; the explainers explain a tensor (or the "
                          "\"out\" tensor of a dict, as torchvision's segmenters return), and detection and "
                          "instance-segmentation outputs are not supported: wrap the model so that forward returns "
                          "the tensor to explain")
    check_finite_output(output)
    if target is None:
        return predicted_classes(output)
    return _indices(target, output.shape[0], output.shape[1], output.device)


def check_finite_output(output: torch.Tensor) -> None:
    """An :class:`UnsupportedModelError` naming the images whose output holds NaN or +Inf (from
    finite images: the explainers refuse those): an explanation of such a prediction means nothing,
    yet saliency drew a plausible map of "class 0" and Grad-CAM zeros. -Inf passes: a classifier
    that rules classes out (``masked_fill(mask, -inf)``) gives softmax a valid input."""
    output = output.detach()
    broken = (torch.isnan(output) | (output == float("inf"))).flatten(1).any(1)
    if bool(broken.any()):
        from zoo_explainers.errors import UnsupportedModelError

        bad = broken.nonzero().flatten().tolist()
        raise UnsupportedModelError(
            f"the model's output holds NaN or +Inf for image(s) {', '.join(map(str, bad[:10]))} of the batch, from "
            "finite images: there is no prediction to explain; check the model (its weights, or an overflow in "
            "float16: try float32)")


def _indices(target: object, n: int, k: int | None, device) -> torch.Tensor:
    """(N,) class indices from a target that is not None; each in [0, k) (or >= 0 when k is None)."""
    given = target
    if is_sequence(target) or is_array(target) and target.ndim == 1:
        if len(target) != n:
            raise TargetError(f"got {len(target)} targets for a batch of {n} images; pass one class "
                              "index per image, a single index for all, or None for the predicted class")
    target = contract_target(target)
    classes = target if isinstance(target, list) else [target] * n
    for c in classes:
        if k is not None and c >= k:
            shown = c if is_sequence(given) or is_array(given) else given
            raise TargetError(f"target {shown!r} is not a class index in [0, {k}) for this model's {k} classes")
    return torch.tensor(classes, dtype=torch.long, device=device)


def class_probability(output: torch.Tensor, classes: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax probability of each image's class; for segmentation, its mean over ``mask``. A
    one-logit output (a binary classifier's) is read as sigmoid(logit): its softmax is 1 whatever
    the input, so RISE drew blank maps and every deletion curve was flat."""
    probs = output.float().sigmoid() if output.shape[1] == 1 else output.float().softmax(1)
    if output.ndim == 2:
        return probs.gather(1, classes[:, None]).squeeze(1)
    p = probs.gather(1, classes[:, None, None, None].expand(-1, 1, *probs.shape[2:])).squeeze(1)
    m = mask.to(p.dtype)
    return (p * m).sum((1, 2)) / m.sum((1, 2)).clamp_min(1)
