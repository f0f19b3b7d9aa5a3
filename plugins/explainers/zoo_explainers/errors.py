"""The explainers' own error types for bad options and models a method cannot explain.

Like every error the zoo raises on purpose they derive from :class:`zoo.ZooError`, and also from
the built-in exception a caller would naturally catch (``ValueError``, ``TypeError``). Targets
and layers have theirs beside the code that checks them (:class:`~zoo_explainers.targets.TargetError`,
:class:`~zoo_explainers.feature_layout.LayerError`).
"""

from __future__ import annotations

from zoo.errors import ArgumentError, ZooError


class OptionError(ArgumentError):
    """An explainer's or faithfulness metric's option that cannot apply (``n_samples=0``, an
    unknown integration rule, ``chunk_size=-1``, maps of the wrong shape): a ``ValueError``."""


class UnsupportedModelError(ZooError, ValueError):
    """The method cannot explain this model (``guided_backprop`` on a model without ``nn.ReLU``
    modules, e.g. GELU or SiLU networks)."""


class NotAModelError(ZooError, TypeError):
    """An explainer was given something that is not a ``torch.nn.Module``."""


class NestedExplanationError(ZooError, RuntimeError):
    """An explanation was asked for, inside another one (from its ``score_fn``), of a model that
    shares modules with the one being explained: the inner call would overwrite the outer one's
    hooks and saved state, giving wrong maps."""
