"""Reference models for the explainer tests."""

import pytest
import torch
from torch import nn


class GapLinear(nn.Module):
    """timm-style GAP + linear classifier with in-place ReLUs."""

    def __init__(self, in_chans=3, num_classes=5, width=6):
        super().__init__()
        self.in_chans = in_chans
        self.body = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(width, num_classes)

    def forward_features(self, x):
        return self.body(x)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


@pytest.fixture
def gap_model():
    torch.manual_seed(0)
    return GapLinear().eval()


@pytest.fixture
def images():
    return torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
