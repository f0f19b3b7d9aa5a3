"""Which feature map a CAM-style method looks at, and how its output is captured.

Classifiers following timm's convention (``forward_features`` + ``get_classifier``) use the
output of ``forward_features``: the map the linear head sees, so Grad-CAM and CAM agree.
Other models use the last module (in execution order) whose output still has a spatial size
above 1x1; ``target_layer=`` (a module or a dotted name) overrides both.

Capturing returns a clone to the rest of the network, so an in-place op downstream (e.g.
``nn.ReLU(inplace=True)``) cannot overwrite the captured activations or their autograd history.
"""

from __future__ import annotations

import logging
from typing import Union

import torch
from torch import nn

from zoo.errors import ZooError
from zoo_explainers.hygiene import HookBag

FEATURES = "forward_features"
Layer = Union[str, nn.Module]
log = logging.getLogger("zoo.explain")
_MISSING = object()


class LayerError(ZooError, ValueError):
    """The target layer does not exist or does not produce a feature map."""


def follows_timm_convention(model: nn.Module) -> bool:
    return callable(getattr(model, "forward_features", None)) and callable(getattr(model, "get_classifier", None))


def resolve_layer(model: nn.Module, target_layer: Layer | None) -> Layer | None:
    """A module, :data:`FEATURES`, or None when it must be found by a probe forward pass."""
    if isinstance(target_layer, nn.Module):
        if not any(m is target_layer for m in model.modules()):
            raise LayerError(f"target_layer {type(target_layer).__name__} is not a submodule of the model")
        return target_layer
    if isinstance(target_layer, str):
        if target_layer == FEATURES and follows_timm_convention(model):
            return FEATURES
        try:
            return model.get_submodule(target_layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][-8:]
            raise LayerError(f"model has no submodule {target_layer!r}; "
                             f"the last ones are: {', '.join(names)}") from None
    if target_layer is not None:
        raise LayerError(f"target_layer must be a module or a dotted name, got {target_layer!r}")
    return FEATURES if follows_timm_convention(model) else None


def find_last_spatial_layer(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Run one image and return the last module to finish whose output is (N, C, h, w) with h*w > 1."""
    finished: list[str] = []
    bag = HookBag()

    def recorder(name):
        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-1] * output.shape[-2] > 1:
                finished.append(name)
        return hook

    try:
        for name, module in model.named_modules():
            if name:
                bag.add(module.register_forward_hook(recorder(name)))
        with torch.no_grad():
            model(images[:1])
    finally:
        bag.close()
    if not finished:
        raise LayerError("no module of this model outputs a spatial (N, C, h, w) map with h*w > 1; "
                         "pass target_layer= to choose the feature map")
    log.info("explainer target layer: %s (last module with a spatial output)", finished[-1])
    return model.get_submodule(finished[-1])


def layer_name(model: nn.Module, layer: Layer) -> str:
    if isinstance(layer, str):
        return layer
    return next((n for n, m in model.named_modules() if m is layer), type(layer).__name__)


def capture(model: nn.Module, layer: Layer, bag: HookBag, requires_grad: bool = True) -> dict:
    """Arrange for ``store["features"]`` to hold ``layer``'s output after the next forward pass.

    With ``requires_grad``, the captured map is made differentiable even when nothing before it
    is (frozen parameters, an input without gradients), so gradients stop at the layer.
    The hook (or the wrapped ``forward_features``) lives in ``bag`` and goes when it closes.
    """
    store: dict = {}

    def keep(output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise LayerError(f"target layer {layer_name(model, layer)} returned {shape}, not an (N, C, h, w) "
                             "feature map; choose another with target_layer=")
        if requires_grad and torch.is_grad_enabled() and not output.requires_grad:
            output = output.detach().requires_grad_(True)
        store["features"] = output
        return output.clone()

    if layer == FEATURES:
        original = model.__dict__.get(FEATURES, _MISSING)
        bound = model.forward_features

        def forward_features(*args, **kwargs):
            return keep(bound(*args, **kwargs))

        object.__setattr__(model, FEATURES, forward_features)

        def undo():
            if original is _MISSING:
                model.__dict__.pop(FEATURES, None)
            else:
                object.__setattr__(model, FEATURES, original)

        bag.on_exit(undo)
    else:
        bag.add(layer.register_forward_hook(lambda module, inputs, output: keep(output)))
    return store


def captured(store: dict, model: nn.Module, layer: Layer) -> torch.Tensor:
    if "features" not in store:
        raise LayerError(f"the forward pass never ran {layer_name(model, layer)}: this model's forward does "
                         "not call it; pass target_layer= to choose a module it does run")
    return store["features"]
