"""``cnn_cam``: a small CNN classifier whose head is global average pooling then one linear layer.

That head is what class activation mapping (Zhou et al. 2016) needs: the logit of class c is
``sum_k w[c, k] * mean_xy(F_k)``, so ``sum_k w[c, k] * F_k`` is a spatial map of the evidence
for c. The model follows timm's convention so CAM code works on it and on timm's classifiers
alike: ``forward_features(x)`` returns the last feature map, ``get_classifier()`` the linear
head, ``forward_head(features)`` pools and classifies.

    x (N, in_chans, H, W)
    -> stage 1: [conv3x3-BN-ReLU] x depth at width[0]           (N, w0, H, W)
    -> stage i>1: maxpool 2x2, [conv3x3-BN-ReLU] x depth         (N, wi, H/2^(i-1), W/2^(i-1))
    -> global average pool -> (dropout) -> linear                (N, num_classes)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from zoo.inputs import InputError, check_image_batch, weights_dtype
from zoo_classification.errors import ModelConfigError

# What the model's inputs look like, in timm's ``pretrained_cfg`` terms. The zoo feeds pixels in
# [0, 1] without normalisation (zoo.train writes mean 0 / std 1 into every card's config.json) and
# resizes image files bilinearly; 32 px is the digits card's input size. Any size >= min_size works.
DEFAULT_INPUT_HW = (32, 32)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class CnnCam(nn.Module):
    """Small VGG-style CNN with a GAP + linear head.

    Args:
        num_classes: outputs of the head (0 gives an identity head: pooled features).
        in_chans: input channels.
        widths: channels of each stage; each stage after the first starts with a 2x2 max-pool,
            so the last feature map is the input size / 2^(len(widths) - 1).
        depth: conv blocks per stage.
        drop_rate: dropout before the head.
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 3, widths: Sequence[int] = (16, 32, 64),
                 depth: int = 2, drop_rate: float = 0.0) -> None:
        super().__init__()
        widths = _stage_widths(widths)
        _check_ints(in_chans=in_chans, depth=depth)
        _check_num_classes(num_classes)
        if not (isinstance(drop_rate, (int, float)) and not isinstance(drop_rate, bool) and 0 <= drop_rate < 1):
            raise ModelConfigError(f"cnn_cam: drop_rate must be in [0, 1), got {drop_rate!r}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.num_features = self.head_hidden_size = widths[-1]  # timm's names: no pre-logits layer
        stages, cin = [], in_chans
        for i, width in enumerate(widths):
            blocks = [nn.MaxPool2d(2)] if i else []
            for _ in range(depth):
                blocks.append(_conv_bn_relu(cin, width))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.features = nn.Sequential(*stages)
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        # Smallest input whose last feature map is still at least 1x1.
        self.min_size = 2 ** (len(widths) - 1)
        self.grad_checkpointing = False
        # timm's description of the expected input, so timm.data.resolve_data_config(model=...)
        # and create_transform give this model's preprocessing rather than ImageNet's.
        self.pretrained_cfg = self.default_cfg = {
            "input_size": (in_chans, *DEFAULT_INPUT_HW), "fixed_input_size": False,
            "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "squash",
            "mean": (0.0,) * in_chans, "std": (1.0,) * in_chans,
            "num_classes": num_classes, "first_conv": "features.0.0.0", "classifier": "head",
        }

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, (N, num_features, H', W'): what CAM weights with the head."""
        if not torch.jit.is_scripting():  # TorchScript cannot compile the checks (as timm's models skip theirs)
            self._check_input(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            for stage in self.features:
                x = checkpoint(stage, x, use_reentrant=False)
            return x
        return self.features(x)

    @torch.jit.unused
    def _check_input(self, x: torch.Tensor) -> None:
        if isinstance(x, torch.fx.Proxy):  # torch.fx traces the model: no sizes to check
            return
        check_image_batch(x, in_chans=self.in_chans, min_size=self.min_size, owner="cnn_cam", dtype=weights_dtype(self))
        if self.training and x.shape[0] == 1 and max(x.shape[-2:]) < 2 * self.min_size:
            # the last stage would be 1x1, where train-mode BatchNorm has no batch statistics
            raise InputError(f"cnn_cam: in training mode, a batch of one {x.shape[-2]}x{x.shape[-1]} image gives "
                             f"a 1x1 map in the last stage, where BatchNorm has no batch statistics; train on "
                             f"batches of >= 2 images or on images of >= {2 * self.min_size} px on one side")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """timm's switch: recompute each stage's activations in the backward pass (less memory)."""
        self.grad_checkpointing = enable

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = self.drop(features.mean(dim=(2, 3)))
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the head (timm's method and signature), e.g. for fine-tuning. ``num_classes=0``
        leaves no head (forward returns pooled features). Only average pooling exists here, so
        ``global_pool`` may be None (keep it) or ``"avg"``."""
        _check_num_classes(num_classes)
        if global_pool not in (None, "avg"):
            raise ModelConfigError(f"cnn_cam: global_pool={global_pool!r} is not supported; its head is global "
                                   "average pooling (CAM needs it), so pass global_pool='avg' or None")
        self.num_classes = num_classes
        like = next(self.features.parameters())  # a new head on the model's device and in its dtype, as timm's
        self.head = (nn.Linear(self.num_features, num_classes, device=like.device, dtype=like.dtype)
                     if num_classes > 0 else nn.Identity())


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ints(**values) -> None:
    """ModelConfigError naming the argument unless each value is an int >= 1."""
    for name, value in values.items():
        if not (_is_int(value) and value >= 1):
            raise ModelConfigError(f"cnn_cam: {name} must be a positive int, got {value!r}")


def _stage_widths(widths) -> tuple[int, ...]:
    """``widths`` as a tuple, from any sequence (a list, a range); a ModelConfigError unless it
    holds at least one int >= 1 and only those."""
    if (isinstance(widths, Sequence) and not isinstance(widths, (str, bytes)) and len(widths)
            and all(_is_int(w) and w >= 1 for w in widths)):
        return tuple(widths)
    raise ModelConfigError(f"cnn_cam: widths must be a non-empty sequence of ints >= 1 (one per stage), "
                           f"got {widths!r}")


def _check_num_classes(num_classes) -> None:
    if not _is_int(num_classes) or num_classes < 0:
        raise ModelConfigError(f"cnn_cam: num_classes must be an int >= 0 (0 means no head: pooled features, as "
                               f"in timm), got {num_classes!r}")


def cnn_cam(num_classes: int = 10, in_chans: int = 3, **kwargs) -> CnnCam:
    """Builder registered as ``cnn_cam``; ``kwargs`` go to :class:`CnnCam` (widths, depth, drop_rate)."""
    return CnnCam(num_classes=num_classes, in_chans=in_chans, **kwargs)
