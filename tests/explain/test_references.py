"""Explainers against independent references: hand-computed CAM, captum, closed forms."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo

TARGETS = [0, 1, 2, 3]


def _hand_cam(model, images, classes):
    feats = model.forward_features(images)  # (N, C, h, w)
    w = model.fc.weight[classes]  # (N, C)
    cam = (w[:, :, None, None] * feats).sum(1)
    return F.interpolate(cam[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


def _minmax(m):
    lo = m.amin((1, 2), keepdim=True)
    return (m - lo) / (m.amax((1, 2), keepdim=True) - lo)


def test_cam_equals_hand_computed(gap_model, images):
    with torch.no_grad():
        expected = _hand_cam(gap_model, images, TARGETS)
    got = zoo.explain(gap_model, images, "cam", target=TARGETS, normalize=False)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(zoo.explain(gap_model, images, "cam", target=TARGETS), _minmax(expected),
                               rtol=1e-5, atol=1e-6)


def test_gradcam_equals_relu_cam_on_gap_linear(gap_model, images):
    cam = zoo.explain(gap_model, images, "cam", target=TARGETS, relu=True)
    gradcam = zoo.explain(gap_model, images, "gradcam", target=TARGETS)
    assert cam.amax((1, 2)).min() > 0  # not trivially zero
    torch.testing.assert_close(gradcam, cam, rtol=1e-4, atol=1e-5)
    # and raw Grad-CAM is ReLU(CAM) / (h * w) before upsampling: the GAP factor
    raw = zoo.explain(gap_model, images, "gradcam", target=TARGETS, normalize=False)
    raw_cam = zoo.explain(gap_model, images, "cam", target=TARGETS, relu=True, normalize=False)
    torch.testing.assert_close(raw * 64, raw_cam, rtol=1e-4, atol=1e-6)


def test_gradcam_takes_the_relu_at_the_feature_maps_resolution_then_upsamples(gap_model, images):
    """The Grad-CAM paper's order. The test above compares with cam(relu=True), which runs the same
    code, so upsampling first would pass it: here the reference is computed by hand."""
    with torch.no_grad():
        feats = gap_model.forward_features(images)  # (N, C, h, w)
        weights = gap_model.fc.weight[TARGETS] / feats[0, 0].numel()  # the GAP's gradient: w_c / (h * w)
        low = (weights[:, :, None, None] * feats).sum(1)

    def upsample(m):
        return F.interpolate(m[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]

    expected = upsample(low.relu())
    assert (low < 0).any() and not torch.allclose(expected, upsample(low).relu())  # the order shows here
    got = zoo.explain(gap_model, images, "gradcam", target=TARGETS, normalize=False)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_saliency_equals_captum(gap_model, images):
    import captum.attr as captum_attr  # a test dependency: a missing one must fail, not skip
    expected = captum_attr.Saliency(gap_model).attribute(images.clone(), target=TARGETS, abs=True)
    got = zoo.explain(gap_model, images, "saliency", target=TARGETS)
    torch.testing.assert_close(got, expected.amax(1), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle"])  # captum's trapezoid weights sum to n/(n-1)
def test_integrated_gradients_matches_captum(method, gap_model, images):
    import captum.attr as captum_attr  # a test dependency: a missing one must fail, not skip
    expected = captum_attr.IntegratedGradients(gap_model).attribute(images.clone(), target=TARGETS, n_steps=32,
                                                                    method=method)
    got = zoo.create_explainer("integrated_gradients", gap_model, n_steps=32, method=method)(images, TARGETS)
    torch.testing.assert_close(got, expected.sum(1), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle", "riemann_trapezoid"])
def test_integrated_gradients_completeness_128_steps(method, gap_model, images):
    with torch.no_grad():  # explain, per image, the class whose score moves most along the path
        gaps = gap_model(images) - gap_model(torch.zeros_like(images))
    targets = gaps.abs().argmax(1).tolist()
    gap = gaps[range(4), targets]
    assert gap.abs().min() > 1e-2
    maps, delta = zoo.create_explainer("integrated_gradients", gap_model, n_steps=128, method=method)(
        images, targets, return_delta=True)
    torch.testing.assert_close(maps.sum((1, 2)) - gap, delta, rtol=1e-4, atol=1e-5)
    assert (delta.abs() <= 0.01 * gap.abs()).all(), (delta, gap)


def test_integrated_gradients_completeness_from_another_baseline(gap_model, images):
    """The path runs from the baseline: the maps sum to S(x) - S(baseline), not S(x) - S(0)."""
    baseline = torch.full_like(images, 0.5)
    with torch.no_grad():
        gaps = gap_model(images) - gap_model(baseline)
    targets = gaps.abs().argmax(1).tolist()
    gap = gaps[range(4), targets]
    maps = zoo.explain(gap_model, images, "integrated_gradients", target=targets, n_steps=128, baseline=0.5)
    assert ((maps.sum((1, 2)) - gap).abs() <= 0.01 * gap.abs()).all(), (maps.sum((1, 2)), gap)


def test_smoothgrad_sigma_zero_equals_saliency(gap_model, images):
    saliency = zoo.explain(gap_model, images, "saliency", target=TARGETS)
    smooth = zoo.explain(gap_model, images, "smoothgrad", target=TARGETS, sigma=0.0, n_samples=5)
    torch.testing.assert_close(smooth, saliency, rtol=1e-5, atol=1e-7)


def test_smoothgrad_is_mean_abs_gradient_over_the_noise(gap_model, images):
    """Recomputed from plain autograd with the same noise: max over channels of mean |grad|."""
    explainer = zoo.create_explainer("smoothgrad", gap_model, n_samples=6, stdev=0.3, seed=11)
    got = explainer(images, TARGETS)
    g = torch.Generator().manual_seed(11)
    noise = torch.randn((6, *images.shape[1:]), generator=g)
    grads = []
    for j in range(6):
        x = (images + 0.3 * noise[j]).requires_grad_(True)
        gap_model(x)[range(4), TARGETS].sum().backward()
        grads.append(x.grad.abs())
    expected = torch.stack(grads).mean(0).amax(1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_linear_model_saliency_is_abs_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    images = torch.randn(2, 3, 8, 8)
    maps = zoo.explain(model, images, "saliency", target=[3, 1])
    w = model[1].weight.detach().view(4, 3, 8, 8).abs().amax(1)
    torch.testing.assert_close(maps, w[[3, 1]])
    # and IG on a linear model is exactly (x - 0) * W summed over channels, whatever the rule:
    # the gradient is constant along the path, and each rule's weights sum to 1
    expected = (images * model[1].weight.detach().view(4, 3, 8, 8)[[3, 1]]).sum(1)
    for method in ("gausslegendre", "riemann_middle", "riemann_trapezoid"):
        ig = zoo.create_explainer("integrated_gradients", model, n_steps=4, method=method)(images, [3, 1])
        torch.testing.assert_close(ig, expected, rtol=1e-5, atol=1e-6)


def test_timm_classifier_cam_and_gradcam_agree():
    """timm's convention (forward_features + get_classifier) holds for timm's own models: on a
    ResNet (GAP + linear head) Grad-CAM equals ReLU(CAM) after scaling, with in-place ReLUs."""
    import timm
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=4).eval()
    x = torch.randn(2, 3, 64, 64)
    cam = zoo.explain(model, x, "cam", target=[1, 2], relu=True)
    gradcam = zoo.explain(model, x, "gradcam", target=[1, 2])
    torch.testing.assert_close(gradcam, cam, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        feats = model.forward_features(x)
        hand = torch.einsum("nc,nchw->nhw", model.get_classifier().weight[[1, 2]], feats)
    raw = zoo.explain(model, x, "cam", target=[1, 2], normalize=False)
    torch.testing.assert_close(raw, F.interpolate(hand[:, None], size=(64, 64), mode="bilinear",
                                                  align_corners=False)[:, 0], rtol=1e-4, atol=1e-5)


def _timm_resnet():
    import timm
    torch.manual_seed(0)
    return timm.create_model("resnet18", num_classes=5).eval()


@pytest.mark.parametrize("method", ["gradcam", "gradcam_pp", "hirescam"])
def test_cam_family_matches_pytorch_grad_cam(method):
    """pytorch-grad-cam (test dependency only) on timm's resnet18, its last stage as the layer.

    pytorch-grad-cam adds 1e-6 to Grad-CAM++'s denominator; with the head scaled up, gradients
    are large enough for that guard to vanish and the closed forms must agree exactly."""
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _timm_resnet()
    with torch.no_grad():
        model.fc.weight.mul_(100)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    reference = {"gradcam": GradCAM, "gradcam_pp": GradCAMPlusPlus, "hirescam": HiResCAM}[method]
    with reference(model=model, target_layers=[model.layer4]) as cam:
        theirs = torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in (1, 3)]))
    ours = zoo.explain(model, x, method, target=[1, 3])
    assert ours.amax((1, 2)).eq(1).all()  # two maps with content, not blank ones
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


def test_guided_backprop_matches_pytorch_grad_cam():
    """pytorch-grad-cam's guided backpropagation, reduced as ours is: max over channels of |grad|."""
    from pytorch_grad_cam import GuidedBackpropReLUModel

    model = _timm_resnet()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    guided = GuidedBackpropReLUModel(model=model, device="cpu")
    theirs = torch.stack([torch.from_numpy(guided(x[i:i + 1], target_category=c)).abs().amax(-1)
                          for i, c in enumerate((1, 3))])
    ours = zoo.explain(model, x, "guided_backprop", target=[1, 3])
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-7)


def test_hirescam_raw_equals_gradcam_raw_on_gap_linear(gap_model, images):
    """On a GAP + linear head dS/dA_k is w_ck / (h * w) everywhere, so the element-wise sum of
    HiResCAM and Grad-CAM's averaged weights give the same raw map, not one scaled by the channels."""
    hires = zoo.explain(gap_model, images, "hirescam", target=TARGETS, normalize=False)
    gradcam = zoo.explain(gap_model, images, "gradcam", target=TARGETS, normalize=False)
    assert gradcam.amax((1, 2)).min() > 0
    torch.testing.assert_close(hires, gradcam, rtol=1e-4, atol=1e-7)


def test_rise_is_its_formula_over_the_same_masks(gap_model, images):
    """README: ``sum_i (P_i - mean P) M_i / (n p)``, P_i the class probability on the image times
    mask i; the masks are those ``random_masks`` draws from the seed."""
    from zoo_explainers.rise import random_masks

    n, p = 50, 0.3
    masks = random_masks(n, (16, 16), 4, p, torch.Generator().manual_seed(5))
    assert 0.2 < masks.mean() < 0.42  # each cell kept with probability p (0.5 would be ~0.5)
    with torch.no_grad():
        probs = torch.stack([gap_model(images * m).softmax(1)[range(4), TARGETS] for m in masks])  # (n, N)
    expected = torch.einsum("kn,khw->nhw", probs - probs.mean(0), masks) / (n * p)
    got = zoo.explain(gap_model, images, "rise", target=TARGETS, n_masks=n, cells=4, p=p, seed=5)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
