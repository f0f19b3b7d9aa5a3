"""Shared CAM pipeline and CAM itself (Zhou et al. 2016).

Every method here turns a feature map A (N, C, h, w) into a class map at the feature map's
own resolution, applies ReLU there, upsamples bilinearly to the input size, and (by default)
min-max scales each map to [0, 1]: the order the Grad-CAM paper uses.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from zoo_explainers.base import BaseExplainer, check_explainable, gradient
from zoo_explainers.hygiene import HookBag, unwrapped
from zoo_explainers.layers import (
    FEATURES,
    Layer,
    LayerError,
    capture,
    captured,
    find_last_spatial_layer,
    follows_timm_convention,
    layer_name,
    pools_class_token,
    resolve_layer,
)
from zoo_explainers.maps import minmax, upsample
from zoo_explainers.options import check_flag
from zoo_explainers.targets import ScoreFn, TargetError, explained_output


class HeadWarning(UserWarning):
    """``cam`` ran on a model whose head is not global average pooling + a linear layer."""


class FeatureMapExplainer(BaseExplainer):
    """Base of the CAM family: capture a feature map, combine it into one map per image.

    Args:
        target_layer: module or dotted name of the feature map; default: ``forward_features``
            for timm-style classifiers, else the last module with a spatial output.
        relu: apply ReLU to the class map at feature resolution.
        normalize: min-max scale each map to [0, 1] (False: raw values).
    """

    normalize = True
    needs_gradients = True
    uses_module_hooks = True

    def __init__(self, model: nn.Module, *, target_layer: Layer | None = None, relu: bool = True,
                 normalize: bool = True, score_fn: ScoreFn | None = None) -> None:
        super().__init__(model, score_fn=score_fn)
        self.target_layer = resolve_layer(self.model, target_layer)  # None: searched for at each call
        self.last_layer = self.target_layer
        self.relu = check_flag("relu", relu)
        self.normalize = check_flag("normalize", normalize)

    @property
    def layer_name(self) -> str | None:
        """The name of the feature map used (by the last call, when it is searched for)."""
        return None if self.last_layer is None else layer_name(self.model, self.last_layer)

    def attribute(self, images: torch.Tensor, target: Any, bag: HookBag) -> torch.Tensor:
        # Searched for at every call: which layer is the last one with a spatial output depends
        # on the input size (a 32 px image can leave a ResNet's last stage at 1x1).
        layer = self.target_layer or find_last_spatial_layer(self.model, images)
        self.last_layer = layer
        store = capture(self.model, layer, bag, tuple(images.shape[-2:]), requires_grad=self.needs_gradients)
        with torch.set_grad_enabled(self.needs_gradients):
            output = explained_output(self.model(images.clone()))  # a copy: the model may work in place on its input
            scores, classes = self.scores(output, target)
            features = captured(store, self.model, layer)
            self.check_features(features, output, classes)
            grads = None
            if self.needs_gradients:
                check_on_the_way(features, output, self.layer_name)
                grads = gradient(scores, features, output, allow_unused=True)
                if grads is None:  # the score does not depend on this layer
                    grads = torch.zeros_like(features)
        with torch.no_grad():
            maps = self.combine(features.detach(), grads, classes)
            if self.relu:
                maps = maps.clamp_min(0)
            maps = upsample(maps.float(), tuple(images.shape[-2:]))
            return minmax(maps) if self.normalize else maps

    def check_features(self, features: torch.Tensor, output: Any, classes: torch.Tensor) -> None:
        """Raise (or warn) where the captured features cannot give this method's map (default: they can)."""

    def combine(self, features: torch.Tensor, grads: torch.Tensor | None, classes: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) features and gradients -> (N, h, w) class maps."""
        raise NotImplementedError


def check_on_the_way(features: torch.Tensor, output: Any, name: str | None) -> None:
    """A :class:`LayerError` where the captured map is differentiable but the model's output is not:
    the output was not computed from it (gradient() would blame the model's forward as a whole)."""
    if features.requires_grad and isinstance(output, torch.Tensor) and not output.requires_grad:
        raise LayerError(f"the model's output does not depend on the target layer {name} through autograd: that "
                         "layer is on a branch the output does not use (an auxiliary head?), or the forward "
                         "detaches its result or runs under torch.no_grad() after it; pass target_layer= naming a "
                         "module on the way to the output")


class CAM(FeatureMapExplainer):
    """Class activation map: ``sum_k W[c, k] * A_k`` with W the linear head and A the output of
    ``forward_features`` (no bias, as in Zhou et al.).

    Needs a classifier with timm's convention whose ``get_classifier()`` is an ``nn.Linear`` (or
    a 1x1 ``nn.Conv2d``) taking the channels of ``forward_features``, and a head that does not
    read only a class token (ViT, DeiT: a ``LayerError``). The map is an exact decomposition of
    the logit only when the head is global average pooling and then that layer; each call checks
    it (the logit must equal the layer applied to the averaged features) and warns where it
    fails, e.g. for ConvNeXt's norm between the pooling and the layer: such a map is still
    ``W_c * A``, but Grad-CAM follows the real head. ReLU is off by default (``relu=True`` for the
    positive evidence only); maps are min-max scaled unless ``normalize=False``.
    """

    name = "cam"
    needs_gradients = False

    def __init__(self, model: nn.Module, *, relu: bool = False, normalize: bool = True,
                 score_fn: ScoreFn | None = None, target_layer: Layer | None = None) -> None:
        if target_layer is not None:
            raise LayerError(f"cam takes no target_layer (got {target_layer!r}): it always uses the output of "
                             "forward_features and the linear head (get_classifier()); for another layer use "
                             "gradcam, which takes target_layer=")
        model = unwrapped(model)  # a DataParallel wrapper hides forward_features and get_classifier
        check_explainable(model, self.name, self.uses_module_hooks)  # before the convention: the first problem
        if not follows_timm_convention(model):
            raise LayerError("cam needs a classifier with forward_features() and get_classifier() "
                             "(timm's convention); use gradcam for other models")
        if pools_class_token(model):
            raise LayerError("cam needs a head on the pooled patch features, but this model's head reads only its "
                             "class token; use gradcam")
        super().__init__(model, target_layer=FEATURES, relu=relu, normalize=normalize, score_fn=score_fn)

    def head(self) -> nn.Module:
        head = self.model.get_classifier()
        if isinstance(head, nn.Linear) or (isinstance(head, nn.Conv2d) and head.kernel_size == (1, 1)):
            return head
        raise LayerError(f"cam needs get_classifier() to be nn.Linear or a 1x1 nn.Conv2d, got "
                         f"{type(head).__name__}; use gradcam, which needs no particular head")

    def check_features(self, features, output, classes):
        head = self.head()
        outside = sorted({int(c) for c in classes if not 0 <= int(c) < head.weight.shape[0]})
        if outside:  # a caller's own score_fn lets any index through; cam reads the head's rows
            raise TargetError(f"cam weights the features with the head's row for the target class, and the head "
                              f"has {head.weight.shape[0]}; target(s) {outside[:5]} are not among them")
        if head.weight.shape[1] != features.shape[1]:
            raise LayerError(f"the head takes {head.weight.shape[1]} features but forward_features returned "
                             f"{features.shape[1]} channels; cam needs a GAP + linear head, use gradcam")
        if isinstance(output, torch.Tensor) and output.ndim == 2 and not head_is_gap_linear(head, features, output,
                                                                                          classes):
            warnings.warn(f"cam: {type(self.model).__name__}'s logits are not its linear head applied to the "
                          "averaged features of forward_features (something in between, such as a norm, is not "
                          "a plain average), so the map is W_c * A but not a decomposition of the logit; "
                          "gradcam follows the real head", HeadWarning)

    def combine(self, features, grads, classes):
        weight = self.head().weight.detach().flatten(1)
        return torch.einsum("nc,nchw->nhw", weight[classes].to(features.dtype), features)


def head_is_gap_linear(head: nn.Module, features: torch.Tensor, output: torch.Tensor, classes: torch.Tensor) -> bool:
    """Whether each class logit equals ``head`` applied to the averaged features, to rounding."""
    terms = features.detach().float().mean(dim=(2, 3)) * head.weight.detach().flatten(1)[classes].float()
    expected = terms.sum(1)
    bias = torch.zeros_like(expected) if head.bias is None else head.bias.detach().float()[classes]
    logits = output.detach().float().gather(1, classes[:, None])[:, 0]
    rounding = torch.finfo(output.dtype).eps if output.dtype.is_floating_point else 0.0
    scale = terms.abs().sum(1) + bias.abs() + logits.abs()  # relative: some heads start near zero
    return bool(((expected + bias - logits).abs() <= max(1e-3, 8 * rounding) * scale).all())
