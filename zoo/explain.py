"""The explainer interface and the two entry points ``create_explainer`` and ``explain``."""

from __future__ import annotations

from typing import Any

import inspect

from zoo.errors import BuilderError, ExplainerOutputError, MissingOptionError, UnknownOptionError
from zoo.registry import get_registry
from zoo.targets import contract_target


class Explainer:
    """Base class of explainers: ``explainer(images, target=None) -> (N, H, W)`` maps.

    ``target`` is a class index, a list of indices (one per image), or None for the predicted
    class. Subclasses implement ``__call__``; the model is kept as ``self.model``.
    """

    def __init__(self, model: Any, **kwargs: Any) -> None:
        if kwargs:  # an option no subclass took: a typo would otherwise be ignored silently
            accepted = _declared_options(type(self))
            known = (f"its options: {', '.join(accepted)}" if accepted else
                     "a subclass that has options declares them in its own __init__")
            raise UnknownOptionError(f"{type(self).__name__} takes no option {', '.join(map(repr, kwargs))}; {known}",
                                     unknown=list(kwargs), accepted=accepted)
        self.model = model

    def __call__(self, images: Any, target: int | list[int] | None = None):  # pragma: no cover
        raise NotImplementedError


def _declared_options(cls: type) -> list[str]:
    """The options the ``__init__``s of an Explainer subclass name (``self`` and the model aside),
    those that pass the rest on to the base class with ``**kwargs`` included."""
    named = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if klass is Explainer or init is None:
            continue
        try:
            params = list(inspect.signature(init).parameters.values())[2:]
        except (TypeError, ValueError):
            continue
        named += [p.name for p in params if p.name not in named and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    return named


def create_explainer(name: str, model: Any, **kwargs: Any) -> Explainer:
    """Build the registered explainer ``name`` for ``model``. An option its builder does not take is
    an :class:`~zoo.errors.UnknownOptionError` listing those it does, and one it requires (no
    default) but was not given a :class:`~zoo.errors.MissingOptionError`, both before anything is built."""
    builder = get_registry().explainer_builder(name)
    accepted = explainer_options(builder)
    unknown = [key for key in kwargs if accepted is not None and key not in accepted]
    if unknown:
        raise UnknownOptionError(f"explainer {name!r} takes no option {', '.join(map(repr, unknown))}; its options: "
                                 f"{', '.join(accepted) or 'none'}", unknown=unknown, accepted=accepted)
    missing = [option for option in required_options(builder) if option not in kwargs]
    if missing:
        raise MissingOptionError(f"explainer {name!r} requires {', '.join(missing)}, which its plugin gives no "
                                 f"default: pass {missing[0]}=... to zoo.create_explainer or zoo.explain "
                                 f"(-O {missing[0]}=VALUE in zoo explain)", missing=missing)
    return build_explainer(builder, model, name, **kwargs)


def build_explainer(builder: Any, model: Any, owner: str, **kwargs: Any) -> Explainer:
    """``builder(model, **kwargs)``, checked to have returned something callable on images: a
    builder that forgot its ``return`` gave None, and "'NoneType' object is not callable" later.
    ``zoo.create_explainer`` and the conformance suite both build explainers through it."""
    explainer = builder(model, **kwargs)
    if not callable(explainer):
        raise BuilderError(f"{owner}: the explainer builder returned {type(explainer).__name__}, not an explainer "
                           "(a zoo.Explainer, or any callable explainer(images, target=None)); does it lack a return?")
    return explainer


def explainer_options(builder: Any) -> list[str] | None:
    """The keyword options an explainer builder takes besides the model (its first parameter,
    whatever its name: builders are called ``builder(model, **options)``), or None where it takes
    ``**kwargs`` or has no signature to read: then the builder itself decides."""
    params = _option_parameters(builder)
    if params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in _BY_NAME]


def shown_options(builder: Any) -> list[str] | None:
    """:func:`explainer_options` as ``zoo info`` shows them, each with its default (``n_samples=32``;
    a required one bare), so a command-line user sees what ``-O name=value`` changes."""
    names = explainer_options(builder)
    if names is None:
        return None
    params = {p.name: p for p in _option_parameters(builder) or []}
    return [name if params[name].default is inspect.Parameter.empty else f"{name}={params[name].default!r}"
            for name in names]


def required_options(builder: Any) -> list[str]:
    """The options an explainer builder takes with no default of its own (the model aside): every
    call must name them, so ``zoo.explain(model, images, method=...)`` alone cannot run it."""
    return [p.name for p in _option_parameters(builder) or []
            if p.kind in _BY_NAME and p.default is inspect.Parameter.empty]


_BY_NAME = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _option_parameters(builder: Any) -> list[inspect.Parameter] | None:
    """An explainer builder's parameters after the model, or None where it has no signature to read."""
    try:
        params = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError):
        return None
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    return params


def explain(model: Any, images: Any, method: str = "gradcam", target: int | list[int] | None = None,
            **kwargs: Any):
    """Explain ``model``'s prediction on ``images`` with ``method``; returns (N, H, W) maps.

    ``target``: a class index, one per image, or None for the predicted class (for a segmenter,
    the class covering most pixels, often the background: name the class you mean). ``kwargs``
    are the method's options (``zoo info METHOD`` lists them); the first-party explainers take
    ``target_layer=`` (the CAM family: cam, gradcam, gradcam_pp, hirescam) and ``score_fn=``, which explains another
    region of a segmentation or another model kind (plugins/explainers/README.md).
    Every explainer gets ``target`` as None, an int or a list of ints (NumPy integers, whole floats,
    tensors and arrays of them are converted: :mod:`zoo.targets`), and a float (N, C, H, W) batch
    without NaN or Inf (an :class:`~zoo.inputs.InputError` otherwise).
    Anything else from the explainer (e.g. a plugin's (N, 1, H, W)) raises
    :class:`zoo.ExplainerOutputError`; ``return_delta=True`` (integrated gradients) gives
    ``(maps, delta)``.
    """
    explainer = create_explainer(method, model, **kwargs)
    check_explained_images(images, owner=f"explainer {method!r}")
    result = explainer(images, target=contract_target(target))
    checked_maps(method, images, result, kwargs)
    return result


def check_explained_images(images: Any, owner: str) -> None:
    """What every explainer may assume of the images :func:`explain` hands it: a non-empty float
    (N, C, H, W) tensor without NaN or Inf (the channel count is the model's to check)."""
    from zoo.inputs import check_finite_images, check_image_batch

    in_chans = images.shape[1] if getattr(images, "ndim", None) == 4 else 3  # any count: not checked here
    check_image_batch(images, in_chans=in_chans, owner=owner)
    check_finite_images(images, owner)


def checked_maps(method: str, images: Any, result: Any, options: dict) -> Any:
    """The maps in an explainer's ``result`` (``(maps, delta)`` when ``return_delta=True`` was among
    its ``options``), after :func:`check_maps`."""
    maps = result[0] if options.get("return_delta") and isinstance(result, tuple) else result
    check_maps(method, images, maps)
    return maps


def check_maps(method: str, images: Any, maps: Any) -> None:
    """Raise :class:`zoo.ExplainerOutputError` unless ``maps`` is a float tensor (N, H, W) for the
    (N, C, H, W) ``images``: the explainer contract every caller relies on."""
    shape = tuple(getattr(images, "shape", ()))
    expected = (shape[0], *shape[2:]) if len(shape) == 4 else None
    is_float_tensor = callable(getattr(maps, "is_floating_point", None)) and maps.is_floating_point()
    got = tuple(getattr(maps, "shape", ())) if is_float_tensor else None
    if got is not None and (got == expected if expected else len(got) == 3):
        return
    is_tensor = callable(getattr(maps, "is_floating_point", None))
    what = (f"a {str(maps.dtype).replace('torch.', '')} tensor of shape {tuple(maps.shape)}" if is_tensor else
            f"{type(maps).__name__}" + (f" of shape {tuple(maps.shape)}" if hasattr(maps, "shape") else ""))
    raise ExplainerOutputError(
        f"explainer {method!r} returned {what} for images of shape {shape}; the contract is a float tensor "
        f"(N, H, W){f' = {expected}' if expected else ''}. Fix the explainer plugin (`zoo check {method}` "
        "shows what else it breaks).")
