"""Which feature map a CAM-style method looks at, and how its output is captured.

Classifiers following timm's convention (``forward_features`` + ``get_classifier``) use the
output of ``forward_features``: the map the linear head sees, so Grad-CAM and CAM agree.
The exception is a transformer whose head reads only its class token (timm's
``global_pool="token"``): no gradient reaches its final patch tokens, so it uses the first norm
of its last block, the input of the last attention that mixes patches into the class token
(the layer pytorch-grad-cam's ViT recipe uses). Other models use the last module (in
execution order) whose output still has a spatial size above 1x1; ``target_layer=`` (a module
or a dotted name) overrides all of these.

Capturing hands the rest of the network a new tensor built from the captured map (see
:mod:`zoo_explainers.feature_layout`), so an in-place op downstream (e.g.
``nn.ReLU(inplace=True)``) cannot overwrite the captured activations or their autograd history.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping
from typing import Union

import torch
from torch import nn

from zoo_explainers.feature_layout import LayerError, detect
from zoo_explainers.hygiene import HookBag
from zoo_explainers.targets import explained_output


class ReusedLayerWarning(UserWarning):
    """The target layer ran more than once in one forward pass; its last output is used."""


FEATURES = "forward_features"
Layer = Union[str, nn.Module]
log = logging.getLogger("zoo.explain")
_MISSING = object()
_NO_GRADIENT_ON_PATCHES = ("this model's head reads only its class token, so no gradient reaches the patch tokens "
                           "of forward_features")


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
            if pools_class_token(model):
                raise LayerError(_NO_GRADIENT_ON_PATCHES + "; leave target_layer unset for the last block's "
                                 "first norm, whose patch tokens the class token attends to")
            return FEATURES
        try:
            return model.get_submodule(target_layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][-8:]
            raise LayerError(f"model has no submodule {target_layer!r}; "
                             f"the last ones are: {', '.join(names)}") from None
    if target_layer is not None:
        raise LayerError(f"target_layer must be a module or a dotted name, got {target_layer!r}")
    if not follows_timm_convention(model):
        return None
    return class_token_layer(model) if pools_class_token(model) else FEATURES


def pools_class_token(model: nn.Module) -> bool:
    """Whether the head reads only the class token (timm's ``global_pool="token"``)."""
    prefix = getattr(model, "num_prefix_tokens", 0)
    return getattr(model, "global_pool", None) == "token" and isinstance(prefix, int) and prefix > 0


def class_token_layer(model: nn.Module) -> nn.Module:
    """The first norm of the last block, for a model that reads only its class token."""
    blocks = getattr(model, "blocks", None)
    last = blocks[-1] if isinstance(blocks, (nn.Sequential, nn.ModuleList)) and len(blocks) else None
    norm = getattr(last, "norm1", None)
    if not isinstance(norm, nn.Module):
        raise LayerError(_NO_GRADIENT_ON_PATCHES + "; pass target_layer= naming a layer before the last "
                         "attention that mixes the patches into the class token")
    log.info("explainer target layer: %s (the head reads only the class token)", layer_name(model, norm))
    return norm


def find_last_spatial_layer(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Run one image and return the last module to finish whose output is (N, C, h, w) with h*w > 1
    and on the way to the model's output.

    A module whose output the prediction does not use is passed over: an auxiliary head that runs
    last (torchvision's segmentation models with ``aux_loss=True`` compute ``aux_classifier`` after
    ``classifier``, in eval mode too) would give the explained score no gradient at all.
    A model that goes on to work on tokens (N, L, C) after its last such module (a vision
    transformer outside timm, e.g. torchvision's ViT, whose last 4-D output is the patch
    embedding) is a :class:`LayerError`: that early convolution would silently stand in for
    the network, and the token layer to use cannot be told from shapes alone.
    """
    try:
        finished, leading = _probe(model, images, traced=True)
    except Exception:  # noqa: BLE001 - e.g. a forward reading its input as NumPy: choose on shapes alone
        finished, leading = _probe(model, images, traced=False)
    if leading:  # else the model's forward cuts autograd (no_grad, detach): the choice is made on shapes alone
        finished = [entry for entry in finished if entry[2] in leading]
    maps = [i for i, (_, kind, _) in enumerate(finished) if kind == "map"]
    tokens = [name for name, kind, _ in finished[maps[-1] + 1 if maps else 0:] if kind == "tokens"]
    if tokens:
        raise LayerError(_tokens_message(model, finished[maps[-1]][0] if maps else None, tokens))
    if not maps:
        raise LayerError("no module of this model outputs a spatial (N, C, h, w) map with h*w > 1 on the way to its "
                         "output; pass target_layer= to choose the feature map")
    name = finished[maps[-1]][0]
    log.info("explainer target layer: %s (last module with a spatial output)", name)
    return model.get_submodule(name)


def _probe(model: nn.Module, images: torch.Tensor, traced: bool) -> tuple[list[tuple[str, str, object]], set]:
    """One forward pass of the first image: ``(name, "map" | "tokens", autograd node)`` of each module
    whose output is a spatial map or tokens, in the order they finish, and (``traced``) the autograd
    nodes the model's output was computed through. Tracing records the graph's structure only: no
    tensor is saved for a backward pass that never comes, so it costs what a no_grad pass costs."""
    finished: list[tuple[str, str, object]] = []
    bag = HookBag()

    def recorder(name):
        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-1] * output.shape[-2] > 1:
                finished.append((name, "map", output.grad_fn))
            elif isinstance(output, torch.Tensor) and output.ndim == 3 and output.shape[1] > 1:
                finished.append((name, "tokens", output.grad_fn))
        return hook

    image = images[:1].detach()
    try:
        for name, module in model.named_modules():
            if name and not isinstance(module, torch.jit.ScriptModule):  # compiled: it runs no hooks
                bag.add(module.register_forward_hook(recorder(name)))
        if not traced:
            with torch.no_grad():
                model(image.clone())  # a copy: the model may work in place on its input
            return finished, set()
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(_drop, _never):
            output = explained_output(model(image.requires_grad_(True).clone()))
        return finished, _autograd_nodes(output)
    finally:
        bag.close()


def _drop(tensor: torch.Tensor) -> None:
    """Saved for backward: not kept (the probe never runs one)."""
    return None


def _never(packed: None) -> torch.Tensor:
    raise RuntimeError("the layer probe's graph has no saved tensors; it is never differentiated")


def _autograd_nodes(output: object) -> set:
    """Every autograd node the tensors of ``output`` were computed through."""
    tensors = [output] if isinstance(output, torch.Tensor) else (
        list(output.values()) if isinstance(output, Mapping) else list(output) if isinstance(output, (list, tuple))
        else [])
    seen: set = set()
    stack = [t.grad_fn for t in tensors if isinstance(t, torch.Tensor)]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(parent for parent, _ in node.next_functions)
    return seen


def _tokens_message(model: nn.Module, last_map: str | None, tokens: list[str]) -> str:
    norms = [n for n in tokens if n.rsplit(".", 1)[-1] in ("ln_1", "norm1")]
    example = norms[-1] if norms else tokens[-1]
    prefix = "" if isinstance(getattr(model, "num_prefix_tokens", None), int) else (
        "; if it puts class (or register) tokens before the patches, also set model.num_prefix_tokens = 1 "
        "(their count, timm's attribute)")
    after = f" after its last spatial map ({last_map})" if last_map else ""
    return (f"this model works on tokens (N, L, C){after}, so no layer is chosen automatically: the last "
            f"spatial map would be an early layer, and a head that reads only a class token gives its final "
            f"tokens no gradient. Pass target_layer= naming a token layer, e.g. {example!r} (the first norm of "
            f"the last block, the layer used for timm's ViTs){prefix}")


def layer_name(model: nn.Module, layer: Layer) -> str:
    if isinstance(layer, str):
        return layer
    return next((n for n, m in model.named_modules() if m is layer), type(layer).__name__)


def capture(model: nn.Module, layer: Layer, bag: HookBag, image_size: tuple[int, int],
            requires_grad: bool = True) -> dict:
    """Arrange for ``store["features"]`` to hold ``layer``'s output, read as an (N, C, h, w) map,
    after the next forward pass.

    With ``requires_grad``, the captured map is made differentiable even when nothing before it
    is (frozen parameters, an input without gradients), so gradients stop at the layer.
    ``image_size`` (H, W) tells how token outputs are laid out in rows and columns.
    The hook (or the wrapped ``forward_features``) lives in ``bag`` and goes when it closes.
    """
    store: dict = {}
    module, name = (None if layer == FEATURES else layer), layer_name(model, layer)

    def keep(output):
        store["calls"] = store.get("calls", 0) + 1
        layout = detect(model, module, output, name, image_size)
        feature_map = layout.to_map(output)
        if requires_grad and torch.is_grad_enabled() and not feature_map.requires_grad:
            feature_map = feature_map.detach().requires_grad_(True)
        store["features"] = feature_map
        return layout.from_map(feature_map, output)

    if layer == FEATURES:
        original = model.__dict__.get(FEATURES, _MISSING)
        object.__setattr__(model, FEATURES, _CapturingForwardFeatures(model.forward_features, keep))

        def undo():
            if original is _MISSING:
                model.__dict__.pop(FEATURES, None)
            else:
                object.__setattr__(model, FEATURES, original)

        bag.on_exit(undo)
    else:
        bag.forward_hook(layer, lambda module, inputs, output: keep(output))
    return store


class _CapturingForwardFeatures:
    """``model.forward_features`` while :func:`capture` is on: the model's own, its output kept.

    A deep copy of the model taken meanwhile (the timm bridge's dry run of a new image size, a
    copy in a ``score_fn``) gets the wrapped method, bound to the copy: the capture feeds this
    explanation only, and the copy runs its own weights."""

    def __init__(self, wrapped, keep) -> None:
        self.wrapped, self.keep = wrapped, keep

    def __call__(self, *args, **kwargs):
        return self.keep(self.wrapped(*args, **kwargs))

    def __deepcopy__(self, memo):
        return copy.deepcopy(self.wrapped, memo)


def captured(store: dict, model: nn.Module, layer: Layer) -> torch.Tensor:
    """The captured map of the last forward pass; a :class:`ReusedLayerWarning` where the layer
    ran several times in it (its last output is the one explained)."""
    if "features" not in store:
        raise LayerError(f"the forward pass never ran {layer_name(model, layer)}: this model's forward does "
                         "not call it; pass target_layer= to choose a module it does run")
    calls = store.get("calls", 1)
    if calls > 1:
        warnings.warn(f"target layer {layer_name(model, layer)} ran {calls} times in one forward pass (a module "
                      "used more than once, e.g. torchvision BasicBlock.relu); its last output is explained. "
                      "For another use of it, pass target_layer= naming a module that runs once there",
                      ReusedLayerWarning, stacklevel=2)
    return store["features"]
