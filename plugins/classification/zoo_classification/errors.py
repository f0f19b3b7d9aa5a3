"""Typed errors of the classification plugin."""

from zoo.errors import ModelConfigError as ZooModelConfigError


class ModelConfigError(ZooModelConfigError):
    """``cnn_cam`` was asked for a configuration it cannot build (a zero width or depth, a negative
    number of classes, an unsupported pooling)."""
