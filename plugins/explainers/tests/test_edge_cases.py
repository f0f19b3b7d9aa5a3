"""Edge cases found by an audit: options at construction, array targets, models that write their
input, reused layers, RISE passes, dtypes."""

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo_explainers.layers import ReusedLayerWarning, LayerError
from zoo_explainers.targets import TargetError

METHODS = ["cam", "gradcam", "gradcam_pp", "hirescam", "saliency", "smoothgrad", "integrated_gradients",
           "guided_backprop", "rise"]
FAST = {"smoothgrad": {"n_samples": 3, "seed": 0}, "integrated_gradients": {"n_steps": 4},
        "rise": {"n_masks": 20, "seed": 0}}


def test_integrated_gradients_return_delta_at_construction(gap_model, images):
    maps, delta = zoo.explain(gap_model, images, "integrated_gradients", target=1, n_steps=8, return_delta=True)
    explainer = zoo.create_explainer("integrated_gradients", gap_model, n_steps=8, return_delta=True)
    again, delta_again = explainer(images, target=1)
    torch.testing.assert_close(again, maps, rtol=0, atol=0)
    torch.testing.assert_close(delta_again, delta, rtol=0, atol=0)
    assert delta.shape == (3,)
    only_maps = explainer(images, target=1, return_delta=False)  # a call's own argument overrides
    assert isinstance(only_maps, torch.Tensor)
    torch.testing.assert_close(only_maps, maps, rtol=0, atol=0)


@pytest.mark.parametrize("target", [np.array([2, 2, 2]), np.array([2.0, 2.0, 2.0]), np.array(2), np.int64(2),
                                    torch.tensor(2.0), np.array([2], dtype=np.uint8)[0],
                                    np.float64(2.0), 2.0, [2.0, 2, 2.0],  # whole floats, as in float arrays
                                    [np.float32(2.0)] * 3, list(torch.tensor([2.0, 2.0, 2.0]))])
def test_numpy_targets_are_class_indices(gap_model, images, target):
    expected = zoo.explain(gap_model, images, "gradcam", target=[2, 2, 2])
    torch.testing.assert_close(zoo.explain(gap_model, images, "gradcam", target=target), expected, rtol=0, atol=0)


def test_numpy_target_per_image(gap_model, images):
    expected = zoo.explain(gap_model, images, "saliency", target=[0, 3, 1])
    got = zoo.explain(gap_model, images, "saliency", target=np.array([0, 3, 1]))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("target, message", [(np.array([1.0, 2.5, 3.0]), "non-integer values"),
                                             (np.array([1, 2]), "2 targets for a batch of 3"),
                                             (np.array([[1, 2, 3]]), "array of shape"),
                                             (np.array([True, False, True]), "not a class index"),
                                             (np.array([0, 9, 1]), "not a class index in"),
                                             (2.5, "not a class index"), ([1, 2.5, 3], "not a class index"),
                                             (-1.0, r"target -1\.0 is not")])  # the value as given
def test_bad_numpy_targets(gap_model, images, target, message):
    with pytest.raises(TargetError, match=message):
        zoo.explain(gap_model, images, "gradcam", target=target)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("target", [1, None])
def test_model_writing_its_input_leaves_the_input_alone(method, target, gap_model, images):
    """A timm-style classifier whose first op works in place on the input it is given."""
    model = gap_model
    model.features.insert(0, nn.ReLU(inplace=True))
    reference = copy.deepcopy(model)
    reference.features[0].inplace = False
    x = images.clone()
    assert (x < 0).any()
    before, version = x.clone(), x._version
    maps = zoo.explain(model, x, method, target=target, **FAST.get(method, {}))
    assert torch.equal(x, before) and x._version == version
    expected = zoo.explain(reference, images, method, target=target, **FAST.get(method, {}))
    torch.testing.assert_close(maps, expected)


def test_layer_search_probe_leaves_the_input_alone(images):
    torch.manual_seed(0)
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = images.clone()
    explainer = zoo.create_explainer("gradcam", model)
    explainer(x, target=None)
    assert torch.equal(x, images) and explainer.layer_name == "2"


def test_a_reused_explainer_searches_the_layer_again_for_each_input_size():
    # The last spatial layer depends on the input: MaxPool2d(16) leaves 16 px at 1x1 and 64 px at 4x4.
    # Before, the first call's choice stuck, so 64 px got layer "1" and then 16 px raised.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(16), nn.Conv2d(4, 4, 1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    small, large = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 64, 64)
    for first, second, expected_layer in ((small, large, "4"), (large, small, "1")):
        explainer = zoo.create_explainer("gradcam", model)
        explainer(first, target=1)
        maps = explainer(second, target=1)
        assert explainer.layer_name == expected_layer
        torch.testing.assert_close(maps, zoo.create_explainer("gradcam", model)(second, target=1))


class ReusesRelu(nn.Module):
    """torchvision BasicBlock style: one ReLU module called twice in a forward."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.relu, self.fc = nn.ReLU(), nn.Linear(4, 2)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


def test_reused_target_layer_warns_and_explains_its_last_call(images):
    torch.manual_seed(0)
    model = ReusesRelu().eval()
    with pytest.warns(ReusedLayerWarning, match="ran 2 times.*last output"):
        maps = zoo.explain(model, images, "gradcam", target=1, target_layer="relu")
    # the last call's output is what conv2 -> relu gives: the same map as hooking a module run once there
    model.relu2 = nn.ReLU()
    model.forward = lambda x: model.fc(model.relu2(model.conv2(model.relu(model.conv1(x)))).mean((2, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReusedLayerWarning)
        expected = zoo.explain(model, images, "gradcam", target=1, target_layer="relu2")
    torch.testing.assert_close(maps, expected, rtol=0, atol=0)


def test_cam_refuses_target_layer(gap_model):
    with pytest.raises(LayerError, match="forward_features and the linear head.*gradcam"):
        zoo.create_explainer("cam", gap_model, target_layer="features.0")
    zoo.create_explainer("cam", gap_model, target_layer=None)


@pytest.mark.parametrize("chunk_size", [None, "auto", 1, 7])
def test_rise_chunk_sizes_agree(gap_model, images, chunk_size):
    expected = zoo.explain(gap_model, images, "rise", target=1, n_masks=12, seed=0, chunk_size=256)
    got = zoo.explain(gap_model, images, "rise", target=1, n_masks=12, seed=0, chunk_size=chunk_size)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4 * float(expected.abs().max()))  # centring cancels


def test_rise_on_a_model_that_ignores_the_image_gives_zeros_also_normalised(images):
    # Before, the centred map was rounding noise (~1e-7), which normalize=True stretched to [0, 1].
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    nn.init.zeros_(model[0].weight)
    nn.init.zeros_(model[0].bias)
    for normalize in (False, True):
        maps = zoo.explain(model.eval(), images, "rise", target=1, n_masks=32, seed=0, normalize=normalize)
        assert torch.equal(maps, torch.zeros_like(maps))


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, "big", True])
def test_rise_bad_chunk_size(gap_model, chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be"):
        zoo.create_explainer("rise", gap_model, chunk_size=chunk_size)


def test_smoothgrad_seed_gives_the_same_noise_in_float64(gap_model, images):
    single = zoo.explain(gap_model, images, "smoothgrad", target=1, n_samples=4, seed=3)
    double = zoo.explain(copy.deepcopy(gap_model).double(), images.double(), "smoothgrad", target=1,
                         n_samples=4, seed=3)
    torch.testing.assert_close(double, single, rtol=1e-4, atol=1e-6)


def test_smoothgrad_float32_noise_is_torch_randn_float32(images):
    """The float32 noise is exactly what it was: torch.randn in float32 from the seeded generator."""
    x = images[:1]
    noise = torch.randn((2, 3, 12, 12), generator=torch.Generator().manual_seed(11), dtype=torch.float32)

    class Square(nn.Module):
        def forward(self, inputs):  # scores x^2 / 2 (gradient: the input itself) and sum(x)
            return torch.stack([(inputs ** 2).flatten(1).sum(1) / 2, inputs.flatten(1).sum(1)], 1)

    got = zoo.explain(Square(), x, "smoothgrad", target=0, n_samples=2, stdev=0.5, seed=11, chunk_size=None)
    expected = (x + 0.5 * noise).abs().mean(0).amax(0)  # d(x^2/2)/dx = x + noise
    torch.testing.assert_close(got[0], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients", "rise"])
def test_dtype_mismatch_is_a_clear_error_before_the_forward(method, gap_model, images):
    calls = []
    handle = gap_model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    try:
        with pytest.raises(ValueError, match=r"float64.*float32.*images\.float\(\).*model\.double\(\)"):
            zoo.explain(gap_model, images.double(), method, target=1, **FAST.get(method, {}))
    finally:
        handle.remove()
    assert calls == []


def test_a_model_declaring_its_head_before_its_stem_is_explained():
    """The input channels were guessed from the first registered Conv2d, here the head (8 -> 4):
    a valid 3-channel batch was refused as "expected 8 input channels"."""
    from torch import nn

    class HeadFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(8, 4, 1)
            self.stem = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            return self.head(torch.relu(self.stem(x))).mean((2, 3))

    class SpaceToDepth(nn.Module):  # a 3-channel input, and a first Conv2d taking 12
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 4, 1))

        def forward(self, x):
            return self.stem(x).mean((2, 3))

    torch.manual_seed(0)
    for model in (HeadFirst().eval(), SpaceToDepth().eval()):
        assert zoo.explain(model, torch.rand(2, 3, 16, 16), method="saliency").shape == (2, 16, 16)
    told = HeadFirst().eval()
    told.in_chans = 3  # a model that says its channels is held to them
    with pytest.raises(ValueError, match="expected 3 input channels, got 1"):
        zoo.explain(told, torch.rand(2, 1, 16, 16), method="saliency")
