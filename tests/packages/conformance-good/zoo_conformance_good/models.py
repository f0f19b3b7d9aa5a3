import torch.nn as nn
import torch.nn.functional as F

from zoo.inputs import check_image_batch

MIN_SIZE = 32  # the contract's minimum: the suite must never feed anything smaller


class TinySegmenter(nn.Module):
    def __init__(self, num_classes=3, in_chans=3, width=8):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(in_chans, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.head = nn.Conv2d(width, num_classes, 1)
        self.in_chans = in_chans

    def forward(self, x):
        check_image_batch(x, in_chans=self.in_chans, min_size=MIN_SIZE)
        return F.interpolate(self.head(self.down(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


class TinyClassifier(nn.Module):
    def __init__(self, num_classes=4, in_chans=3, width=8):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1), nn.BatchNorm2d(width),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.fc = nn.Linear(width, num_classes)
        self.in_chans = in_chans

    def forward_features(self, x):
        check_image_batch(x, in_chans=self.in_chans, min_size=MIN_SIZE)
        return self.features(x)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


def tiny_maskrcnn(num_classes=3, in_chans=3, width=16):
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    backbone = nn.Sequential(nn.Conv2d(in_chans, width, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
    backbone.out_channels = width
    return MaskRCNN(
        backbone, num_classes=None, min_size=64, max_size=96,
        image_mean=[0.5] * in_chans, image_std=[0.25] * in_chans,
        rpn_anchor_generator=AnchorGenerator(((16, 32),), ((0.5, 1.0, 2.0),)),
        rpn_pre_nms_top_n_train=64, rpn_post_nms_top_n_train=32, rpn_pre_nms_top_n_test=64,
        rpn_post_nms_top_n_test=32, rpn_batch_size_per_image=32, box_batch_size_per_image=16,
        box_detections_per_img=10, box_score_thresh=0.0,
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
        box_head=TwoMLPHead(width * 49, 32), box_predictor=FastRCNNPredictor(32, num_classes),
        mask_head=MaskRCNNHeads(width, (width,), 1), mask_predictor=MaskRCNNPredictor(width, width, num_classes),
    )
