"""Small models the explainer tests run on (seeded, CPU-sized)."""

import pytest
import torch
from torch import nn


class GapLinear(nn.Module):
    """timm-style classifier: forward_features -> GAP -> linear, with in-place ReLUs."""

    def __init__(self, in_chans=3, num_classes=4, width=8):
        super().__init__()
        self.in_chans = in_chans
        self.features = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1), nn.BatchNorm2d(width),
                                      nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, padding=1, stride=2),
                                      nn.ReLU(inplace=True))
        self.fc = nn.Linear(width, num_classes)

    def forward_features(self, x):
        return self.features(x)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


def plain_cnn(in_chans=3, num_classes=4):
    """No timm convention: the explainer must find the last spatial layer itself."""
    return nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(inplace=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))


def tiny_segmenter(in_chans=3, num_classes=3):
    return nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, num_classes, 1))


@pytest.fixture
def gap_model():
    torch.manual_seed(0)
    return GapLinear().eval()


@pytest.fixture
def images():
    return torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def all_hooks(model):
    """What an explainer could leave on the model: the conformance suite's list of hooks, and a
    patched ``forward_features``."""
    from zoo.testing.hygiene import hooks

    found = list(hooks(model))
    if "forward_features" in model.__dict__:
        found.append("forward_features patched")
    return found


@pytest.fixture
def plain_model():
    torch.manual_seed(0)
    return plain_cnn().eval()


@pytest.fixture
def segmenter():
    torch.manual_seed(0)
    return tiny_segmenter().eval()


@pytest.fixture
def hooks_of():
    return all_hooks
