import torch.nn as nn


def build(num_classes=2, in_chans=3):
    return nn.Conv2d(in_chans, num_classes, 1)
