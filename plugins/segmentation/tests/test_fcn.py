"""FCN: bilinear-initialised upsampling, zero-initialised skip scores that the 16s/8s nets do use,
stride alignment, and the timm backbone option."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo_segmentation.fcn import FCN, BilinearUpsample, bilinear_kernel

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
    model = tiny_fcn(stride)
    for name in ("score_pool4", "score_pool3"):  # trained weights are not zero
        if hasattr(model, name):
            nn.init.normal_(getattr(model, name).weight)
    x = torch.randn(2, 3, 45, 67)
    with torch.no_grad():
        clean = model(x)
    for which, feature in enumerate(["pool3", "pool4", "pool5"]):
        torch.manual_seed(which)
        changed = not torch.allclose(_run_with_perturbed(model, x, which), clean)
        assert changed == (which in used), f"fcn{stride}s, {feature}: changed={changed}"


@pytest.mark.parametrize("stride", [16, 8])
def test_skip_scores_start_at_zero_but_learn(stride):
    model = tiny_fcn(stride)
    skips = [model.score_pool4] + ([model.score_pool3] if stride == 8 else [])
    for layer in skips:
        assert layer.weight.abs().max() == 0 and layer.bias.abs().max() == 0
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


def test_timm_backbone_batch_of_one_at_32px_in_training_is_an_input_error():
    # resnet's last stage would see a 1x1 map: BatchNorm's bare ValueError, now a typed error
    from zoo.inputs import InputError

    torch.manual_seed(0)
    model = FCN(num_classes=2, stride=8, backbone="resnet18").train()
    with pytest.raises(InputError, match="batches of >= 2 images or on images larger than 32 px"):
        model(torch.rand(1, 3, 32, 32))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 2, 32, 32)
    assert model(torch.rand(1, 3, 33, 32)).shape == (1, 2, 33, 32)
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 2, 32, 32)


def _feature_grid_offsets(backbone: nn.Module, size: int = 192, samples: int = 4) -> list[float]:
    """Per stride s in (8, 16, 32): the gradient centroid of one feature pixel j over random inputs,
    minus s*j + (s-1)/2, where FCN's upsampling assumes that pixel is centred."""
    offsets = []
    for level, s in enumerate((8, 16, 32)):
        j = (size // 2) // s - 1
        acc = torch.zeros(size)
        gen = torch.Generator().manual_seed(0)
        for _ in range(samples):
            x = torch.randn(1, 3, size, size, generator=gen, requires_grad=True)
            backbone(x)[level][0, :, j, j].sum().backward()
            acc += x.grad.abs().sum((0, 1, 2))
        offsets.append(float((acc / acc.sum() * torch.arange(size)).sum()) - (s * j + (s - 1) / 2))
    return offsets


def test_skip_grid_is_exact_for_vgg_and_off_by_half_a_stride_for_timm_resnet():
    # Pins the documented behaviour (README, fcn.py docstring): a fix of the resnet offset must
    # update both, and this test.
    torch.manual_seed(0)
    vgg = FCN(num_classes=2, stride=8).eval()
    assert all(abs(o) < 1.0 for o in _feature_grid_offsets(vgg.backbone))
    resnet = FCN(num_classes=2, stride=8, backbone="resnet18").eval()
    measured = _feature_grid_offsets(resnet.backbone)
    assert all(abs(o + (s - 1) / 2) < 1.0 for o, s in zip(measured, (8, 16, 32))), measured  # -3.5/-7.5/-15.5


@pytest.mark.parametrize("factor, corner", [(32, 0.266), (16, 0.282), (8, 0.316)])
def test_upsampling_fades_at_the_border_and_is_exact_inside(factor, corner):
    # Documented (README, fcn.py): zero padding, not F.interpolate's clamping, within f/2 px of the border.
    up = BilinearUpsample(1, factor, depthwise=True)
    with torch.no_grad():
        y = up(torch.ones(1, 1, 4, 4))[0, 0]
    assert y[0, 0].item() == pytest.approx(corner, abs=1e-3)
    inner = y[factor // 2: -(factor // 2), factor // 2: -(factor // 2)]
    assert torch.allclose(inner, torch.ones_like(inner))
    assert (y < 0.999).sum(0)[factor * 2] == factor  # factor/2 faded rows at the top, factor/2 at the bottom
