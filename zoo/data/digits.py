"""``digits``: the real handwritten digits scikit-learn ships (``load_digits``: 1797 8x8
greyscale scans of 0-9), upsampled, for classification.

The 1797 images are shuffled once with a fixed seed and cut into train / val / test, so the
splits are disjoint and identical everywhere.

Item (a dict):
    image  float32 (1, S, S) in [0, 1] (ink is bright), S = ``image_size``
    label  int64 scalar, the digit
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

LABEL_NAMES = tuple(str(d) for d in range(10))
SPLIT_SEED = 7
VAL_SIZE, TEST_SIZE = 180, 360  # the rest (1257) is train


class DigitsDataset(Dataset):
    """Deterministic splits of scikit-learn's digits, upsampled bilinearly to ``image_size``.

    Args:
        split: "train", "val" or "test".
        image_size: side of the output images (default 32).
        size: keep only the first ``size`` items of the split (default: all).
    """

    label_names = LABEL_NAMES
    num_classes = 10

    def __init__(self, split: str = "train", image_size: int = 32, size: int | None = None) -> None:
        from zoo.extras import require

        require("train", "sklearn", purpose="the digits dataset (scikit-learn's)")
        from sklearn.datasets import load_digits

        if split not in ("train", "val", "test"):
            raise ValueError(f"unknown split {split!r}; choose from train, val, test")
        data = load_digits()
        order = np.random.default_rng(SPLIT_SEED).permutation(len(data.target))
        cut = {"test": order[:TEST_SIZE], "val": order[TEST_SIZE:TEST_SIZE + VAL_SIZE],
               "train": order[TEST_SIZE + VAL_SIZE:]}[split]
        if size is not None:
            cut = cut[: int(size)]
        self.split = split
        self.image_size = int(image_size)
        self.indices = cut  # positions in load_digits(), for provenance and the disjointness test
        images = torch.from_numpy(data.images[cut].astype(np.float32) / 16.0)[:, None]
        self.images = torch.nn.functional.interpolate(
            images, size=(self.image_size,) * 2, mode="bilinear", align_corners=False
        ).clamp_(0.0, 1.0)
        self.labels = torch.from_numpy(data.target[cut].astype(np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "label": self.labels[index]}
