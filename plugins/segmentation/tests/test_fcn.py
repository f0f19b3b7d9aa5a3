"""FCN: bilinear-initialised upsampling, skip scores that the 16s/8s nets do use (zeroed ones learn),
stride alignment on the backbone's measured grid, and the timm backbone option."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo_segmentation.errors import ModelConfigError
from zoo_segmentation.fcn import FCN, BilinearUpsample, bilinear_kernel
from zoo_segmentation.feature_grid import CELL_CENTRED, CORNER_ALIGNED, grid_offset, measure_offsets

TINY = dict(widths=(4, 4, 8, 8, 8), depths=(1, 1, 1, 1, 1), fc_width=8)


def tiny_fcn(stride: int, **kw) -> FCN:
    torch.manual_seed(0)
    return FCN(num_classes=3, stride=stride, **TINY, **kw).eval()


def test_bilinear_kernel_is_the_tent_function():
    assert torch.allclose(bilinear_kernel(2)[0], torch.tensor([0.25, 0.75, 0.75, 0.25]) * 0.25)
    k = bilinear_kernel(8)
    assert k.shape == (16, 16)
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))
    # the stride-f taps of the kernel sum to one: a constant map stays constant
    assert torch.allclose(k.view(2, 8, 2, 8).sum((0, 2)), torch.ones(8, 8))


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
@pytest.mark.parametrize("depthwise", [False, True])
def test_upsampling_starts_as_bilinear_interpolation(factor, depthwise):
    torch.manual_seed(0)
    up = BilinearUpsample(3, factor, depthwise=depthwise)
    x = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        out = up(x)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert out.shape == reference.shape == (2, 3, 5 * factor, 7 * factor)
    # equal wherever both interpolate between two input pixels; they differ only in the outer
    # factor/2 rows and columns, where interpolate clamps to the edge and the conv sees zeros
    b = factor // 2
    assert torch.allclose(out[..., b:-b, b:-b], reference[..., b:-b, b:-b], atol=1e-5)
    # classes are not mixed at initialisation
    one_hot = torch.zeros(1, 3, 4, 4)
    one_hot[:, 1] = 1
    with torch.no_grad():
        spread = up(one_hot)
    assert spread[:, [0, 2]].abs().max() == 0


@pytest.mark.parametrize("stride", [32, 16, 8])
def test_every_upsampling_layer_of_the_model_is_bilinear_at_init(stride):
    model = tiny_fcn(stride)
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == {32: 1, 16: 2, 8: 3}[stride]
    for up in ups:
        f = up.stride[0]
        kernel = bilinear_kernel(f)
        for c in range(3):
            assert torch.equal(up.weight[c, 0 if up.groups > 1 else c], kernel)
        if up.groups == 1:
            off_diagonal = up.weight.clone()
            off_diagonal[range(3), range(3)] = 0
            assert off_diagonal.abs().max() == 0


def _run_with_perturbed(model: FCN, x: torch.Tensor, which: int) -> torch.Tensor:
    """Output of ``model`` with backbone feature ``which`` (0=pool3, 1=pool4, 2=pool5) perturbed."""

    def perturb(module, inputs, features):
        features = list(features)
        features[which] = features[which] + torch.randn_like(features[which])
        return features

    handle = model.backbone.register_forward_hook(perturb)
    try:
        with torch.no_grad():
            return model(x)
    finally:
        handle.remove()


@pytest.mark.parametrize("stride, used", [(32, {2}), (16, {1, 2}), (8, {0, 1, 2})])
def test_skip_branches_are_used_exactly_by_the_nets_that_have_them(stride, used):
    model = tiny_fcn(stride)  # freshly built: its skips are in use from the start
    x = torch.randn(2, 3, 45, 67)
    with torch.no_grad():
        clean = model(x)
    for which, feature in enumerate(["pool3", "pool4", "pool5"]):
        torch.manual_seed(which)
        changed = not torch.allclose(_run_with_perturbed(model, x, which), clean)
        assert changed == (which in used), f"fcn{stride}s, {feature}: changed={changed}"


@pytest.mark.parametrize("stride", [16, 8])
def test_zeroed_skip_scores_start_as_a_no_op_but_learn(stride):
    # Staged training (a recipe's train.zero_init) zeroes the new skip, as in the paper.
    model = tiny_fcn(stride)
    skips = [model.score_pool4] + ([model.score_pool3] if stride == 8 else [])
    for layer in skips:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # a zero skip is a no-op: perturbing pool3/pool4 changes nothing yet
        clean = model(x)
        assert torch.equal(_run_with_perturbed(model, x, 1), clean)
    model.train()
    F.cross_entropy(model(x), torch.randint(0, 3, (2, 64, 64))).backward()
    for layer in skips:
        assert layer.weight.grad.abs().max() > 0


def test_score_maps_line_up_at_every_stride():
    model = tiny_fcn(8)
    shapes = {}

    def record(name):
        def hook(module, inputs, output):
            shapes[name] = tuple(output.shape[-2:])
        return hook

    for name in ("score_fr", "score_pool4", "score_pool3", "upscore2", "upscore_pool4", "upscore"):
        getattr(model, name).register_forward_hook(record(name))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 31))  # padded to 128 x 32
    assert out.shape[-2:] == (97, 31)
    assert shapes["score_fr"] == (4, 1)
    assert shapes["upscore2"] == shapes["score_pool4"] == (8, 2)
    assert shapes["upscore_pool4"] == shapes["score_pool3"] == (16, 4)
    assert shapes["upscore"] == (128, 32)


def test_timm_backbone():
    torch.manual_seed(0)
    model = FCN(num_classes=4, in_chans=2, stride=8, backbone="resnet18").eval()
    assert model.backbone.out_channels == [128, 256, 512]
    with torch.no_grad():
        assert model(torch.randn(1, 2, 33, 47)).shape == (1, 4, 33, 47)


def test_timm_backbone_batch_of_one_at_32px_trains():
    # resnet's last stage would see a 1x1 map, where train-mode BatchNorm raises; #3 says any
    # H, W >= 32, never fail: the lone image is padded one stride wider and cropped back.
    torch.manual_seed(0)
    model = FCN(num_classes=2, stride=8, backbone="resnet18").train()
    out = model(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 2, 32, 32) and torch.isfinite(out).all()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 2, 32, 32)
    assert model(torch.rand(1, 3, 33, 32)).shape == (1, 2, 33, 32)
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 2, 32, 32)


def _gradient_centroid(output_pixel, size: int = 192, samples: int = 3) -> tuple[float, float]:
    """Centroid (row, column) of |d output_pixel(x) / d x| over random inputs x (1, 3, size, size):
    where on the input the pixel looks, an independent measure of where a map's pixel sits."""
    acc = torch.zeros(2, size)
    gen = torch.Generator().manual_seed(0)
    for _ in range(samples):
        x = torch.randn(1, 3, size, size, generator=gen, requires_grad=True)
        output_pixel(x).backward()
        grad = x.grad.abs().sum((0, 1))
        acc[0] += grad.sum(1)
        acc[1] += grad.sum(0)
    centroid = (acc / acc.sum(1, keepdim=True) * torch.arange(size)).sum(1)
    return float(centroid[0]), float(centroid[1])


@pytest.mark.parametrize("backbone, grid", [("vgg", CELL_CENTRED), ("convnext_atto", CELL_CENTRED),
                                            ("resnet18", CORNER_ALIGNED)])
def test_the_measured_grid_is_where_the_feature_pixels_look(backbone, grid):
    torch.manual_seed(0)
    encoder = FCN(num_classes=2, stride=8, backbone=backbone).eval().backbone
    assert encoder.grid == grid
    offsets = measure_offsets(encoder.body if backbone != "vgg" else encoder, 3)
    for level, s in enumerate((8, 16, 32)):
        assert offsets[s] == (grid_offset(grid, s),) * 2
        j = 96 // s - 1
        row, col = _gradient_centroid(lambda x: encoder(x)[level][0, :, j, j].sum())
        assert abs(row - (s * j + offsets[s][0])) < 1.0 and abs(col - (s * j + offsets[s][1])) < 1.0, (s, row, col)


@pytest.mark.parametrize("stride", [32, 16, 8])
@pytest.mark.parametrize("backbone", ["vgg", "resnet18"])
def test_each_output_pixel_looks_at_its_own_input_pixel(backbone, stride):
    # Before the grid was measured, resnet18's FCN-32s output pixel (96, 96) looked at (81.4, 81.1).
    torch.manual_seed(0)
    model = FCN(num_classes=2, stride=stride, backbone=backbone).eval()
    row, col = _gradient_centroid(lambda x: model(x)[0, :, 96, 96].sum())
    assert abs(row - 96) < 2.5 and abs(col - 96) < 2.5, (row, col)


def test_measuring_the_grid_changes_nothing_and_leaves_no_hooks():
    import timm

    body = timm.create_model("resnet18", features_only=True).train()
    before = {k: v.clone() for k, v in body.state_dict().items()}
    assert measure_offsets(body, 3)[32] == (0.0, 0.0)
    assert body.training and all(torch.equal(before[k], v) for k, v in body.state_dict().items())
    assert not any(m._forward_hooks for m in body.modules())


def test_an_encoder_on_neither_grid_is_a_config_error_unless_feature_grid_is_given():
    # DenseNet's 2x2 average-pool transitions follow a corner-aligned stem: 2, 6, 14 px
    with pytest.raises(ModelConfigError, match=r"'densenet121' centres pixel j .* s\*j \+ \(2, 6, 14\).* feature_grid"):
        FCN(num_classes=2, backbone="densenet121")
    model = FCN(num_classes=2, backbone="densenet121", feature_grid=CORNER_ALIGNED).eval()
    assert model.upscore.kernel_size == (15, 15)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 33, 40)).shape == (1, 2, 33, 40)


@pytest.mark.parametrize("kwargs, message", [
    ({"feature_grid": "centre"}, "feature_grid must be one of"),
    ({"feature_grid": CORNER_ALIGNED}, "feature_grid is for a timm backbone; the VGG stack's grid is cell-centred"),
])
def test_feature_grid_is_validated(kwargs, message):
    with pytest.raises(ModelConfigError, match=message):
        FCN(num_classes=2, **kwargs)


@pytest.mark.parametrize("factor", [2, 3, 8, 32])
def test_corner_aligned_upsampling_puts_coarse_pixel_j_on_fine_pixel_f_times_j(factor):
    up = BilinearUpsample(2, factor, grid=CORNER_ALIGNED)
    x = torch.randn(1, 2, 4, 5)
    with torch.no_grad():
        y = up(x)
    assert y.shape == (1, 2, 4 * factor, 5 * factor)
    assert torch.allclose(y[..., ::factor, ::factor], x, atol=1e-6)  # exact on the coarse pixels
    # in between: linear interpolation of the two neighbours, by hand; past the last coarse
    # pixel, towards a copy of it (edge clamping, no fade)
    r = torch.arange(factor) / factor
    clamped = torch.cat([x, x[..., -1:, :]], dim=-2)
    rows = clamped[..., :-1, :, None] * (1 - r) + clamped[..., 1:, :, None] * r  # (1, 2, 4, 5, f)
    by_hand = rows.permute(0, 1, 2, 4, 3).reshape(1, 2, 4 * factor, 5)
    assert torch.allclose(y[..., ::factor], by_hand, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(up(torch.ones(1, 2, 4, 4)), torch.ones(1, 2, 4 * factor, 4 * factor))
    k = bilinear_kernel(factor, CORNER_ALIGNED)
    assert k.shape == (2 * factor - 1,) * 2 and torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
def test_cell_centred_upsampling_equals_f_interpolate_up_to_the_border(factor):
    # torchvision's FCN upsamples with F.interpolate(align_corners=False); at initialisation the
    # learnable layer gives the same, edges included (no fade towards its zero padding).
    up = BilinearUpsample(2, factor)
    x = torch.randn(1, 2, 4, 5)
    with torch.no_grad():
        y = up(x)
        ones = up(torch.ones(1, 2, 4, 4))
    assert torch.allclose(y, F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False), atol=1e-5)
    assert torch.allclose(ones, torch.ones_like(ones))


def test_a_resnet_d_shortcut_does_not_move_the_grid_its_main_path_set():
    # resnet-D blocks downsample the shortcut with a 2x2 average pool (centred half a pixel off)
    # after the main path's 3x3 stride-2 conv has produced the stride: the first layer counts.
    model = FCN(num_classes=2, backbone="resnet18d").eval()
    assert model.backbone.grid == CORNER_ALIGNED
    with torch.no_grad():
        assert model(torch.rand(1, 3, 40, 33)).shape == (1, 2, 40, 33)


def test_tensorflow_same_padding_is_measured_as_tensorflow_pads():
    # TF's 'same' puts the odd padding pixel at the bottom/right, so each stride-2 3x3 conv centres
    # output j at input 2j + 1: the tf_* ports sit at s*j + s - 1, on neither of FCN's grids.
    with pytest.raises(ModelConfigError, match=r"'tf_efficientnet_b0' centres pixel j .* s\*j \+ \(7, 15, 31\)"):
        FCN(num_classes=2, backbone="tf_efficientnet_b0")


@pytest.mark.parametrize("stride", [16, 8])
def test_every_upsampling_layer_is_on_the_backbones_grid(stride):
    model = FCN(num_classes=2, stride=stride, backbone="resnet18")
    ups = [m for m in model.modules() if isinstance(m, BilinearUpsample)]
    assert len(ups) == {16: 2, 8: 3}[stride]
    for up in ups:
        assert up.grid == CORNER_ALIGNED and up.kernel_size == (2 * up.factor - 1,) * 2


def test_a_fresh_net_starts_from_he_initialised_convs_and_small_unbiased_scores():
    torch.manual_seed(0)
    model = FCN(num_classes=3, stride=8, widths=(16, 32, 64, 64, 64), fc_width=128)
    convs = [m for m in [*model.backbone.modules(), *model.fc.modules()] if isinstance(m, nn.Conv2d)]
    for conv in convs:  # He (fan-out) for a ReLU net trained from scratch, as layers.init_weights says
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.15)
        assert conv.bias is None or not conv.bias.any()
    # the class scores start near zero and unbiased towards any class
    assert model.score_fr.weight.std().item() == pytest.approx(0.01, rel=0.15)
    assert not model.score_fr.bias.any()
