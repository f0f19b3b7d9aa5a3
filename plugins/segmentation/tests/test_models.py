"""Shapes, arguments and input validation shared by every segmentation model of the plugin."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.inputs import InputError
from zoo_segmentation.errors import ModelConfigError
from zoo_segmentation.fcn import FCN
from zoo_segmentation.segnet import SegNet
from zoo_segmentation.unet import UNet

SMALL = {  # small configurations of each family, fast enough for many shapes
    "unet": lambda **kw: UNet(base_width=4, depth=4, **kw),
    "unet_bilinear": lambda **kw: UNet(base_width=4, depth=4, upsample="bilinear", **kw),
    "segnet": lambda **kw: SegNet(widths=(4, 8, 8, 8), depths=(1, 1, 2, 2), **kw),
    "fcn32s": lambda **kw: FCN(stride=32, widths=(4, 4, 8, 8, 8), depths=(1, 1, 1, 1, 1), fc_width=8, **kw),
    "fcn16s": lambda **kw: FCN(stride=16, widths=(4, 4, 8, 8, 8), depths=(1, 1, 1, 1, 1), fc_width=8, **kw),
    "fcn8s": lambda **kw: FCN(stride=8, widths=(4, 4, 8, 8, 8), depths=(1, 1, 1, 1, 1), fc_width=8, **kw),
}
SIZES = [(33, 47), (97, 31), (64, 64), (16, 70)]


@pytest.mark.parametrize("family", SMALL)
def test_any_size_gives_logits_at_input_size(family):
    torch.manual_seed(0)
    model = SMALL[family](num_classes=5, in_chans=3).eval()
    with torch.no_grad():
        for h, w in SIZES:
            out = model(torch.randn(2, 3, h, w))
            assert out.shape == (2, 5, h, w), (family, h, w)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("family", SMALL)
def test_padding_does_not_leak_between_images(family):
    # a batch of one and a batch of two give the same logits for the same image
    torch.manual_seed(0)
    model = SMALL[family](num_classes=3).eval()
    x = torch.randn(2, 3, 37, 41)
    with torch.no_grad():
        assert torch.allclose(model(x)[:1], model(x[:1]), atol=1e-5)


@pytest.mark.parametrize("family", SMALL)
def test_padding_repeats_the_last_row_and_column(family):
    """The model pads as the caller would with ``mode="replicate"``: black rows at the bottom and
    right, which no training image has, cost pretrained models their border pixels."""
    torch.manual_seed(0)
    model = SMALL[family](num_classes=3).eval()
    x = torch.rand(2, 3, 61, 50)
    padded = torch.nn.functional.pad(x, (0, 64 - 50, 0, 64 - 61), mode="replicate")
    with torch.no_grad():
        assert torch.allclose(model(x), model(padded)[..., :61, :50], atol=1e-5)


def test_pretrained_unet_segments_an_odd_size_as_well_as_its_training_size():
    """``unet.shapes`` on 63x63 crops of its 64x64 test scenes: 0.84 mIoU with zero padding,
    0.93 (as on the whole scenes) now."""
    from torchmetrics.classification import MulticlassJaccardIndex

    from zoo.data import get_dataset
    from zoo.testing.hub_fixture import source_hubcards

    weights = source_hubcards() / "unet.shapes" / "model.safetensors"
    if not weights.is_file():
        pytest.skip(f"{weights} is missing (the shipped unet.shapes card)")
    model = zoo.create("unet", weights=weights, base_width=8, depth=4, num_classes=4)
    scenes = get_dataset("shapes", split="test", image_size=64)
    images = torch.stack([scenes[i]["image"] for i in range(32)])[..., :63, :63]
    masks = torch.stack([scenes[i]["mask"] for i in range(32)])[..., :63, :63]
    with torch.no_grad():
        miou = MulticlassJaccardIndex(4)(model(images).argmax(1), masks).item()
    assert miou > 0.9, miou


@pytest.mark.parametrize("family", SMALL)
def test_num_classes_and_in_chans_are_honoured(family):
    model = SMALL[family](num_classes=7, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 40, 36)).shape == (1, 7, 40, 36)
    with pytest.raises(InputError, match="1 input channels"):
        model(torch.randn(1, 3, 40, 36))


@pytest.mark.parametrize("family", SMALL)
@pytest.mark.parametrize("bad, message", [
    (torch.randn(3, 40, 40), "4-D"),
    (torch.zeros(1, 3, 40, 40, dtype=torch.uint8), "floating-point"),
    (torch.randn(1, 3, 15, 64), "at least 16x16, got 15x64; resize or pad"),
    (torch.randn(0, 3, 40, 40), "empty batch"),
    ([[0.0]], "torch.Tensor"),
])
def test_bad_input_raises_input_error(family, bad, message):
    model = SMALL[family](num_classes=2)
    with pytest.raises(InputError, match=message):
        model(bad)


@pytest.mark.parametrize("family", SMALL)
def test_train_step_reaches_every_parameter(family):
    torch.manual_seed(0)
    model = SMALL[family](num_classes=3).train()
    x, target = torch.randn(2, 3, 35, 33), torch.randint(0, 3, (2, 35, 33))
    torch.nn.functional.cross_entropy(model(x), target).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize("build, kwargs", [
    (UNet, {"depth": 0}),
    (UNet, {"base_width": 2.5}),
    (UNet, {"upsample": "nearest"}),
    (SegNet, {"widths": (8, 16), "depths": (1,)}),
    (SegNet, {"widths": ()}),
    (FCN, {"stride": 4}),
    (FCN, {"widths": (8, 8, 8)}),
    (FCN, {"dropout": 1.0}),
    (FCN, {"backbone": "no_such_timm_model"}),
    (FCN, {"fc_kernel": 2}),  # an even fc6 shifts the stride-32 scores by half a cell
    (FCN, {"pretrained_backbone": True}),  # the VGG stack has no pretrained weights
    (FCN, {"backbone": "resnet18", "widths": (8, 8, 8, 8, 8)}),  # VGG options with a timm encoder
    (FCN, {"backbone": "resnet18", "batch_norm": False}),
])
def test_bad_configuration_raises_typed_error(build, kwargs):
    with pytest.raises(ModelConfigError) as info:
        build(**kwargs)
    assert isinstance(info.value, zoo.ZooError)


def test_a_pretrained_backbone_timm_cannot_fetch_is_a_hub_error_saying_what_to_set(tmp_path, monkeypatch):
    from huggingface_hub import constants

    # huggingface_hub reads these at import (timm downloads through it): an empty cache, offline
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(zoo.HubError, match="'resnet18'.*HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE.*"
                                           "pretrained_backbone=False"):
        FCN(backbone="resnet18", pretrained_backbone=True)


@pytest.mark.parametrize("family", ["segnet", "fcn8s"])  # unpooling indices; skip fusion
def test_torch_export_with_dynamic_height_and_width(family):
    from torch.export import Dim

    torch.manual_seed(0)
    model = SMALL[family](num_classes=3).eval()
    program = torch.export.export(model, (torch.randn(1, 3, 33, 47),),
                                  dynamic_shapes=({2: Dim.AUTO, 3: Dim.AUTO},))
    x = torch.randn(1, 3, 97, 65)
    with torch.no_grad():
        assert torch.allclose(program.module()(x), model(x), atol=1e-5)


@pytest.mark.parametrize("build", [lambda: UNet(num_classes=3, base_width=16, depth=3),
                                   lambda: SegNet(num_classes=3, widths=(16, 32, 64), depths=(2, 2, 2))])
def test_a_fresh_model_starts_from_he_fan_out_convs_and_unit_batchnorm(build):
    torch.manual_seed(0)
    model = build()
    for conv in (m for m in model.modules() if type(m) is torch.nn.Conv2d):
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.25)
        assert conv.bias is None or not conv.bias.any()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and not bn.bias.any()


@pytest.mark.parametrize("family", SMALL)
def test_torchvisions_feature_extraction_traces_train_and_eval(family):
    """torch.fx met the input checks (InputError: got Proxy) and, in train mode, the lone-image
    padding's size test (control flow on a traced value); timm's models trace."""
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    model = SMALL[family](num_classes=3)
    _, nodes = get_graph_node_names(model)
    modules = dict(model.named_modules())
    extractor = create_feature_extractor(model, {[n for n in nodes if n in modules][-1]: "features"})
    for mode, shape in (("train", (1, 3, 32, 32)), ("eval", (2, 3, 33, 47))):  # a lone 32x32 image is padded
        extractor.train(mode == "train")
        assert extractor(torch.rand(*shape))["features"].shape[0] == shape[0]
    traced = torch.fx.symbolic_trace(model.eval())
    x = torch.rand(2, 3, 97, 33)
    assert torch.equal(traced(x), model(x))
