"""Fixtures of the detection tests: tiny synthetic instance data (squares and discs)."""

from __future__ import annotations

import pytest
import torch


def make_sample(size: int = 64, objects: list[tuple[int, int, int, int]] = (), seed: int = 0):
    """An image (3, size, size) and its target; ``objects`` are (label, cx, cy, half_size).

    Label 1 is a square, label 2 a disc (any other label is drawn as a square).
    """
    g = torch.Generator().manual_seed(seed)
    image = 0.1 * torch.rand(3, size, size, generator=g)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    boxes, labels, masks = [], [], []
    for i, (label, cx, cy, r) in enumerate(objects):
        if label == 2:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        else:
            mask = ((xx - cx).abs() <= r) & ((yy - cy).abs() <= r)
        colour = torch.tensor([0.9, 0.3, 0.2]) if i % 2 == 0 else torch.tensor([0.2, 0.8, 0.9])
        image[:, mask] = colour[:, None]
        ys, xs = mask.nonzero(as_tuple=True)
        boxes.append([xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1])
        labels.append(label)
        masks.append(mask)
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": torch.stack(masks).to(torch.uint8) if masks else torch.zeros(0, size, size, dtype=torch.uint8),
    }
    return image, target


@pytest.fixture
def sample():
    """``sample(size, objects, seed) -> (image, target)``, see :func:`make_sample`."""
    return make_sample


@pytest.fixture(autouse=True)
def _one_thread():
    # The test machine is shared; one thread keeps runs predictable.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
