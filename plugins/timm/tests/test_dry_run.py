"""Image sizes a timm model fails on are refused with an InputError, found on a meta-device copy."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import zoo
from zoo.inputs import InputError
from zoo_timm.dry_run import SizeCheck


class FixedSize(nn.Module):
    """A position embedding of one size, as in timm's fixed-size models."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.ones(1, 3, size, size))
        self.pretrained_cfg = {"input_size": (3, size, size)}

    def forward(self, x):
        return (x + self.pos).mean((2, 3))


class DataDependent(FixedSize):
    """Reads a value, which the meta device cannot: no size can be judged on it."""

    def forward(self, x):
        return super().forward(x) * x.mean().item()


def test_a_size_timms_model_fails_on_is_refused_before_it_runs():
    """#9: BoTNet's attention takes its 256x256 only; other sizes raised a bare AssertionError deep inside."""
    model = zoo.create("timm/botnet26t_256", num_classes=3).eval()
    with pytest.raises(InputError, match=r"^timm/botnet26t_256 does not take 160x160 images \(timm's model fails on "
                                         r"them: AssertionError\); it was made for 256x256: resize them to that, or "
                                         r"create the model for your size where timm offers it \(img_size=\(H, W\)\)$"):
        model(torch.rand(1, 3, 160, 160))
    with torch.no_grad():
        assert model(torch.rand(2, 3, 256, 256)).shape == (2, 3)
        flexible = zoo.create("timm/resnet18", num_classes=3).eval()
        assert flexible(torch.rand(1, 3, 97, 131)).shape == (1, 3)  # a size the model takes is taken


def test_the_refusal_names_the_models_own_error_and_leaves_the_model_as_it_was():
    model = FixedSize(8)
    with pytest.raises(InputError, match=r"^net does not take 6x6 images \(timm's model fails on them: RuntimeError: "
                                         r"Attempting to broadcast a dimension of length 8 .*; it was made for 8x8"):
        SizeCheck("net")(model, torch.rand(1, 3, 6, 6))
    assert model.pos.device.type == "cpu" and torch.equal(model.pos, torch.ones(1, 3, 8, 8))


def test_a_refusal_is_asked_again_so_a_model_rebuilt_in_place_is_taken():
    check, model = SizeCheck("net"), FixedSize(8)
    with pytest.raises(InputError):
        check(model, torch.rand(1, 3, 6, 6))
    model.pos, model.pretrained_cfg = nn.Parameter(torch.ones(1, 3, 6, 6)), {"input_size": (3, 6, 6)}
    check(model, torch.rand(1, 3, 6, 6))
    assert model(torch.rand(1, 3, 6, 6)).shape == (1, 3)


def test_a_model_the_meta_device_cannot_run_is_never_refused():
    check = SizeCheck("net")
    check(DataDependent(8), torch.rand(1, 3, 6, 6))  # the real run says what is wrong, as before
    with pytest.raises(RuntimeError, match="must match"):
        DataDependent(8)(torch.rand(1, 3, 6, 6))


def test_a_model_without_a_made_for_size_is_not_asked():
    model = FixedSize(8)
    del model.pretrained_cfg
    SizeCheck("net")(model, torch.rand(1, 3, 6, 6))


def test_a_model_with_a_method_set_on_the_instance_is_not_asked():
    model = FixedSize(8)
    forward = model.forward
    model.forward = lambda x: forward(nn.functional.interpolate(x, size=(8, 8)))  # the class's forward would fail
    check = SizeCheck("net")
    check(model, torch.rand(1, 3, 6, 6))
    assert model(torch.rand(1, 3, 6, 6)).shape == (1, 3)
    del model.forward  # that no-answer was not remembered: the class's own forward is asked
    with pytest.raises(InputError, match="does not take 6x6 images"):
        check(model, torch.rand(1, 3, 6, 6))


def test_a_modules_own_method_bound_on_the_instance_is_still_asked():
    model = FixedSize(8)
    model.forward = model.forward  # bound to the module itself, as FasterNet's blocks pick their forward
    with pytest.raises(InputError, match="does not take 6x6 images"):
        SizeCheck("net")(model, torch.rand(1, 3, 6, 6))


def test_an_explanation_at_a_size_the_model_fails_on_is_refused_too():
    """#9: in explain as in created models. CAM and Grad-CAM run the model with its
    forward_features wrapped, which a copy takes as the method it wraps."""
    model = zoo.create("timm/botnet26t_256", num_classes=3).eval()
    for method in ("cam", "gradcam", "saliency"):
        with pytest.raises(InputError, match="does not take 160x160 images"):
            zoo.explain(model, torch.rand(1, 3, 160, 160), method=method)
    assert "forward_features" not in vars(model)


def test_the_callers_hooks_do_not_see_the_dry_run():
    """Grad-CAM on a named layer hooks it; the dry run of a new size would have run that hook once more."""
    model = zoo.create("timm/resnet18", num_classes=3).eval()
    seen = []
    model.layer4.register_forward_hook(lambda module, args, output: seen.append(output.device.type))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a layer run twice in one pass warns (ReusedLayerWarning)
        maps = zoo.explain(model, torch.rand(2, 3, 97, 131), method="gradcam", target_layer="layer4")
    assert maps.shape == (2, 97, 131) and seen == ["cpu"]


def test_a_training_batch_is_asked_as_a_batch_not_as_one_image():
    """BatchNorm in training mode refuses one 1x1 map; resnet18 makes 1x1 maps of 32x32 images."""
    model = zoo.create("timm/resnet18", num_classes=3).train()
    assert model(torch.rand(4, 3, 32, 32)).shape == (4, 3)


def test_torch_compile_traces_the_model_without_the_dry_run():
    """A copy made inside traced code breaks the graph: fullgraph=True would refuse the model."""
    model = zoo.create("timm/resnet18", num_classes=3).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.rand(1, 3, 200, 200)  # not its 224x224: a size the dry run would ask about
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)
