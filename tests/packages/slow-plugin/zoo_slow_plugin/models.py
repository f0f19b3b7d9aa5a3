import os
import time

import torch.nn as nn

time.sleep(float(os.environ.get("ZOO_SLOW_PLUGIN_SECONDS", "10")))


def build(num_classes=2, in_chans=3):
    return nn.Conv2d(in_chans, num_classes, 1)
