"""Typed errors of the detection plugin."""

from zoo.errors import ModelConfigError as ZooModelConfigError


class ModelConfigError(ZooModelConfigError):
    """``maskrcnn_mini`` was asked for a configuration it cannot build (too few classes, no input
    channels, per-channel statistics of the wrong length, other stage or level counts)."""
