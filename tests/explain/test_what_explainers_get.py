"""zoo.explain hands every explainer, a third party's included, what the contract promises it: a
target as None, an int or a list of ints, and a float (N, C, H, W) batch without NaN or Inf."""

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.registry import get_registry


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


@pytest.fixture
def calls():
    """The (images, target) each call of the registered explainer "recording" got."""
    got = []

    class Recording(zoo.Explainer):
        def __call__(self, images, target=None):
            got.append((images, target))
            return torch.zeros(images.shape[0], *images.shape[2:])

    class Plugin:
        @zoo.hookimpl
        def zoo_explainers(self):
            return [zoo.ExplainerSpec("recording", Recording, ("classification",))]

    get_registry().register(Plugin(), name="recording")
    return got


@pytest.mark.parametrize("given, expected", [
    (None, None), (2, 2), (np.int64(2), 2), (2.0, 2), (torch.tensor(2), 2), (np.array(2.0), 2),
    (np.array([0, 3]), [0, 3]), (torch.tensor([1.0, 2.0]), [1, 2]), ((1, 2), [1, 2]),
    ([np.int64(1), 2.0], [1, 2]), ([torch.tensor(3), np.uint8(0)], [3, 0]), (range(2), [0, 1]),
])
def test_the_target_arrives_as_none_an_int_or_a_list_of_ints(calls, given, expected):
    zoo.explain(Conv(), torch.rand(2, 3, 8, 8), "recording", target=given)
    target = calls[-1][1]
    assert target == expected and type(target) is type(expected)
    if isinstance(target, list):
        assert all(type(t) is int for t in target)


@pytest.mark.parametrize("given, message", [
    (2.5, "target 2.5 is not a class index"), (True, "target True is not a class index"),
    ("cat", "target must be a class index, a list of indices or None, got 'cat'"),
    (np.array([[1, 2]]), r"1-D array of indices .* shape \(1, 2\)"), (-1, "target -1 is not a non-negative index"),
    ([1, 2.5], "target 2.5 is not a class index"), (torch.tensor([0.5, 1.0]), "non-integer values"),
])
def test_a_target_that_is_no_class_index_is_refused_before_the_explainer_runs(calls, given, message):
    with pytest.raises(zoo.TargetError, match=message):
        zoo.explain(Conv(), torch.rand(2, 3, 8, 8), "recording", target=given)
    assert calls == []


@pytest.mark.parametrize("images, message", [
    (torch.rand(3, 8, 8), r"4-D \(N, C, H, W\) tensor.*unsqueeze\(0\)"),
    (torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8), r"floating-point tensor.*x.float\(\) / 255"),
    (torch.rand(0, 3, 8, 8), "empty batch"),
    (torch.rand(2, 3, 8, 8).index_fill_(0, torch.tensor([1]), float("nan")), r"image\(s\) 1 of the batch hold NaN"),
    (torch.rand(2, 3, 8, 8, device="meta"), "the images are on the meta device"),
    (np.zeros((2, 3, 8, 8), np.float32), "expected a torch.Tensor"),
])
def test_images_the_contract_does_not_cover_are_refused_before_the_explainer_runs(calls, images, message):
    with pytest.raises(zoo.InputError, match=f"explainer 'recording': .*{message}"):
        zoo.explain(Conv(), images, "recording")
    assert calls == []
