"""The explainer interface and the two entry points ``create_explainer`` and ``explain``."""

from __future__ import annotations

from typing import Any

from zoo.errors import ExplainerOutputError
from zoo.registry import get_registry, import_builder


class Explainer:
    """Base class of explainers: ``explainer(images, target=None) -> (N, H, W)`` maps.

    ``target`` is a class index, a list of indices (one per image), or None for the predicted
    class. Subclasses implement ``__call__``; the model is kept as ``self.model``.
    """

    def __init__(self, model: Any, **kwargs: Any) -> None:
        if kwargs:  # an option no subclass took: a typo would otherwise be ignored silently
            raise TypeError(f"{type(self).__name__} takes no option {', '.join(map(repr, kwargs))}; a subclass "
                            "that has options declares them in its own __init__")
        self.model = model

    def __call__(self, images: Any, target: int | list[int] | None = None):  # pragma: no cover
        raise NotImplementedError


def create_explainer(name: str, model: Any, **kwargs: Any) -> Explainer:
    """Build the registered explainer ``name`` for ``model``."""
    spec, plugin = get_registry().explainer(name)
    builder = import_builder(spec.builder, f"{plugin.distribution}:{spec.name}")
    return builder(model, **kwargs)


def explain(model: Any, images: Any, method: str = "gradcam", target: int | list[int] | None = None,
            **kwargs: Any):
    """Explain ``model``'s prediction on ``images`` with ``method``; returns (N, H, W) maps.

    Maps of another shape (e.g. a plugin's (N, 1, H, W)) raise :class:`zoo.ExplainerOutputError`.
    """
    maps = create_explainer(method, model, **kwargs)(images, target=target)
    _check_map_shape(method, images, maps)
    return maps


def _check_map_shape(method: str, images: Any, maps: Any) -> None:
    shape = tuple(getattr(images, "shape", ()))
    if len(shape) != 4:  # not an (N, C, H, W) batch: nothing to compare against
        return
    expected = (shape[0], *shape[2:])
    if isinstance(maps, tuple) and maps:  # (maps, extras), e.g. integrated gradients' return_delta=True
        maps = maps[0]
    got = tuple(getattr(maps, "shape", ()))
    if got != expected:
        raise ExplainerOutputError(
            f"explainer {method!r} returned {type(maps).__name__} of shape {got} for images of shape {shape}; "
            f"the contract is (N, H, W) = {expected}. Fix the explainer plugin (`zoo check {method}` shows "
            "what else it breaks).")
