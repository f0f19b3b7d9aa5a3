"""``maskrcnn_mini``: Mask R-CNN (He et al. 2017) small enough to train on a CPU in minutes.

The pipeline is Mask R-CNN's and runs on torchvision's machinery (``GeneralizedRCNN``,
``RegionProposalNetwork``, ``RoIHeads``, ``AnchorGenerator``, ``MultiScaleRoIAlign``); the
modules plugged into it are ours and small. How it differs from the full model
(ResNet-50-FPN, ~44M parameters, images resized to 800 px):

* backbone: three stages of two 3x3 conv + GroupNorm + ReLU (widths 16/32/64 by default,
  strides 4/8/16) trained from scratch, instead of an ImageNet ResNet-50 with frozen BatchNorm;
  GroupNorm because detection batches are a few images.
* FPN: torchvision's ``FeaturePyramidNetwork`` with 48 channels (not 256) over the three
  stages, plus a max-pooled stride-32 level for the RPN.
* anchors: 8, 16, 32, 64 px (one size per level, ratios 0.5/1/2) for objects of 64-128 px
  images, instead of 32..512 px.
* RoI levels: a 64 px box is pooled from the stride-16 level (canonical scale 64, not 224),
  so small objects use the finest map.
* RPN / RoI sampling: 64 anchors and 128 RoIs per image (not 256 / 512), fewer proposals.
* box head: two FC layers of 128 (not 1024); mask head: two 3x3 convs of 48 channels
  (not four of 256), then a 2x transposed conv to 28x28 mask logits as in the paper.
* images are kept at their own size by default (``resize_to=None``); the full model
  rescales every image so its short side is 800 px.

Contract (torchvision's): ``model(images, targets)`` in train mode returns a dict of losses;
``model(images)`` in eval mode returns one dict per image with ``boxes`` (N, 4) xyxy in
pixels, ``labels`` (N,) int64, ``scores`` (N,) sorted high to low and ``masks``
(N, 1, H, W) probabilities at the image's size. ``images`` are float (C, H, W) tensors in
[0, 1]; the model normalises them with ``image_mean``/``image_std`` itself.

Batching: in eval mode an image's detections never depend on the other images in the list.
torchvision zero-pads a list to its largest image, and GroupNorm statistics, RPN anchors and
RoIAlign samples over that padding would change a smaller image's detections, so a list of
different sizes is predicted image by image (a list of one size stays one batch). In training
a mixed-size batch runs the backbone on each image's own region, so GroupNorm normalises it
as it will when predicting.

Neither ``torch.export`` (data-dependent shapes in the RPN/RoI heads) nor TorchScript
(``forward`` validates inputs and targets in plain Python) is supported: use it in eager mode.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.poolers import initLevelMapper

from zoo.inputs import weights_dtype
from zoo_detection.errors import ModelConfigError
from zoo_detection.inputs import as_image_list, check_targets

__all__ = ["MaskRCNNMini", "head_classes", "maskrcnn_mini"]


def _conv_gn_relu(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    groups = 8 if out_ch % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(groups, out_ch),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """Conv stages + FPN: (B, C, H, W) -> {"0": stride 4, "1": 8, "2": 16, "pool": 32} maps,
    each with ``out_channels`` channels (the attribute torchvision's heads read)."""

    STRIDES = (4, 8, 16)  # of the maps "0", "1", "2", the levels the RoI heads pool from

    def __init__(self, in_chans: int = 3, widths: Sequence[int] = (16, 32, 64), fpn_channels: int = 48):
        super().__init__()
        self.stem = _conv_gn_relu(in_chans, widths[0], stride=2)  # stride 2
        stages, prev = [], widths[0]
        for w in widths:
            stages.append(nn.Sequential(_conv_gn_relu(prev, w, stride=2), _conv_gn_relu(w, w)))
            prev = w
        self.stages = nn.ModuleList(stages)  # strides 4, 8, 16, ...
        self.fpn = FeaturePyramidNetwork(list(widths), fpn_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        x = self.stem(x)
        feats = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            feats[str(i)] = x
        return self.fpn(feats)


class BoxHead(nn.Module):
    """(R, C, 7, 7) pooled RoI features -> (R, hidden) representation."""

    def __init__(self, in_channels: int, pool: int = 7, hidden: int = 128):
        super().__init__()
        self.fc1 = nn.Linear(in_channels * pool * pool, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))


class BoxPredictor(nn.Module):
    """(R, hidden) -> class logits (R, K) and per-class box deltas (R, 4K)."""

    def __init__(self, hidden: int, num_classes: int):
        super().__init__()
        self.cls_score = nn.Linear(hidden, num_classes)
        self.bbox_pred = nn.Linear(hidden, num_classes * 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


class MaskHead(nn.Sequential):
    """(R, C, 14, 14) pooled RoI features -> (R, width, 14, 14)."""

    def __init__(self, in_channels: int, width: int = 48, depth: int = 2):
        layers = []
        for i in range(depth):
            layers += [nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class MaskPredictor(nn.Sequential):
    """(R, width, 14, 14) -> per-class mask logits (R, K, 28, 28).

    The layers are torchvision's ``MaskRCNNPredictor``'s, and they answer to its names too
    (``conv5_mask``, ``relu``, ``mask_fcn_logits``), so code written for it (the fine-tuning
    tutorial reads ``conv5_mask.in_channels``) works. Only the names are aliases: the modules stay
    registered as ``0``/``1``/``2``, the state_dict keys the shipped weights were saved with.
    """

    ALIASES = {"conv5_mask": "0", "relu": "1", "mask_fcn_logits": "2"}

    def __init__(self, width: int, num_classes: int):
        super().__init__(
            nn.ConvTranspose2d(width, width, 2, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, num_classes, 1),
        )

    def __getattr__(self, name: str):
        if name in MaskPredictor.ALIASES:
            return self._modules[MaskPredictor.ALIASES[name]]
        return super().__getattr__(name)

    def __setattr__(self, name: str, value) -> None:
        # `predictor.mask_fcn_logits = nn.Conv2d(...)` replaces the layer forward() runs
        super().__setattr__(MaskPredictor.ALIASES.get(name, name), value)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(MaskPredictor.ALIASES.get(name, name))

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(MaskPredictor.ALIASES))


class _Anchors(AnchorGenerator):
    """torchvision's generator keeps its cell anchors as plain tensors (not buffers), so a model
    built on the meta device (zoo's weight loading) would keep meta anchors: rebuild them."""

    def set_cell_anchors(self, dtype: torch.dtype, device: torch.device) -> None:
        if any(a.is_meta for a in self.cell_anchors):
            self.cell_anchors = [self.generate_anchors(s, r) for s, r in zip(self.sizes, self.aspect_ratios)]
        super().set_cell_anchors(dtype, device)


class _RoIAlign(MultiScaleRoIAlign):
    """RoIAlign over the stride 4/8/16 levels "0", "1", "2", with those strides set at build time.

    torchvision infers each level's scale from the first batch's image size, rounded to a power of
    two, and keeps it. It resizes every image to ~800 px, where that rounding is exact; this model
    keeps an image's own size and pads it to a multiple of 32, so a small first image (40 px: a
    16 px stride-4 map over 40 px) gave scales twice too large for every later call."""

    STRIDES = TinyBackbone.STRIDES

    def __init__(self, output_size: int, canonical_scale: int = 64, canonical_level: int = 4):
        super().__init__([str(i) for i in range(len(self.STRIDES))], output_size, 2,
                         canonical_scale=canonical_scale, canonical_level=canonical_level)
        self.scales = [1.0 / s for s in self.STRIDES]
        self.map_levels = initLevelMapper(int(math.log2(self.STRIDES[0])), int(math.log2(self.STRIDES[-1])),
                                          canonical_scale=canonical_scale, canonical_level=canonical_level)


class _Transform(GeneralizedRCNNTransform):
    """Normalise and batch (padding to a multiple of 32); resize only if ``resize_to`` is set."""

    def __init__(self, resize_to: int | None, image_mean: list[float], image_std: list[float]):
        size = resize_to or 1
        super().__init__(min_size=size, max_size=4 * size, image_mean=image_mean, image_std=image_std)
        self.resize_to = resize_to

    def resize(self, image, target=None):
        if self.resize_to is None:
            return image, target
        return super().resize(image, target)

    def __repr__(self) -> str:
        if self.resize_to is not None:
            return super().__repr__()
        return (f"{type(self).__name__}(\n    Normalize(mean={self.image_mean}, std={self.image_std})\n"
                f"    no resize: each image keeps its size\n)")


class MaskRCNNMini(GeneralizedRCNN):
    """A small Mask R-CNN; see the module docstring for how it differs from the full model.

    Args:
        num_classes: number of classes *including the background* (index 0), as in
            torchvision: 3 object classes -> ``num_classes=4``. Target labels lie in
            [1, num_classes - 1].
        in_chans: image channels; ``image_mean``/``image_std`` must have this many entries.
        widths: channels of the backbone's three stages (strides 4, 8, 16).
        fpn_channels: channels of every FPN level and of the heads' input.
        anchor_sizes: one anchor size in pixels per FPN level (4 levels).
        image_mean, image_std: per-channel normalisation applied inside the model
            (default 0.5 / 0.25 for every channel).
        resize_to: None keeps each image's size; an int resizes so the short side has it, unless
            the long side would then pass 4x that (torchvision's max_size), which caps it.
        score_thresh, nms_thresh, detections_per_img: post-processing of the detections.
    """

    def __init__(
        self,
        num_classes: int = 4,
        in_chans: int = 3,
        *,
        widths: Sequence[int] = (16, 32, 64),
        fpn_channels: int = 48,
        anchor_sizes: Sequence[int] = (8, 16, 32, 64),
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        resize_to: int | None = None,
        box_hidden: int = 128,
        mask_width: int = 48,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 50,
    ) -> None:
        if not _is_int(num_classes) or num_classes < 2:
            raise ModelConfigError(f"maskrcnn_mini: num_classes counts the background (index 0), so it must be "
                                   f"an int >= 2 (3 object classes: num_classes=4), got {num_classes!r}")
        if not _is_int(in_chans) or in_chans < 1:
            raise ModelConfigError(f"maskrcnn_mini: in_chans must be an int >= 1, got {in_chans!r}")
        if len(widths) != 3 or len(anchor_sizes) != 4:
            raise ModelConfigError("maskrcnn_mini has three backbone stages (len(widths) == 3) and four "
                                   "pyramid levels (len(anchor_sizes) == 4)")
        image_mean = [0.5] * in_chans if image_mean is None else list(image_mean)
        image_std = [0.25] * in_chans if image_std is None else list(image_std)
        if len(image_mean) != in_chans or len(image_std) != in_chans:
            raise ModelConfigError(f"maskrcnn_mini: image_mean and image_std need one value per channel "
                                   f"(in_chans={in_chans}), got {len(image_mean)} and {len(image_std)}")

        backbone = TinyBackbone(in_chans, widths, fpn_channels)
        c = backbone.out_channels
        anchors = _Anchors(tuple((s,) for s in anchor_sizes), (tuple(aspect_ratios),) * len(anchor_sizes))
        rpn = RegionProposalNetwork(
            anchors, RPNHead(c, anchors.num_anchors_per_location()[0]),
            fg_iou_thresh=0.7, bg_iou_thresh=0.3, batch_size_per_image=64, positive_fraction=0.5,
            pre_nms_top_n={"training": 600, "testing": 300}, post_nms_top_n={"training": 300, "testing": 100},
            nms_thresh=0.7,
        )
        roi_heads = RoIHeads(
            box_roi_pool=_RoIAlign(7),
            box_head=BoxHead(c, 7, box_hidden),
            box_predictor=BoxPredictor(box_hidden, num_classes),
            fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=128, positive_fraction=0.25,
            bbox_reg_weights=None, score_thresh=score_thresh, nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
            mask_roi_pool=_RoIAlign(14),
            mask_head=MaskHead(c, mask_width),
            mask_predictor=MaskPredictor(mask_width, num_classes),
        )
        super().__init__(backbone, rpn, roi_heads, _Transform(resize_to, image_mean, image_std))
        self.in_chans = in_chans

    @property
    def num_classes(self) -> int | None:
        """Classes the box predictor scores now, background included (None if it does not say).

        Read from the head, not stored at build time: torchvision's fine-tuning recipe replaces
        ``roi_heads.box_predictor``/``mask_predictor`` with heads of another size.
        """
        return head_classes(self.roi_heads).get("box predictor")

    @num_classes.setter
    def num_classes(self, value) -> None:
        raise AttributeError(f"maskrcnn_mini: num_classes follows the predictors ({self.num_classes} now); to train "
                             f"{value!r} classes, replace roi_heads.box_predictor and roi_heads.mask_predictor with "
                             "heads of that size (torchvision's fine-tuning recipe)")

    def forward(self, images, targets=None):
        """Train: ``(images, targets) -> {loss_*: scalar}``; eval: ``images -> [{boxes, labels,
        scores, masks}]``. ``images``: list of float (C, H, W) in [0, 1] (or one (N, C, H, W)).

        In eval mode each image gets exactly what it gets alone. Images of different sizes are
        predicted one by one: on the batch tensor the smaller ones would be zero-padded up to the
        largest, and that padding shifts GroupNorm's statistics, adds RPN anchors over it (thin
        border proposals) and changes RoIAlign's samples at the image's edge.
        """
        images = as_image_list(images, in_chans=self.in_chans, dtype=weights_dtype(self))
        if self.training:
            check_targets(targets, images, head_classes=head_classes(self.roi_heads),
                          needs_masks=self.roi_heads.has_mask())
            return self._run(images, [{**t, "labels": t["labels"].long()} for t in targets])
        # targets are ignored in eval mode, as torchvision does
        if len({tuple(image.shape[-2:]) for image in images}) > 1:
            return [self._run([image])[0] for image in images]
        return self._run(images)

    def _run(self, images: list[torch.Tensor], targets=None):
        """``GeneralizedRCNN.forward``'s steps, with the backbone run through ``_features``."""
        original_sizes = [tuple(image.shape[-2:]) for image in images]
        batch, targets = self.transform(images, targets)
        features = self._features(batch)
        proposals, proposal_losses = self.rpn(batch, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, batch.image_sizes, targets)
        if self.training:
            return {**detector_losses, **proposal_losses}
        return self.transform.postprocess(detections, batch.image_sizes, original_sizes)

    def _features(self, batch: ImageList) -> "OrderedDict[str, torch.Tensor]":
        """The backbone's maps, each image's normalised over its own region only.

        GroupNorm's statistics cover the whole map, so on a batch of mixed sizes (training) an
        image's features would depend on how far the largest image pads it. Each image is run on
        its own region, padded only to ``size_divisible`` (as when alone), and its maps are then
        zero-padded to the batch's size (zeros are what conv padding sees past a border anyway).
        """
        d = self.transform.size_divisible
        regions = [(math.ceil(h / d) * d, math.ceil(w / d) * d) for h, w in batch.image_sizes]
        if all(r == tuple(batch.tensors.shape[-2:]) for r in regions):
            return self.backbone(batch.tensors)  # no image is padded beyond its own region
        per_image = [self.backbone(batch.tensors[i:i + 1, :, :h, :w]) for i, (h, w) in enumerate(regions)]
        features = OrderedDict()
        for key in per_image[0]:
            maps = [f[key] for f in per_image]
            height, width = max(m.shape[-2] for m in maps), max(m.shape[-1] for m in maps)
            features[key] = torch.cat([F.pad(m, (0, width - m.shape[-1], 0, height - m.shape[-2])) for m in maps])
        return features


def head_classes(roi_heads: RoIHeads) -> dict[str, int]:
    """Classes (background included) of the predictors ``roi_heads`` has now, by head.

    The box predictor's count is ``cls_score.out_features`` (ours and torchvision's
    ``FastRCNNPredictor``), the mask predictor's ``mask_fcn_logits.out_channels`` (ours and
    ``MaskRCNNPredictor``); a head that names neither is left out (torch checks it then).
    """
    counts = {}
    cls_score = getattr(roi_heads.box_predictor, "cls_score", None)
    if isinstance(getattr(cls_score, "out_features", None), int):
        counts["box predictor"] = cls_score.out_features
    logits = getattr(roi_heads.mask_predictor, "mask_fcn_logits", None)
    if roi_heads.has_mask() and isinstance(getattr(logits, "out_channels", None), int):
        counts["mask predictor"] = logits.out_channels
    return counts


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def maskrcnn_mini(num_classes: int = 4, in_chans: int = 3, **kwargs) -> MaskRCNNMini:
    """Builder registered as ``maskrcnn_mini`` (``num_classes`` includes the background)."""
    return MaskRCNNMini(num_classes=num_classes, in_chans=in_chans, **kwargs)
