"""The shared call path of every explainer: validate, enter the hygiene context, attribute."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import zoo
from zoo.inputs import InputError, check_dtype, check_finite_images, check_image_batch
from zoo_explainers.errors import NotAModelError, UnsupportedModelError
from zoo_explainers.options import check_score_fn
from zoo_explainers.hygiene import HookBag, explaining, unwrapped
from zoo_explainers.targets import (
    ScoreFn,
    checked_scores,
    default_score_fn,
    resolve_classes,
    target_region,
    warn_empty_regions,
)

#: what an empty segmentation region means for an explainer's maps (:class:`~zoo_explainers.targets.EmptyTargetWarning`)
EMPTY_MAPS = "the map is all zeros there"


def model_in_chans(model: nn.Module) -> int | None:
    """The model's input channels, when it says (its ``in_chans`` attribute: the zoo's models and
    timm's); None otherwise. Not guessed from its layers: the first registered ``Conv2d`` may be a
    head declared before the stem, or follow a space-to-depth stem, and refuse a valid batch."""
    value = getattr(model, "in_chans", None)
    return value if isinstance(value, int) and value > 0 else None


def check_inputs(model: nn.Module, images: Any, owner: str) -> None:
    """A clear ValueError for a 3-D, integer, empty, wrong-channel or non-finite batch (zoo.inputs),
    or one on another device or of another dtype than the model."""
    in_chans = model_in_chans(model)
    if in_chans is None:  # nothing to check the channels against
        in_chans = images.shape[1] if isinstance(images, torch.Tensor) and images.ndim == 4 else 3
    min_size = getattr(model, "min_size", 1)
    check_image_batch(images, in_chans=in_chans, min_size=min_size if isinstance(min_size, int) else 1,
                      owner=owner)
    check_model_device(model, images, owner)
    check_model_dtype(model, images, owner)
    check_finite_images(images, owner)


def check_model_device(model: nn.Module, images: torch.Tensor, owner: str) -> None:
    """An :class:`~zoo.inputs.InputError`, before any forward pass, for images on another device
    than the model's parameters (torch's own error comes from deep inside the first layer), and
    for a model or images on the meta device, which hold no values to explain."""
    devices = {p.device for p in model.parameters()}
    if images.device.type == "meta" or any(d.type == "meta" for d in devices):
        raise InputError(f"{owner}: the {'images are' if images.device.type == 'meta' else 'model is'} on the meta "
                         "device, which holds no values to explain; load the model's weights (zoo.create(..., "
                         "pretrained=True) or weights=) and pass real images")
    if len(devices) == 1 and images.device != next(iter(devices)):
        device = next(iter(devices))
        raise InputError(f"{owner}: the images are on {images.device} but the model on {device}; move them with "
                         f"images.to({str(device)!r})")


def check_model_dtype(model: nn.Module, images: torch.Tensor, owner: str) -> None:
    """An :class:`~zoo.inputs.InputError` (a ValueError), before any forward pass, for a batch
    whose dtype is not the model's.

    Only a model whose floating-point parameters share one dtype is checked (a mixed-precision
    model says nothing certain about its input).
    """
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) == 1:
        check_dtype(images, next(iter(dtypes)), owner)


def check_explainable(model: nn.Module, method: str, uses_module_hooks: bool) -> None:
    """An :class:`UnsupportedModelError` for a model no explanation can run on, said before any
    call (the errors came from deep in autograd or torch.jit, and left the model changed)."""
    if any(p.is_inference() for p in model.parameters()):
        raise UnsupportedModelError(
            f"{method}: the model's parameters are inference tensors (it was built or loaded under "
            "torch.inference_mode()), which autograd cannot differentiate through; build or load it outside "
            "inference_mode, or copy them out: model.load_state_dict({k: v.clone() for k, v in "
            "model.state_dict().items()}, assign=True) run outside it")
    if uses_module_hooks and isinstance(model, torch.jit.ScriptModule):
        raise UnsupportedModelError(
            f"{method} captures a layer through module hooks, which a TorchScript module (torch.jit.script, "
            "trace or load) does not run; explain the eager model, or use a method that needs no hooks "
            "(saliency, smoothgrad, integrated_gradients, rise)")


def gradient(scores: torch.Tensor, wrt: torch.Tensor, output: Any = None,
             allow_unused: bool = False) -> torch.Tensor | None:
    """d(sum of scores)/d``wrt``; a score autograd cannot trace back at all is an
    :class:`UnsupportedModelError` naming the culprit, not autograd's "does not require grad": the
    score function when the model's ``output`` carries a gradient, else the model (its forward runs
    under ``torch.no_grad()`` or detaches a tensor). ``allow_unused``: None where ``wrt`` is not on the way."""
    if not scores.requires_grad and isinstance(output, torch.Tensor) and output.requires_grad:
        raise UnsupportedModelError(
            "the scores explained do not depend on the model's output through autograd: the score_fn is not "
            "differentiable (argmax, a comparison, .item(), .detach()...); return a differentiable score such "
            "as a logit, or use rise, which needs no gradients")
    if not scores.requires_grad:
        raise UnsupportedModelError(
            "the model's output does not depend on its input through autograd (its forward runs under "
            "torch.no_grad() or detaches a tensor), so no gradient can explain it; remove that, or use rise, "
            "which needs no gradients")
    (grads,) = torch.autograd.grad(scores.sum(), wrt, allow_unused=allow_unused)
    return grads


class BaseExplainer(zoo.Explainer):
    """``explainer(images, target=None) -> (N, H, W)`` maps, with validation and hygiene.

    Args:
        model: the network to explain.
        score_fn: ``score_fn(output, classes) -> (N,)`` scores to explain; defaults to the class
            logit for (N, K) outputs and the class-logit sum over predicted pixels for
            (N, K, H, W) outputs. It always gets the N rows of one batch (one copy of it for the
            methods that stack copies) in image order (see :mod:`zoo_explainers.targets`).

    After a call, ``last_classes`` holds the class explained for each image.
    """

    name = "explainer"
    #: whether the maps are min-max scaled to [0, 1] (the conformance suite reads this)
    normalize = False
    #: whether the method puts Python hooks on the model's modules (TorchScript modules take none)
    uses_module_hooks = False

    def __init__(self, model: nn.Module, *, score_fn: ScoreFn | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise NotAModelError(f"{self.name} explains a torch.nn.Module, got {type(model).__name__}")
        model = unwrapped(model)
        check_explainable(model, self.name, self.uses_module_hooks)
        super().__init__(model)
        self.score_fn = check_score_fn(score_fn)
        self.last_classes: torch.Tensor | None = None

    def __call__(self, images: torch.Tensor, target: Any = None, **kwargs: Any) -> torch.Tensor:
        check_inputs(self.model, images, owner=f"explainer {self.name!r}")
        with explaining(self.model) as bag:
            maps = self.attribute(images.detach(), target, bag, **kwargs)
        return maps

    def attribute(self, images: torch.Tensor, target: Any, bag: HookBag, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, output: torch.Tensor, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image scores (N,) to differentiate, and the classes they belong to."""
        classes = resolve_classes(target, output, own_score_fn=self.score_fn is not None)
        self.last_classes = classes
        fn = self.score_fn or default_score_fn(output)
        scores = checked_scores(fn, output, classes)
        warn_empty_regions(target_region(fn, output, classes), classes, EMPTY_MAPS)
        return scores, classes
