"""Datasets the reference weights are trained and evaluated on.

Both generate or load their data locally (no downloads) and are deterministic: a split is a
fixed seed, and sample ``i`` of a split is the same on every machine and in every process.

``get_dataset(name, split, **kwargs)`` returns a ``torch.utils.data.Dataset`` whose items are
dicts (see each module); ``DATASETS`` lists the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo.errors import UnknownNameError

DATASETS = {
    "shapes": "zoo.data.shapes:ShapesDataset",
    "digits": "zoo.data.digits:DigitsDataset",
}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetCardText:
    """What a hub card trained on a dataset says of it (:mod:`zoo.cards`)."""

    hub_id: str  # the card metadata's ``datasets:`` entry
    description: str  # "trained by visionzoo on <description>"
    tag: str  # the card's topic tag
    held_out: str  # how the test split is kept apart from the training data
    limits: str  # the card's closing section: what the weights are not for


CARD_TEXT = {
    "shapes": DatasetCardText(
        "visionzoo/shapes",
        "synthetic scenes of circles, squares and triangles (zoo.data.shapes): random sizes and colours, "
        "squares and triangles within 20 degrees of upright, textured noisy backgrounds, overlapping objects",
        "synthetic-data",
        "generated from seeds the training split never uses",
        "A reference model for demos, tests and explainer research. It was trained only on synthetic images of "
        "flat-coloured circles, squares and triangles on textured backgrounds; it knows nothing about natural "
        "images and its numbers say nothing about real-world segmentation quality. Do not use it for decisions "
        "about people or anything safety-relevant.\n"),
    "digits": DatasetCardText(
        "sklearn/digits",
        "scikit-learn's handwritten digits (load_digits, 1797 real 8x8 scans), upsampled (zoo.data.digits)",
        "handwritten-digits",
        "a held-out slice of one fixed shuffle",
        "A reference classifier for CAM/saliency demos and explainer tests. It saw only the 1797 small, centred, "
        "greyscale scikit-learn digits (bright ink on black, upsampled); expect it to fail on photos, other "
        "handwriting styles, inverted colours or off-centre digits. Not for any real character-recognition use.\n"),
}


def _check_known(name: str) -> None:
    if name not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def dataset_class(name: str):
    """The Dataset class registered as ``name``."""
    import importlib

    _check_known(name)
    module, _, attr = DATASETS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def card_text(name: str) -> DatasetCardText:
    """What a hub card says of dataset ``name``; a dataset added to :data:`DATASETS` needs its text here."""
    _check_known(name)
    try:
        return CARD_TEXT[name]
    except KeyError:
        raise UnknownNameError(f"dataset {name!r} has no hub-card text: add it to zoo.data.CARD_TEXT") from None


def get_dataset(name: str, split: str, **kwargs: Any):
    """Build split ``split`` ("train", "val" or "test") of dataset ``name``."""
    return dataset_class(name)(split=split, **kwargs)


__all__ = ["CARD_TEXT", "DATASETS", "SPLITS", "DatasetCardText", "card_text", "dataset_class", "get_dataset"]
