"""Every method: shapes, value ranges, targets, input validation, layer choice, segmentation."""

import pytest
import torch

import zoo
from zoo_explainers.gradcam import GradCAM
from zoo_explainers.layers import LayerError
from zoo_explainers.targets import SegmentationClassSum, TargetError

METHODS = ["cam", "gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad", "integrated_gradients",
           "guided_backprop", "rise"]
NORMALIZED = {"cam", "gradcam", "gradcam_pp", "hirescam"}
FAST = {"smoothgrad": {"n_samples": 4, "seed": 0}, "integrated_gradients": {"n_steps": 8},
        "rise": {"n_masks": 40, "seed": 0}}


def test_registered():
    assert set(METHODS) <= set(zoo.list_explainers())


@pytest.mark.parametrize("method", METHODS)
def test_shape_range_and_batch_equals_single(method, gap_model, images):
    explainer = zoo.create_explainer(method, gap_model, **FAST.get(method, {}))
    maps = explainer(images, target=[0, 1, 2])
    assert maps.shape == (3, 12, 12) and maps.dtype == torch.float32 and torch.isfinite(maps).all()
    assert explainer.normalize == (method in NORMALIZED)
    if method in NORMALIZED:
        assert maps.min() >= 0 and maps.max() <= 1
    singles = torch.cat([explainer(images[i:i + 1], target=i) for i in range(3)])
    torch.testing.assert_close(maps, singles, rtol=1e-4, atol=1e-6)
    assert explainer.last_classes.tolist() == [2]


@pytest.mark.parametrize("method", METHODS)
def test_none_target_is_predicted_class(method, gap_model, images):
    predicted = gap_model(images).argmax(1).tolist()
    explainer = zoo.create_explainer(method, gap_model, **FAST.get(method, {}))
    torch.testing.assert_close(explainer(images), explainer(images, target=predicted))


def test_explain_without_a_method_is_gradcam(gap_model, images):
    torch.testing.assert_close(zoo.explain(gap_model, images, target=1),
                               zoo.explain(gap_model, images, method="gradcam", target=1))

def test_targets_validated(gap_model, images):
    explainer = zoo.create_explainer("gradcam", gap_model)
    with pytest.raises(TargetError, match="2 targets for a batch of 3"):
        explainer(images, target=[0, 1])
    with pytest.raises(TargetError, match="4 targets for a batch of 3"):  # too many: a raw torch error before
        explainer(images, target=[0, 1, 2, 0])
    with pytest.raises(ValueError, match="not a class index"):
        explainer(images, target=7)
    with pytest.raises(TargetError, match=r"target 4 is not a class index in \[0, 4\)"):  # K itself: one too many
        explainer(images, target=4)
    with pytest.raises(ValueError, match="not a class index"):
        explainer(images, target=[0, 1, 1.5])
    assert explainer(images, target=torch.tensor([0, 1, 2])).shape == (3, 12, 12)


class ReturnsDetections(torch.nn.Module):
    """Shaped like an instance-segmentation model: a list of per-image dicts (and timm's
    classifier methods, so that every method gets as far as the output)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(4, 4)

    def forward_features(self, x):
        return self.features(x)

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return [{"scores": self.fc(f.mean((1, 2))), "masks": f} for f in self.forward_features(x)]


@pytest.mark.parametrize("method", METHODS)
def test_non_tensor_output_is_a_clear_target_error(method, images):
    model = ReturnsDetections()
    with pytest.raises(TargetError, match="returned a list.*wrap the model"):
        zoo.explain(model, images, method=method, target=0, **FAST.get(method, {}))


def test_one_number_for_the_whole_batch_is_refused_for_what_it_is(images):
    """It was told to pass score_fn=, also when it had passed one."""
    whole_batch = torch.nn.Sequential(torch.nn.Conv2d(3, 1, 3), torch.nn.Flatten(0), _Mean())
    for score_fn in (None, lambda out, classes: out.reshape(1)):
        with pytest.raises(TargetError, match="one number for the whole batch"):
            zoo.explain(whole_batch, images, method="saliency", score_fn=score_fn)


class _Mean(torch.nn.Module):
    def forward(self, x):
        return x.mean()


def test_a_regression_output_without_score_fn_is_told_to_pass_one(images):
    """An (N,) output said to wrap the model, while an (N, H, W) one said to pass score_fn=: both take score_fn."""
    regression = torch.nn.Sequential(torch.nn.Conv2d(3, 1, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(0))
    with pytest.raises(TargetError, match=r"shape \(3,\).*pass score_fn="):
        zoo.explain(regression, images, method="saliency")


@pytest.mark.parametrize("bad, match", [
    (torch.randn(3, 12, 12), "4-D"),
    (torch.zeros(1, 3, 12, 12, dtype=torch.uint8), "floating-point"),
    (torch.zeros(0, 3, 12, 12), "empty batch"),
    (torch.zeros(1, 1, 12, 12), "3 input channels"),
])
@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients"])
def test_bad_input_is_a_clear_value_error(method, bad, match, gap_model):
    with pytest.raises(ValueError, match=match):
        zoo.explain(gap_model, bad, method=method)


def test_constant_map_is_zeros_not_nan(gap_model, images):
    with torch.no_grad():
        gap_model.fc.weight.zero_()
    for method in ("gradcam", "gradcam_pp", "hirescam", "cam"):
        maps = zoo.explain(gap_model, images, method=method, target=0)
        assert torch.equal(maps, torch.zeros_like(maps)), method


def test_normalize_false_gives_raw_values(gap_model, images):
    raw = zoo.explain(gap_model, images, method="gradcam", target=1, normalize=False)
    assert raw.max() > 0 and not torch.allclose(raw.amax((1, 2)), torch.ones(3))


def test_layer_search_on_plain_model(images, plain_model, caplog):
    model = plain_model
    explainer = GradCAM(model)
    with caplog.at_level("INFO", logger="zoo.explain"):
        maps = explainer(images, target=1)
    assert explainer.layer_name == "3"  # the last ReLU: the last module with a spatial output
    assert "explainer target layer: 3 (last module with a spatial output)" in caplog.text  # and says so
    by_name = GradCAM(model, target_layer="3")(images, target=1)
    by_module = GradCAM(model, target_layer=model[3])(images, target=1)
    torch.testing.assert_close(maps, by_name)
    torch.testing.assert_close(maps, by_module)
    assert not torch.allclose(maps, GradCAM(model, target_layer="1")(images, target=1))


def test_bad_target_layer(gap_model, plain_model):
    with pytest.raises(LayerError, match="no submodule 'nope'"):
        GradCAM(gap_model, target_layer="nope")
    with pytest.raises(LayerError, match="not a submodule"):
        GradCAM(gap_model, target_layer=torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(LayerError, match="forward_features"):
        zoo.create_explainer("cam", plain_model)


def test_timm_feature_map_by_name_equals_default(gap_model, images):
    default = GradCAM(gap_model)(images, target=0)
    named = GradCAM(gap_model, target_layer="forward_features")(images, target=0)
    torch.testing.assert_close(default, named)


@pytest.mark.parametrize("method", ["gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad",
                                    "integrated_gradients", "guided_backprop", "rise"])
def test_segmentation(method, images, segmenter):
    model = segmenter
    maps = zoo.explain(model, images, method=method, target=1, **FAST.get(method, {}))
    assert maps.shape == (3, 12, 12) and torch.isfinite(maps).all()


def test_segmentation_target_is_predicted_pixels_or_mask(images, segmenter):
    model = segmenter
    out = model(images)
    predicted = out.argmax(1) == 1
    expected = (out[:, 1] * predicted).sum((1, 2))
    torch.testing.assert_close(SegmentationClassSum()(out, torch.tensor([1, 1, 1])), expected)
    mask = torch.zeros(12, 12, dtype=torch.bool)
    mask[:4, :4] = True
    torch.testing.assert_close(SegmentationClassSum(mask)(out, torch.tensor([1, 1, 1])),
                               out[:, 1, :4, :4].sum((1, 2)))
    # saliency with a given mask: only pixels within a receptive field of the mask get gradient
    maps = zoo.explain(model, images, method="saliency", target=1, score_fn=SegmentationClassSum(mask))
    assert maps[:, 8:, 8:].abs().sum() == 0 and maps[:, :4, :4].abs().sum() > 0


def test_segmentation_none_target_is_majority_class(images, segmenter):
    model = segmenter
    explainer = zoo.create_explainer("gradcam", model)
    explainer(images)
    counts = torch.stack([torch.bincount(p.flatten(), minlength=3) for p in model(images).argmax(1)])
    assert explainer.last_classes.tolist() == counts.argmax(1).tolist()


def test_chunking_does_not_change_results(gap_model, images):
    a = zoo.explain(gap_model, images, "smoothgrad", target=1, n_samples=6, seed=3)
    b = zoo.explain(gap_model, images, "smoothgrad", target=1, n_samples=6, seed=3, chunk_size=7)
    torch.testing.assert_close(a, b)
    c = zoo.explain(gap_model, images, "integrated_gradients", target=1, n_steps=10)
    d = zoo.explain(gap_model, images, "integrated_gradients", target=1, n_steps=10, chunk_size=1)
    torch.testing.assert_close(c, d)


def test_smoothgrad_seeding(gap_model, images):
    explainer = zoo.create_explainer("smoothgrad", gap_model, n_samples=4)
    torch.manual_seed(5)
    a = explainer(images, 0)
    torch.manual_seed(5)
    b = explainer(images, 0)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, explainer(images, 0))
    seeded = zoo.create_explainer("smoothgrad", gap_model, n_samples=4, seed=1)
    torch.testing.assert_close(seeded(images, 0), seeded(images, 0))


def test_smoothgrad_sigma_is_relative_to_each_images_value_range(gap_model, images):
    """Smilkov et al.'s convention: the noise of sigma=0.2 on an image spanning [lo, hi] is the
    absolute stdev 0.2 * (hi - lo), image by image (the same seed draws the same noise)."""
    for i in range(images.shape[0]):
        image = images[i:i + 1] * (i + 1)  # different ranges
        spread = float(image.max() - image.min())
        relative = zoo.explain(gap_model, image, "smoothgrad", target=0, n_samples=8, sigma=0.2, seed=3)
        absolute = zoo.explain(gap_model, image, "smoothgrad", target=0, n_samples=8, stdev=0.2 * spread, seed=3)
        torch.testing.assert_close(relative, absolute)
        assert not torch.allclose(relative, zoo.explain(gap_model, image, "smoothgrad", target=0, n_samples=8,
                                                        stdev=0.2, seed=3))


def test_integrated_gradients_delta_and_baseline(gap_model, images):
    explainer = zoo.create_explainer("integrated_gradients", gap_model, n_steps=16, baseline=0.5)
    maps, delta = explainer(images, 2, return_delta=True)
    assert maps.shape == (3, 12, 12) and delta.shape == (3,)
    logits = gap_model(images)[:, 2] - gap_model(torch.full_like(images, 0.5))[:, 2]
    torch.testing.assert_close(maps.sum((1, 2)) - logits.detach(), delta, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="unknown integration method"):
        zoo.create_explainer("integrated_gradients", gap_model, method="simpson")
    # the convergence check is of the attributions, not of their scaled picture
    scaled, scaled_delta = zoo.explain(gap_model, images, "integrated_gradients", target=2, n_steps=16, baseline=0.5,
                                       normalize=True, return_delta=True)
    assert scaled.min() == 0 and scaled.max() == 1
    torch.testing.assert_close(scaled_delta, delta)


def test_guided_backprop_differs_from_saliency(gap_model, images):
    guided = zoo.explain(gap_model, images, "guided_backprop", target=0)
    plain = zoo.explain(gap_model, images, "saliency", target=0)
    assert not torch.allclose(guided, plain)


def test_rise_masks_and_a_model_that_reads_one_pixel():
    """A model whose class-0 logit is one pixel's value: RISE's map peaks around that pixel."""
    from zoo_explainers.rise import random_masks

    masks = random_masks(300, (20, 30), 5, 0.5, torch.Generator().manual_seed(0))
    assert masks.shape == (300, 20, 30) and masks.min() >= 0 and masks.max() <= 1
    assert 0.4 < masks.mean() < 0.6

    class OnePixel(torch.nn.Module):
        in_chans = 1

        def forward(self, x):
            v = 4 * x[:, 0, 5, 7] - 2  # probability of class 0 from 0.12 (masked) to 0.88 (kept)
            return torch.stack([v, torch.zeros_like(v)], 1)

    maps = zoo.explain(OnePixel(), torch.ones(1, 1, 16, 16), "rise", target=0, n_masks=400, seed=0, cells=4)
    peak = divmod(int(maps[0].argmax()), 16)
    assert abs(peak[0] - 5) <= 2 and abs(peak[1] - 7) <= 2, peak


def test_discovery_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, zoo; names = zoo.list_explainers(); import zoo_explainers.plugin; "
            "print('gradcam' in names, 'torch' in sys.modules)")
    import os

    env = dict(os.environ, ZOO_PLUGINS="visionzoo-explainers")  # only this plugin: others are not ours to test
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["True", "False"]


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "rise"])
def test_normalize_true_scales_the_raw_maps_of_the_other_methods(method, gap_model, images):
    raw = zoo.explain(gap_model, images, method, target=1, **FAST.get(method, {}))
    scaled = zoo.explain(gap_model, images, method, target=1, normalize=True, **FAST.get(method, {}))
    low = raw.amin((1, 2), keepdim=True)
    torch.testing.assert_close(scaled, (raw - low) / (raw.amax((1, 2), keepdim=True) - low))


@pytest.mark.parametrize("method, documented", [
    ("smoothgrad", dict(n_samples=32, sigma=0.15, seed=0)),
    ("integrated_gradients", dict(n_steps=50, baseline=0.0, method="gausslegendre")),
    ("rise", dict(n_masks=1000, cells=7, p=0.5, seed=0)),
])
def test_the_defaults_are_the_documented_ones(method, documented, gap_model, images):
    """plugins/explainers/README.md, "Options"."""
    seed = {"seed": 0} if "seed" in documented else {}
    torch.testing.assert_close(zoo.create_explainer(method, gap_model, **seed)(images, 1),
                               zoo.create_explainer(method, gap_model, **documented)(images, 1))


@pytest.mark.parametrize("method, options", [("smoothgrad", dict(n_samples=8, sigma=0.5, seed=0)),
                                             ("integrated_gradients", dict(n_steps=8))])
def test_segmentation_copies_explain_the_pixels_predicted_on_the_clean_image(method, options, images, segmenter):
    """A noisy copy or a path point (near the baseline: another prediction altogether) explains the
    class's logits over the region predicted on the image itself, not over its own prediction."""
    region = segmenter(images).argmax(1) == 1
    default = zoo.explain(segmenter, images, method, target=1, **options)
    given = zoo.explain(segmenter, images, method, target=1, score_fn=SegmentationClassSum(region), **options)
    torch.testing.assert_close(default, given)


def test_a_layer_whose_output_an_in_place_relu_overwrites_is_explained_on_its_own_output(images, plain_model):
    """Layer "0" is a convolution followed by ReLU(inplace=True): the map is of the convolution's
    output (negative values included), and the in-place op downstream neither fails nor changes it."""
    model = plain_model
    with torch.no_grad():
        features = model[0](images)
    assert (features < 0).any()
    features.requires_grad_(True)
    logits = model[1:](features.clone())
    (grads,) = torch.autograd.grad(logits[:, 1].sum(), features)
    expected = (grads.mean((2, 3))[:, :, None, None] * features).sum(1).relu().detach()
    torch.testing.assert_close(GradCAM(model, target_layer="0", normalize=False)(images, target=1), expected,
                               rtol=1e-4, atol=1e-6)


class _UnusedLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.unused = torch.nn.Conv2d(4, 4, 1)  # registered, never called

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_a_target_layer_the_forward_never_runs_is_named(images):
    model = _UnusedLayer().eval()
    with pytest.raises(LayerError, match="the forward pass never ran unused"):
        GradCAM(model, target_layer="unused")(images, target=0)
