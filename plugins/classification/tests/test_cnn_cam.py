"""Unit tests of cnn_cam: the timm convention, shapes, CAM identity and input checks."""

import pytest
import torch

import zoo
from zoo.inputs import InputError


@pytest.fixture
def model():
    torch.manual_seed(0)
    return zoo.create("cnn_cam", num_classes=5, in_chans=1, widths=(4, 8), depth=1).eval()


def test_registered_without_importing_model_code():
    assert "cnn_cam" in zoo.list_models(task="classification")
    assert zoo.model_info("cnn_cam").distribution == "visionzoo-classification"


def test_shapes_and_timm_convention(model):
    x = torch.rand(2, 1, 20, 28)
    feats = model.forward_features(x)
    assert feats.shape == (2, 8, 10, 14)
    head = model.get_classifier()
    assert isinstance(head, torch.nn.Linear) and head.out_features == 5
    assert torch.allclose(model(x), head(feats.mean(dim=(2, 3))), atol=1e-6)


def test_logits_are_the_mean_of_the_class_activation_map(model):
    # The identity CAM rests on: logit_c = mean_xy(sum_k w_ck F_k) + b_c.
    x = torch.rand(3, 1, 16, 16)
    feats = model.forward_features(x)
    w, b = model.get_classifier().weight, model.get_classifier().bias
    cam = torch.einsum("ck,nkhw->nchw", w, feats)
    assert torch.allclose(cam.mean(dim=(2, 3)) + b, model(x), atol=1e-5)


def test_reset_classifier(model):
    model.reset_classifier(3)
    assert model(torch.rand(1, 1, 8, 8)).shape == (1, 3)


@pytest.mark.parametrize("bad, message", [
    (torch.rand(1, 3, 16, 16), "in_chans=3"),
    (torch.rand(1, 16, 16), "unsqueeze"),
    (torch.zeros(1, 1, 16, 16, dtype=torch.uint8), "float"),
    (torch.rand(1, 1, 1, 1), "at least 2x2"),
])
def test_bad_inputs_raise_clear_errors(model, bad, message):
    with pytest.raises(InputError, match=message):
        model(bad)
