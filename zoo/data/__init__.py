"""Datasets the reference weights are trained and evaluated on.

Both generate or load their data locally (no downloads) and are deterministic: a split is a
fixed seed, and sample ``i`` of a split is the same on every machine and in every process.

``get_dataset(name, split, **kwargs)`` returns a ``torch.utils.data.Dataset`` whose items are
dicts (see each module); ``DATASETS`` lists the names.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import UnknownNameError

DATASETS = {
    "shapes": "zoo.data.shapes:ShapesDataset",
    "digits": "zoo.data.digits:DigitsDataset",
}
SPLITS = ("train", "val", "test")


def dataset_class(name: str):
    """The Dataset class registered as ``name``."""
    import importlib

    try:
        target = DATASETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_dataset(name: str, split: str, **kwargs: Any):
    """Build split ``split`` ("train", "val" or "test") of dataset ``name``."""
    return dataset_class(name)(split=split, **kwargs)


__all__ = ["DATASETS", "SPLITS", "dataset_class", "get_dataset"]
