"""Typed errors of the segmentation plugin."""

from zoo.errors import ModelConfigError as ZooModelConfigError


class ModelConfigError(ZooModelConfigError):
    """A segmentation model was asked for a configuration it cannot build (bad width, depth,
    upsampling mode or backbone)."""
