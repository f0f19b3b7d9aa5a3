"""The explainers' own error types for bad options and models a method cannot explain.

Like every error the zoo raises on purpose they derive from :class:`zoo.ZooError`, and also from
the built-in exception a caller would naturally catch (``ValueError``, ``TypeError``). Targets
and layers have theirs beside the code that checks them (:class:`~zoo_explainers.targets.TargetError`,
:class:`~zoo_explainers.feature_layout.LayerError`).
"""

from __future__ import annotations

import math
import numbers

from zoo.errors import ArgumentError, ZooError


class OptionError(ArgumentError):
    """An explainer's or faithfulness metric's option that cannot apply (``n_samples=0``, an
    unknown integration rule, ``chunk_size=-1``, maps of the wrong shape): a ``ValueError``."""


class UnsupportedModelError(ZooError, ValueError):
    """The method cannot explain this model (``guided_backprop`` on a model without ``nn.ReLU``
    modules, e.g. GELU or SiLU networks)."""


class NotAModelError(ZooError, TypeError):
    """An explainer was given something that is not a ``torch.nn.Module``."""


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as a whole number >= ``minimum`` (``n_samples=2.5`` or ``"32"`` failed deep in torch)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise OptionError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_number(name: str, value) -> float:
    """``value`` as a finite real number (a string failed deep in torch; NaN gave NaN maps)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise OptionError(f"{name} must be a finite number, got {value!r}")
    return float(value)
