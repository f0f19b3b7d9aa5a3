"""``shapes``: synthetic scenes of circles, squares and triangles, in the spirit of the Mask R-CNN
"shapes" sample, made harder on purpose: random sizes, colours and (limited) rotations, textured noisy
backgrounds, and overlapping objects that occlude each other.

Every item is generated from its own seed ``(split seed, index)``, so an item does not depend
on which others were read before it, and the three splits never share a seed.

Item (a dict):
    image   float32 (3, H, W) in [0, 1]
    mask    int64 (H, W): 0 background, 1 circle, 2 square, 3 triangle (the visible pixels)
    masks   uint8 (K, H, W): one visible-pixel mask per instance, in painting order
    boxes   float32 (K, 4): x0, y0, x1, y1 of each visible mask (x1/y1 exclusive)
    labels  int64 (K,): class of each instance (1..3)
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

LABEL_NAMES = ("background", "circle", "square", "triangle")
SPLIT_SEEDS = {"train": 1_000, "val": 2_000, "test": 3_000}
DEFAULT_SIZES = {"train": 1600, "val": 160, "test": 160}


class ShapesDataset(Dataset):
    """Deterministic synthetic shape scenes; see the module docstring for an item's fields.

    Args:
        split: "train", "val" or "test".
        size: number of items (default 1600 / 160 / 160).
        image_size: side of the square images in pixels.
        max_objects: objects per scene are drawn from 1..max_objects.
        min_visible: an object may be occluded, but at least this fraction of it stays visible.
        max_rotation: squares and triangles are turned by up to this many degrees either way
            from upright (triangles may also point down); 180 gives any orientation.
    """

    label_names = LABEL_NAMES
    num_classes = len(LABEL_NAMES)

    def __init__(self, split: str = "train", size: int | None = None, image_size: int = 64,
                 max_objects: int = 4, min_visible: float = 0.5, max_rotation: float = 20.0) -> None:
        if split not in SPLIT_SEEDS:
            raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLIT_SEEDS)}")
        self.split = split
        self.size = DEFAULT_SIZES[split] if size is None else int(size)
        self.image_size = int(image_size)
        self.max_objects = int(max_objects)
        self.min_visible = float(min_visible)
        self.max_rotation = float(max_rotation)
        yy, xx = np.mgrid[0:self.image_size, 0:self.image_size]
        self._grid = (xx + 0.5, yy + 0.5)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        rng = np.random.default_rng([SPLIT_SEEDS[self.split], index])
        image = _background(rng, self.image_size)
        label_map = np.zeros((self.image_size,) * 2, np.int64)
        owner = np.full((self.image_size,) * 2, -1, np.int64)  # which instance owns a pixel
        classes, full_areas = [], []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            for _attempt in range(20):
                cls, shape = self._random_shape(rng)
                area = int(shape.sum())
                if area < 30:
                    continue
                new_owner = np.where(shape, len(classes), owner)
                visible = [int((new_owner == k).sum()) for k in range(len(classes))]
                if all(v >= self.min_visible * a for v, a in zip(visible, full_areas)):
                    break
            else:
                continue  # no placement that keeps the others visible enough: skip it
            colour = _distinct_colour(rng, image[shape].mean(axis=0))
            shade = colour + rng.normal(0.0, 0.04, size=(int(shape.sum()), 3))
            image[shape] = shade
            owner, label_map = new_owner, np.where(shape, cls, label_map)
            classes.append(cls)
            full_areas.append(area)
        image = np.clip(image, 0.0, 1.0).astype(np.float32)
        masks = np.stack([owner == k for k in range(len(classes))]).astype(np.uint8)
        return {
            "image": torch.from_numpy(image.transpose(2, 0, 1).copy()),
            "mask": torch.from_numpy(label_map),
            "masks": torch.from_numpy(masks),
            "boxes": torch.from_numpy(_boxes(masks)),
            "labels": torch.tensor(classes, dtype=torch.int64),
        }

    def _random_shape(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """A class (1..3) and its boolean mask at a random centre, size and rotation."""
        s = self.image_size
        cls = int(rng.integers(1, 4))
        radius = rng.uniform(0.1, 0.22) * s  # circumradius
        cx, cy = rng.uniform(radius * 0.6, s - radius * 0.6, size=2)
        x, y = self._grid[0] - cx, self._grid[1] - cy
        if cls == 1:
            return cls, x * x + y * y <= (radius * 0.85) ** 2  # circles a little smaller: same area scale
        corners = 4 if cls == 2 else 3
        # Upright: a flat bottom edge (edge k's midpoint lies at angle + (2k + 1) pi / corners).
        upright = np.pi / 2 - np.pi / corners
        if cls == 3 and rng.random() < 0.5:
            upright += np.pi  # pointing down
        angle = upright + np.deg2rad(rng.uniform(-self.max_rotation, self.max_rotation))
        return cls, _regular_polygon(x, y, radius, corners, angle)


def _regular_polygon(x: np.ndarray, y: np.ndarray, radius: float, corners: int, angle: float) -> np.ndarray:
    """Points inside the regular polygon centred on the origin (an intersection of half-planes)."""
    inside = np.ones(x.shape, bool)
    apothem = radius * np.cos(np.pi / corners)
    for k in range(corners):
        normal = angle + (2 * k + 1) * np.pi / corners  # direction of edge k's midpoint
        inside &= x * np.cos(normal) + y * np.sin(normal) <= apothem
    return inside


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A base colour, a linear gradient, a low-frequency blob texture and pixel noise."""
    base = rng.uniform(0.15, 0.85, size=3)
    t = np.linspace(-0.5, 0.5, size)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    gradient = (t[None, :] * direction[0] + t[:, None] * direction[1])[..., None] * rng.uniform(0.0, 0.3, 3)
    coarse = rng.normal(0.0, 0.1, size=(3, size // 8, size // 8)).astype(np.float32)
    texture = np.stack([np.asarray(Image.fromarray(c, mode="F").resize((size, size), Image.BILINEAR))
                        for c in coarse], axis=-1)
    noise = rng.normal(0.0, rng.uniform(0.02, 0.07), size=(size, size, 3))
    return base + gradient + texture + noise


def _distinct_colour(rng: np.random.Generator, around: np.ndarray, min_distance: float = 0.35) -> np.ndarray:
    """A random colour at least ``min_distance`` (RGB Euclidean) away from ``around``."""
    colour = rng.uniform(0.0, 1.0, size=3)
    for _ in range(50):
        if np.linalg.norm(colour - around) >= min_distance:
            break
        colour = rng.uniform(0.0, 1.0, size=3)
    return colour


def _boxes(masks: np.ndarray) -> np.ndarray:
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        boxes[k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes
