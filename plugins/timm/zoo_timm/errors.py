"""Typed errors of the timm bridge."""

from zoo.errors import ModelConfigError as ZooModelConfigError


class ModelConfigError(ZooModelConfigError):
    """A ``timm/`` model was asked for ``num_classes`` or ``in_chans`` that timm would build into
    a broken model without complaint (``in_chans=0``, a negative ``num_classes``)."""
