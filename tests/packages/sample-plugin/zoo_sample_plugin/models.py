import torch
import torch.nn as nn

import zoo


def sample_segmenter(num_classes=3, in_chans=3, width=4):
    return nn.Sequential(nn.Conv2d(in_chans, width, 1), nn.ReLU(), nn.Conv2d(width, num_classes, 1))


class SampleClassifier(nn.Module):
    def __init__(self, num_classes=10, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward_features(self, x):
        return torch.relu(self.conv(x))

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


class OnesExplainer(zoo.Explainer):
    def __call__(self, images, target=None):
        return torch.ones(images.shape[0], *images.shape[2:])
