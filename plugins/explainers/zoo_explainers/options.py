"""Checking the options of the explainers and metrics: counts, numbers and chunk sizes, refused
as :class:`~zoo_explainers.errors.OptionError` before anything runs (a wrong type used to fail deep
inside torch)."""

from __future__ import annotations

import inspect
import math
import numbers

from zoo_explainers.errors import OptionError


def _one_value(value):
    """A 0-d tensor or array (``torch.tensor(0.1)``) as the Python value it holds; anything else as is."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as a whole number >= ``minimum`` (``n_samples=2.5`` or ``"32"`` failed deep in torch)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise OptionError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_number(name: str, value) -> float:
    """``value`` as a finite real number (a string failed deep in torch; NaN gave NaN maps); a
    tensor holding one number (``torch.tensor(0.1)``) is that number."""
    value = _one_value(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise OptionError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_flag(name: str, value) -> bool:
    """``value`` as True or False (the string "false", from a command line, was truthy and silently
    the default); a one-element bool tensor or array is its value."""
    value = _one_value(value)
    if not isinstance(value, bool):
        raise OptionError(f"{name} must be True or False, got {value!r}")
    return value


def check_seed(seed) -> int | None:
    """``seed`` as None (draw one from torch's global generator) or a whole number torch's
    generators take (a string or a float reached ``manual_seed`` at the first call)."""
    seed = _one_value(seed)
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not -2**63 <= seed < 2**64:
        raise OptionError(f"seed must be a whole number (or None for a fresh draw), got {seed!r}")
    return int(seed)


def check_chunk_size(chunk_size: int | str | None) -> int | str | None:
    """``chunk_size`` as given (model inputs per pass, ``"auto"`` or None for one pass), or an
    :class:`OptionError` saying what is accepted."""
    if chunk_size is None or chunk_size == "auto":
        return chunk_size
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise OptionError(f"chunk_size must be a positive number of model inputs per pass, 'auto' or "
                          f"None (all in one pass), got {chunk_size!r}")
    return int(chunk_size)


def check_baseline(baseline):
    """Integrated gradients' ``baseline``: a finite number, or finite values (a tensor, an array, a
    list) that are broadcast to the batch, detached from any graph (a NaN gave NaN maps, and an
    ``nn.Parameter`` failed deep in torch)."""
    import torch

    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return check_number("baseline", baseline)
    try:
        # on the CPU unless given as a tensor: the default device may be one that holds no values (meta)
        values = (baseline if isinstance(baseline, torch.Tensor) else torch.as_tensor(baseline, device="cpu")).detach()
    except (TypeError, ValueError, RuntimeError):
        values = None
    if values is None or not (values.is_floating_point() or values.dtype in (torch.int64, torch.int32)):
        raise OptionError(f"baseline must be a number or a tensor broadcastable to the images (N, C, H, W), "
                          f"got {baseline!r:.80}")
    if not torch.isfinite(values).all():
        raise OptionError("baseline holds NaN or Inf values, which give NaN maps; pass finite values")
    return values


def check_score_fn(score_fn):
    """``score_fn`` as given: None, or a callable that can be called as ``score_fn(output, classes)``.
    A class is refused (calling it makes an instance, not scores: a score class named on the
    command line, ``-O score_fn=pkg.mod:Class``, failed with a TypeError traceback at the first call)."""
    if score_fn is None:
        return None
    what = "a function score_fn(output, classes) returning one score per image, an (N,) tensor"
    if isinstance(score_fn, type):
        raise OptionError(f"score_fn is the class {score_fn.__qualname__}, not a score function: pass an instance "
                          f"of it (if it is callable as one), or {what}")
    if not callable(score_fn):
        raise OptionError(f"score_fn must be {what}; got {type(score_fn).__name__} {score_fn!r}")
    try:
        signature = inspect.signature(score_fn)
    except (TypeError, ValueError):  # some builtins have none: the call itself will say
        return score_fn
    try:
        signature.bind(None, None)
    except TypeError:
        name = getattr(score_fn, "__qualname__", type(score_fn).__qualname__)
        raise OptionError(f"score_fn {name}{signature} cannot be called as score_fn(output, classes); "
                          f"pass {what}") from None
    return score_fn
