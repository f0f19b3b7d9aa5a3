"""Typed errors of the classification plugin."""

from zoo.errors import ZooError


class ModelConfigError(ZooError, ValueError):
    """``cnn_cam`` was asked for a configuration it cannot build (a zero width or depth, a negative
    number of classes, an unsupported pooling)."""
