"""FCN-32s, FCN-16s and FCN-8s: Long, Shelhamer, Darrell, "Fully Convolutional Networks for
Semantic Segmentation", CVPR 2015 (arXiv:1411.4038).

A classification backbone made fully convolutional (its "fc6/fc7" become convolutions), a 1x1
score layer giving coarse class scores at stride 32, and transposed convolutions, initialised to
bilinear interpolation, that bring them back to the input resolution. FCN-16s and FCN-8s first
upsample the coarse scores 2x and add scores predicted from pool4 (stride 16) and then pool3
(stride 8), which recovers detail. A fresh net's skip score layers are ordinary convolutions, so
its skips are in use from the start; the paper's staged training, where a new skip starts at zero
so that the net first predicts from its coarser parent's scores alone, is a recipe's business
(``train.zero_init`` after ``train.init_from``, as the FCN-16s/8s cards do).

Alignment: the paper pads the input by 100 pixels and crops every upsampled map at an offset. Here
the input is padded (edge repeated) to a multiple of 32 and every conv is 'same', so the stride-s map is
exactly (H/s, W/s), and each upsampling is a transposed conv placed so that its output lands on the
finer grid where the backbone's pixels really are (:mod:`zoo_segmentation.feature_grid`): shapes
line up without any cropping, and so do the skip scores.

* cell-centred backbones (pixel j of a stride-s map centred at input x = s*j + (s-1)/2: the VGG
  stack, patchify encoders such as timm's ConvNeXt): kernel 2f, stride f, padding f/2 (the paper's
  crop offset, folded into the layer), the same grid as ``F.interpolate(mode="bilinear",
  align_corners=False)``;
* corner-aligned backbones (pixel j centred at s*j: timm's ResNets, RegNets, MobileNets,
  EfficientNets): kernel 2f-1, stride f, padding f-1, so coarse pixel j lands exactly on fine
  pixel f*j; the map is first extended by one replicated row and column at the bottom and right,
  so the last f-1 fine pixels interpolate towards the edge value, as ``F.interpolate`` does.

Measured end to end (gradient centroid of output pixel (96, 96), 192x192 inputs, random init), the
VGG and resnet18 FCN-32s/16s/8s all centre within 2 px of (96, 96). A timm encoder on neither grid
(DenseNet's average-pool transitions, the 'same'-padded tf_* ports) is a ModelConfigError that
gives its offsets, unless ``feature_grid=`` picks the nearer grid knowingly.

Border: near the image border a transposed conv reads its zero padding, so the values would fade
there (a constant map of 1 upsampled 32x gave 0.266 in the corner). Both grids first extend the
coarse map by replicated edge pixels (one all round for cell-centred, one at the bottom and right
for corner-aligned) and crop, so at initialisation the layers equal ``F.interpolate``'s edge
clamping everywhere.

Backbones: a VGG-style stack (the paper's VGG-16 is ``widths=(64, 128, 256, 512, 512),
depths=(2, 2, 3, 3, 3), fc_width=4096, fc_kernel=7, batch_norm=False``; the default is a small one that trains on a
CPU), or any timm ``features_only`` encoder with stride-8/16/32 features (``backbone="resnet18"``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.inputs import check_image_batch, weights_dtype
from zoo_segmentation.errors import ModelConfigError
from zoo_segmentation.feature_grid import CELL_CENTRED, GRIDS, grid_of, measure_offsets
from zoo_segmentation.layers import (
    MIN_INPUT_SIZE,
    check_positive_int_sequences,
    check_positive_ints,
    conv_stack,
    crop_to,
    init_weights,
    pad_for_batch_statistics,
    pad_to_multiple,
)

SKIP_STRIDES = (8, 16, 32)  # pool3, pool4, pool5
VGG_WIDTHS = (16, 32, 64, 128, 128)  # the small default VGG stack (the paper's: 64, 128, 256, 512, 512)
VGG_DEPTHS = (2, 2, 3, 3, 3)


def bilinear_kernel(factor: int, grid: str = CELL_CENTRED) -> torch.Tensor:
    """The kernel of bilinear interpolation by an integer ``factor`` f between two grids.

    Each tap weighs 1 - distance / f, its distance from the kernel centre. Cell-centred grids
    (coarse pixels midway between fine ones) take a (2f, 2f) kernel centred at f - 0.5: for f = 2
    the 1-D kernel is [0.25, 0.75, 0.75, 0.25]. Corner-aligned grids (coarse pixel j on fine pixel
    f*j) take a (2f-1, 2f-1) kernel centred at f - 1: for f = 2, [0.5, 1, 0.5].
    """
    size, centre = (2 * factor, factor - 0.5) if grid == CELL_CENTRED else (2 * factor - 1, factor - 1)
    taps = torch.arange(size, dtype=torch.float64)
    weights_1d = 1 - (taps - centre).abs() / factor
    return (weights_1d[:, None] * weights_1d[None, :]).float()


class BilinearUpsample(nn.ConvTranspose2d):
    """Learnable ``factor``-x upsampling of a C-channel score map, initialised to bilinear
    interpolation of each channel on its own: (N, C, h, w) -> (N, C, f*h, f*w).

    ``depthwise=False`` (the paper's 2x layers) lets training mix classes; ``depthwise=True``
    (used for the final, large-kernel layer, which the paper keeps fixed at bilinear) keeps one
    kernel per class, C k^2 weights instead of C^2 k^2 (k = 2f or 2f-1). ``grid`` is where the coarse
    pixels sit on the fine grid (:mod:`zoo_segmentation.feature_grid`).
    """

    def __init__(self, channels: int, factor: int, depthwise: bool = False, grid: str = CELL_CENTRED):
        if grid not in GRIDS:
            raise ModelConfigError(f"BilinearUpsample: grid must be one of {GRIDS}, got {grid!r}")
        if factor < 2 or (grid == CELL_CENTRED and factor % 2):
            raise ModelConfigError(f"BilinearUpsample: factor must be an int >= 2 (even on the {CELL_CENTRED} "
                                   f"grid), got {factor}")
        self.grid = grid
        if grid == CELL_CENTRED:
            geometry = dict(kernel_size=2 * factor, padding=factor // 2)
        else:
            geometry = dict(kernel_size=2 * factor - 1, padding=factor - 1)
        super().__init__(channels, channels, stride=factor, groups=channels if depthwise else 1, bias=False,
                         **geometry)

    @property
    def factor(self) -> int:
        return self.stride[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Beyond the outermost coarse pixels, interpolate towards copies of them (edge clamping,
        # as F.interpolate does) instead of towards the zero padding, which would fade the border.
        height, width = x.shape[-2:]
        f = self.factor
        if self.grid == CELL_CENTRED:  # half a coarse pixel of border on every side: (h + 2) f rows, cut to h f
            out = super().forward(F.pad(x, (1, 1, 1, 1), mode="replicate"))
            return out[..., f: f + height * f, f: f + width * f]
        # corner-aligned: only past the last pixel: (h + 1) f - f + 1 rows, cut to h f
        out = super().forward(F.pad(x, (0, 1, 0, 1), mode="replicate"))
        return out[..., : height * f, : width * f]

    def reset_parameters(self) -> None:  # called by nn.ConvTranspose2d.__init__
        with torch.no_grad():
            self.weight.zero_()
            kernel = bilinear_kernel(self.factor, self.grid).to(self.weight.dtype)
            # weight is (C_in, C_out / groups, k, k); channel c feeds output c only
            for c in range(self.in_channels):
                self.weight[c, 0 if self.groups > 1 else c] = kernel


class VGGBackbone(nn.Module):
    """Five VGG stages (convs, then 2x2 max-pool); returns [pool3, pool4, pool5] at strides 8, 16, 32."""

    reduction = 32
    grid = CELL_CENTRED  # 2x2 max-pooling

    def __init__(self, in_chans: int = 3, widths: Sequence[int] = VGG_WIDTHS, depths: Sequence[int] = VGG_DEPTHS,
                 batch_norm: bool = True):
        super().__init__()
        check_positive_int_sequences("fcn", widths=widths, depths=depths)
        widths, depths = tuple(widths), tuple(depths)
        if len(widths) != 5 or len(depths) != 5:
            raise ModelConfigError(f"fcn: the VGG backbone has five stages (pool1..pool5); got widths {widths} "
                                   f"and depths {depths}")
        in_widths = (in_chans,) + widths[:-1]
        self.stages = nn.ModuleList([
            nn.Sequential(conv_stack(c_in, c, n, batch_norm), nn.MaxPool2d(2))
            for c_in, c, n in zip(in_widths, widths, depths)
        ])
        self.out_channels = list(widths[2:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)  # stride 2, 4, 8, 16, 32
        return features[2:]


class TimmBackbone(nn.Module):
    """A timm ``features_only`` encoder; returns its last stride-8, 16 and 32 feature maps.

    ``grid`` is where those maps' pixels sit, measured from the encoder's layers, or
    ``feature_grid`` when given (for an encoder on neither grid, or one the measurement fails on).
    """

    reduction = 32

    def __init__(self, name: str, in_chans: int = 3, pretrained: bool = False, feature_grid: str | None = None):
        super().__init__()
        import timm

        try:
            self.body = timm.create_model(name, features_only=True, pretrained=pretrained, in_chans=in_chans)
        except RuntimeError as err:  # timm's "Unknown model (...)", or no features_only support
            raise ModelConfigError(f"fcn: cannot build timm backbone {name!r} with features_only=True: {err}. "
                                   "Pick a convolutional encoder such as 'resnet18' "
                                   "(timm.list_models() lists the names).") from err
        except OSError as err:  # huggingface_hub's errors: timm downloads pretrained backbones itself
            from zoo.errors import HubError

            raise HubError(f"fcn: timm could not fetch the pretrained weights of backbone {name!r} "
                           f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). timm downloads "
                           "them itself, through HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE: point them at a hub or "
                           "cache that has them, or build with pretrained_backbone=False.") from None
        reductions = self.body.feature_info.reduction()
        channels = self.body.feature_info.channels()
        self.indices = []
        for stride in SKIP_STRIDES:
            matches = [i for i, r in enumerate(reductions) if r == stride]
            if not matches:
                raise ModelConfigError(f"fcn: backbone {name!r} has feature strides {reductions}; FCN needs "
                                       f"features at strides {SKIP_STRIDES}. Use a hierarchical CNN encoder.")
            self.indices.append(matches[-1])
        self.out_channels = [channels[i] for i in self.indices]
        self.grid = feature_grid or self._measured_grid(name, in_chans)

    def _measured_grid(self, name: str, in_chans: int) -> str:
        try:
            offsets = measure_offsets(self.body, in_chans)
        except Exception as err:  # noqa: BLE001 - any failure of the meta-device probe
            raise ModelConfigError(f"fcn: cannot tell where backbone {name!r} puts its feature pixels (a forward "
                                   f"pass on the meta device raised {type(err).__name__}: {err}); pass "
                                   f"feature_grid= one of {GRIDS}") from err
        grid = grid_of(offsets, SKIP_STRIDES)
        if grid is None:
            found = ", ".join("?" if offsets.get(s) is None else "/".join(f"{a:g}" for a in sorted(set(offsets[s])))
                              for s in SKIP_STRIDES)
            raise ModelConfigError(
                f"fcn: backbone {name!r} centres pixel j of its stride-8/16/32 maps at input pixel s*j + ({found}); "
                f"FCN's upsampling lands on s*j + (s-1)/2 ({CELL_CENTRED}: VGG, ConvNeXt) or s*j "
                f"({GRIDS[1]}: ResNet, EfficientNet). Pick an encoder on one of them, or pass feature_grid= one of "
                f"{GRIDS} to accept the nearer one and skips that are misaligned by the difference.")
        return grid

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.body(x)
        return [features[i] for i in self.indices]


class FCN(nn.Module):
    """FCN for semantic segmentation: (N, in_chans, H, W) -> logits (N, num_classes, H, W).

    Args:
        num_classes: output channels (classes).
        in_chans: input channels.
        stride: 32, 16 or 8: the finest stride whose pool features are fused (FCN-32s/16s/8s).
        backbone: ``"vgg"`` (built here) or the name of a timm encoder, e.g. ``"resnet18"``.
        widths, depths, batch_norm: the VGG backbone's five stages (default ``VGG_WIDTHS``,
            ``VGG_DEPTHS``, BatchNorm on); a ModelConfigError with a timm backbone, whose layers
            its name fixes.
        fc_width, fc_kernel: channels and (odd) kernel size of the convolutionalised fc6 (fc7 is 1x1).
        dropout: dropout after fc6 and fc7, as in the paper.
        pretrained_backbone: load timm's pretrained weights for a timm backbone (needs the Hub);
            a ModelConfigError with the VGG backbone, which has none.
        feature_grid: for a timm backbone, where its feature pixels sit (``"cell-centred"`` or
            ``"corner-aligned"``); measured from its layers when None (see the module docstring).
    """

    def __init__(self, num_classes: int = 21, in_chans: int = 3, stride: int = 8, backbone: str = "vgg",
                 widths: Sequence[int] | None = None, depths: Sequence[int] | None = None,
                 batch_norm: bool | None = None, fc_width: int = 256, fc_kernel: int = 3, dropout: float = 0.5,
                 pretrained_backbone: bool = False, feature_grid: str | None = None):
        super().__init__()
        check_positive_ints("fcn", num_classes=num_classes, in_chans=in_chans, fc_width=fc_width,
                            fc_kernel=fc_kernel)
        if stride not in SKIP_STRIDES:
            raise ModelConfigError(f"fcn: stride must be one of {SKIP_STRIDES} (FCN-8s/16s/32s), got {stride!r}")
        if not 0 <= dropout < 1:
            raise ModelConfigError(f"fcn: dropout must be in [0, 1), got {dropout!r}")
        if fc_kernel % 2 == 0:  # an even 'same' conv shifts the stride-32 scores by half a cell (16 px)
            raise ModelConfigError(f"fcn: fc_kernel must be odd (1, 3, 7, ...) so fc6 keeps the stride-32 grid, "
                                   f"got {fc_kernel}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.stride = stride

        if feature_grid is not None and feature_grid not in GRIDS:
            raise ModelConfigError(f"fcn: feature_grid must be one of {GRIDS} or None (measured), got {feature_grid!r}")
        if backbone == "vgg":
            if feature_grid is not None:
                raise ModelConfigError(f"fcn: feature_grid is for a timm backbone; the VGG stack's grid is "
                                       f"{VGGBackbone.grid}")
            if pretrained_backbone:
                raise ModelConfigError("fcn: pretrained_backbone=True needs a timm backbone (e.g. "
                                       "backbone='resnet18'); the VGG stack is built here and has no pretrained weights")
            self.backbone = VGGBackbone(in_chans, VGG_WIDTHS if widths is None else widths,
                                        VGG_DEPTHS if depths is None else depths,
                                        True if batch_norm is None else batch_norm)
        elif isinstance(backbone, str) and backbone:
            given = [name for name, v in (("widths", widths), ("depths", depths), ("batch_norm", batch_norm))
                     if v is not None]
            if given:
                raise ModelConfigError(f"fcn: {', '.join(given)} configure the VGG backbone only; the timm "
                                       f"encoder {backbone!r} is fixed by its name (pick another timm model instead)")
            self.backbone = TimmBackbone(backbone, in_chans, pretrained=pretrained_backbone, feature_grid=feature_grid)
        else:
            raise ModelConfigError(f"fcn: backbone must be 'vgg' or a timm model name, got {backbone!r}")
        c3, c4, c5 = self.backbone.out_channels

        # fc6/fc7 of the classifier, as convolutions on pool5 (stride 32)
        self.fc = nn.Sequential(
            nn.Conv2d(c5, fc_width, fc_kernel, padding=fc_kernel // 2), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(fc_width, fc_width, 1), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.score_fr = nn.Conv2d(fc_width, num_classes, 1)  # coarse scores, stride 32
        grid = self.backbone.grid
        if stride <= 16:
            self.upscore2 = BilinearUpsample(num_classes, 2, grid=grid)  # stride 32 -> 16
            self.score_pool4 = nn.Conv2d(c4, num_classes, 1)
        if stride <= 8:
            self.upscore_pool4 = BilinearUpsample(num_classes, 2, grid=grid)  # stride 16 -> 8
            self.score_pool3 = nn.Conv2d(c3, num_classes, 1)
        self.upscore = BilinearUpsample(num_classes, stride, depthwise=True, grid=grid)  # stride s -> 1

        if backbone == "vgg":
            init_weights(self.backbone)
        init_weights(self.fc)
        nn.init.normal_(self.score_fr.weight, std=0.01)
        nn.init.zeros_(self.score_fr.bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone features [pool3, pool4, pool5] of an already padded batch."""
        return self.backbone(x)

    def decode(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """[pool3 (N, c3, H/8, W/8), pool4 (H/16), pool5 (H/32)] -> logits (N, K, H, W)."""
        pool3, pool4, pool5 = features
        score = self.score_fr(self.fc(pool5))  # (N, K, H/32, W/32)
        if self.stride <= 16:
            score = _fuse(self.upscore2(score), self.score_pool4(pool4))  # (N, K, H/16, W/16)
        if self.stride <= 8:
            score = _fuse(self.upscore_pool4(score), self.score_pool3(pool3))  # (N, K, H/8, W/8)
        return self.upscore(score)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, in_chans=self.in_chans, min_size=MIN_INPUT_SIZE, owner=type(self).__name__,
                          dtype=weights_dtype(self))
        height, width = x.shape[-2:]
        x = pad_to_multiple(x, self.backbone.reduction)
        if self.training and isinstance(self.backbone, TimmBackbone):
            # a timm encoder's last stage (BatchNorm in ResNets, EfficientNets...) runs at stride 32;
            # the VGG stack's deepest BatchNorm runs at stride 16, never on a 1x1 map
            x = pad_for_batch_statistics(x, 32, self.backbone)
        return crop_to(self.decode(self.forward_features(x)), height, width)


def _fuse(upsampled: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Sum of upsampled coarse scores and skip scores on the skip's grid. Both grids start at pixel
    (0, 0); the slice only matters for a timm backbone whose map is not exactly H/s (it is a no-op
    for 'same'-padded backbones)."""
    return upsampled[..., : skip.shape[-2], : skip.shape[-1]] + skip


def fcn32s(num_classes: int = 21, in_chans: int = 3, **kwargs) -> FCN:
    """FCN-32s: coarse scores upsampled 32x in one step."""
    return FCN(num_classes=num_classes, in_chans=in_chans, stride=32, **kwargs)


def fcn16s(num_classes: int = 21, in_chans: int = 3, **kwargs) -> FCN:
    """FCN-16s: coarse scores fused with pool4 scores, then upsampled 16x."""
    return FCN(num_classes=num_classes, in_chans=in_chans, stride=16, **kwargs)


def fcn8s(num_classes: int = 21, in_chans: int = 3, **kwargs) -> FCN:
    """FCN-8s: as FCN-16s, then fused with pool3 scores and upsampled 8x."""
    return FCN(num_classes=num_classes, in_chans=in_chans, stride=8, **kwargs)
