"""Small reference models the explainer checks run on, built and trained by the suite itself.

* :class:`ReferenceClassifier`: conv features with ``nn.ReLU(inplace=True)`` and BatchNorm, global
  average pooling and a linear head, following timm's ``forward_features``/``get_classifier``
  convention, the case CAM is defined for;
* :class:`ReferenceSegmenter`: conv features at half resolution, a 1x1 classifier, bilinear
  upsampling to the input size;
* both end their features with a :class:`FaultInjector`, so a check can make the model raise in
  the middle of an explainer's call and look at what the explainer left behind.

:func:`trained_classifier` trains the classifier for a few seeded steps on a synthetic task
(what colour is the square?), and :func:`trained_segmenter` the segmenter on the same scenes
(which pixels belong to a square of which colour?), so the randomisation sanity check has models
whose maps mean something.
"""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.seeding import seeded

NUM_CLASSES = 4  # the colour of the square
TRAIN_SIZE = 32  # also the sanity check's image size: never below the contract's 32


class InjectedFault(RuntimeError):
    """Raised on purpose by :class:`FaultInjector`."""


class _RaiseInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        raise InjectedFault("fault injected by the conformance suite (backward pass)")


class FaultInjector(nn.Module):
    """The identity, until ``mode`` is set to "forward" or "backward": then it raises there."""

    def __init__(self) -> None:
        super().__init__()
        self.mode: str | None = None

    def forward(self, x):
        if self.mode == "forward":
            raise InjectedFault("fault injected by the conformance suite (forward pass)")
        if self.mode == "backward":
            return _RaiseInBackward.apply(x)
        return x


def _features(in_chans: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chans, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True),
        FaultInjector(),
    )


class ReferenceClassifier(nn.Module):
    """GAP + linear classifier: (N, C, H, W) -> (N, K)."""

    def __init__(self, num_classes: int = NUM_CLASSES, in_chans: int = 3, width: int = 8) -> None:
        super().__init__()
        self.features = _features(in_chans, width)
        self.fc = nn.Linear(2 * width, num_classes)

    @property
    def fault(self) -> FaultInjector:
        return self.features[-1]

    def forward_features(self, x):
        return self.features(x)

    def forward_head(self, features):
        return self.fc(features.mean((2, 3)))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class ReferenceSegmenter(nn.Module):
    """(N, C, H, W) -> (N, K, H, W), features at half resolution."""

    def __init__(self, num_classes: int = 3, in_chans: int = 3, width: int = 8) -> None:
        super().__init__()
        self.features = _features(in_chans, width)
        self.classifier = nn.Conv2d(2 * width, num_classes, 1)

    @property
    def fault(self) -> FaultInjector:
        return self.features[-1]

    def forward(self, x):
        logits = self.classifier(self.features(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def square_images(n: int, h: int = TRAIN_SIZE, w: int = TRAIN_SIZE, seed: int = 0):
    """Dim noise with one bright square anywhere; the label is its colour (red, green, blue, white)."""
    x, labels, _ = square_scenes(n, h, w, seed)
    return x, labels


def square_scenes(n: int, h: int = TRAIN_SIZE, w: int = TRAIN_SIZE, seed: int = 0):
    """:func:`square_images` with each square's pixels: ``(images, labels, masks (n, h, w) bool)``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    side_h, side_w = max(h // 4, 2), max(w // 4, 2)
    top = torch.randint(0, h - side_h + 1, (n, 1, 1), generator=g)
    left = torch.randint(0, w - side_w + 1, (n, 1, 1), generator=g)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    square = (rows >= top) & (rows < top + side_h) & (cols >= left) & (cols < left + side_w)  # (n, h, w)
    colour = F.one_hot(labels.clamp(max=2), 3).bool() | (labels == 3).view(n, 1)  # (n, 3)
    x = 0.2 * torch.rand(n, 3, h, w, generator=g)
    return torch.where(square[:, None] & colour[:, :, None, None], torch.ones(()), x), labels, square


def segmentation_labels(labels, masks):
    """Per-pixel classes of :func:`square_scenes`: 0 for the background, 1 + the colour on the square."""
    return torch.where(masks, labels.view(-1, 1, 1) + 1, torch.zeros((), dtype=labels.dtype))


def fresh_classifier(seed: int = 0) -> ReferenceClassifier:
    with seeded(seed):
        return ReferenceClassifier()


def fresh_segmenter(seed: int = 0, num_classes: int = 3) -> ReferenceSegmenter:
    with seeded(seed):
        return ReferenceSegmenter(num_classes=num_classes).eval()


@functools.lru_cache(maxsize=1)
def _trained_classifier(steps: int = 30) -> tuple[ReferenceClassifier, float]:
    model = fresh_classifier(0).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    with seeded(0), torch.enable_grad():  # also when first asked for under torch.no_grad()
        for step in range(steps):
            x, y = square_images(32, seed=1000 + step)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    x, y = square_images(128, seed=1)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    for p in model.parameters():
        p.grad = None
    return model, accuracy


def trained_classifier() -> ReferenceClassifier:
    """A private copy of the reference classifier trained on :func:`square_images` (eval mode)."""
    model, accuracy = _trained_classifier()
    if accuracy < 0.9:  # pragma: no cover - guards the suite itself
        raise RuntimeError(f"reference classifier reached only {accuracy:.0%} accuracy; the suite is broken")
    return copy.deepcopy(model)


SEGMENTATION_CLASSES = NUM_CLASSES + 1  # the background and the four colours
# The background is 15/16 of every image: unweighted, the segmenter learns little else.
BACKGROUND_WEIGHT = 0.1


@functools.lru_cache(maxsize=1)
def _trained_segmenter(steps: int = 40) -> tuple[ReferenceSegmenter, float]:
    model = fresh_segmenter(0, num_classes=SEGMENTATION_CLASSES).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    weights = torch.tensor([BACKGROUND_WEIGHT] + [1.0] * NUM_CLASSES)
    with seeded(0), torch.enable_grad():  # also when first asked for under torch.no_grad()
        for step in range(steps):
            x, labels, masks = square_scenes(32, seed=2000 + step)
            opt.zero_grad()
            F.cross_entropy(model(x), segmentation_labels(labels, masks), weight=weights).backward()
            opt.step()
    model.eval()
    x, labels, masks = square_scenes(128, seed=2)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    right = predicted == segmentation_labels(labels, masks)
    accuracy = min(right[masks].float().mean().item(), right[~masks].float().mean().item())  # squares, background
    for p in model.parameters():
        p.grad = None
    return model, accuracy


def trained_segmenter() -> ReferenceSegmenter:
    """A private copy of the reference segmenter trained to label :func:`square_scenes`' pixels
    (:func:`segmentation_labels`; eval mode)."""
    model, accuracy = _trained_segmenter()
    if accuracy < 0.9:  # pragma: no cover - guards the suite itself
        raise RuntimeError(f"reference segmenter labels only {accuracy:.0%} of the squares' (or the "
                           f"background's) pixels right; the suite is broken")
    return copy.deepcopy(model)
