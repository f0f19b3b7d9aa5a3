import torch
import torch.nn as nn


class HalfSegmenter(nn.Module):
    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class HeadlessClassifier(nn.Module):
    def __init__(self, num_classes=4, in_chans=3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(8, num_classes))

    def forward(self, x):
        return self.body(x)


def stubborn_classifier(num_classes=4, in_chans=3):
    return HeadlessClassifier(num_classes=4, in_chans=in_chans)


class IdleSegmenter(HalfSegmenter):
    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)
        self.unused = nn.Conv2d(num_classes, num_classes, 1)


class ForgetfulSegmenter(nn.Module):
    def __init__(self, num_classes=3, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)
        self.register_buffer("bias_map", torch.randn(1, num_classes, 1, 1), persistent=False)

    def forward(self, x):
        return self.conv(x) + self.bias_map


class _Unsorted(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, images, targets=None):
        out = self.inner(images, targets)
        if self.training:
            return out
        return [{k: v.flip(0) for k, v in d.items()} for d in out]


def unsorted_maskrcnn(num_classes=3, in_chans=3):
    from zoo_conformance_bad._maskrcnn import tiny_maskrcnn

    return _Unsorted(tiny_maskrcnn(num_classes, in_chans))


class MutatingClassifier(nn.Module):
    """Normalises the caller's images in place."""

    def __init__(self, num_classes=4, in_chans=3):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward_features(self, x):
        return self.conv(x.sub_(0.5).div_(0.25))

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


class NoisySegmenter(HalfSegmenter):
    """Dropout that stays on in eval mode: no two passes agree."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)

    def forward(self, x):
        return torch.nn.functional.dropout(self.conv(x), 0.5, training=True)


class TwoFacedSegmenter(HalfSegmenter):
    """Takes another path while torch.export traces it (as code testing for tracing can)."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.conv = nn.Conv2d(in_chans, num_classes, 3, padding=1)

    def forward(self, x):
        out = self.conv(x)
        return out * 2 if torch.compiler.is_exporting() else out


class FirstOnlySegmenter(IdleSegmenter):
    """Segments only the first image of a batch."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, in_chans)
        del self.unused

    def forward(self, x):
        return self.conv(x)[:1]


class BatchMixClassifier(MutatingClassifier):
    """Normalises features with the statistics of the whole batch, in eval mode too."""

    def forward_features(self, x):
        f = self.conv(x)
        return (f - f.mean(0, keepdim=True)) / (f.std(0, keepdim=True, unbiased=False) + 1)


class _Xywh(_Unsorted):
    """Boxes as (x, y, width, height), not torchvision's (x1, y1, x2, y2)."""

    def forward(self, images, targets=None):
        out = self.inner(images, targets)
        if self.training:
            return out
        return [{**d, "boxes": torch.cat([d["boxes"][:, :2], d["boxes"][:, 2:] - d["boxes"][:, :2]], 1)} for d in out]


def quiet_xywh_maskrcnn(num_classes=3, in_chans=3):
    """xywh boxes behind a score threshold an untrained head never clears: 0 detections as built."""
    from zoo_conformance_bad._maskrcnn import tiny_maskrcnn

    model = tiny_maskrcnn(num_classes, in_chans)
    model.roi_heads.score_thresh = 0.99
    return _Xywh(model)


class _Empty(_Unsorted):
    """Never detects anything."""

    def forward(self, images, targets=None):
        out = self.inner(images, targets)
        if self.training:
            return out
        return [{k: v[:0] for k, v in d.items()} for d in out]


def empty_maskrcnn(num_classes=3, in_chans=3):
    from zoo_conformance_bad._maskrcnn import tiny_maskrcnn

    return _Empty(tiny_maskrcnn(num_classes, in_chans))


def unbuildable_segmenter(num_classes=3, in_chans=3):
    raise RuntimeError("this builder always fails")


class TolerantSegmenter(IdleSegmenter):
    """Ignores in_chans: a 3-channel stem that averages any input down to 3 channels."""

    def __init__(self, num_classes=3, in_chans=3):
        super().__init__(num_classes, 3)
        del self.unused

    def forward(self, x):
        if x.shape[1] != 3:
            x = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        return self.conv(x)


class MlpHeadClassifier(MutatingClassifier):
    """get_classifier() is only the last layer of an MLP head: CAM through it is not exact."""

    def __init__(self, num_classes=4, in_chans=3):
        super().__init__(num_classes, in_chans)
        self.pre = nn.Linear(8, 8)

    def forward_features(self, x):
        return self.conv(x)

    def forward_head(self, features):
        return self.fc(3 * torch.tanh(self.pre(features.mean((2, 3)))))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class _Wrapped(_Unsorted):
    """A torchvision Mask R-CNN behind a wrapper that changes one thing (the subclasses)."""

    def forward(self, images, targets=None):
        return self.inner(images, targets)


class _DetachedLosses(_Wrapped):
    """Returns its training losses detached (computed under no_grad): nothing can be trained."""

    def forward(self, images, targets=None):
        out = self.inner(images, targets)
        return {k: v.detach() for k, v in out.items()} if self.training else out


def detached_maskrcnn(num_classes=3, in_chans=3):
    from zoo_conformance_bad._maskrcnn import tiny_maskrcnn

    return _DetachedLosses(tiny_maskrcnn(num_classes, in_chans))


class _ObjectsRequired(_Wrapped):
    """Refuses a training image without objects (a background-only image is a valid target)."""

    def forward(self, images, targets=None):
        if targets is not None and any(len(t["boxes"]) == 0 for t in targets):
            raise ValueError("every image needs at least one box")
        return self.inner(images, targets)


def objects_required_maskrcnn(num_classes=3, in_chans=3):
    from zoo_conformance_bad._maskrcnn import tiny_maskrcnn

    return _ObjectsRequired(tiny_maskrcnn(num_classes, in_chans))


class _MaskLogits(_Wrapped):
    """Returns mask logits where torchvision's contract has probabilities in [0, 1]."""

    def forward(self, images, targets=None):
        out = self.inner(images, targets)
        if self.training:
            return out
        return [{**d, "masks": torch.logit(d["masks"].clamp(1e-4, 1 - 1e-4))} for d in out]


def mask_logits_maskrcnn(num_classes=3, in_chans=3):
    from zoo_conformance_bad._maskrcnn import tiny_maskrcnn

    return _MaskLogits(tiny_maskrcnn(num_classes, in_chans))
