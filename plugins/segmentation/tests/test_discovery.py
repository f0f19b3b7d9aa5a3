"""The plugin is found through its entry point, and listing stays free of torch."""

from __future__ import annotations

import json
import subprocess
import sys

import zoo

NAMES = {"unet", "unet_small", "unet_large", "segnet", "segnet_vgg16", "fcn32s", "fcn16s", "fcn8s",
         "fcn8s_resnet18"}


def test_registered_names_and_metadata():
    assert NAMES <= set(zoo.list_models(task="semantic_segmentation"))
    assert not NAMES & set(zoo.list_models(task="classification"))
    info = zoo.model_info("fcn16s")
    assert info.distribution == "visionzoo-segmentation"
    assert info.builder == "zoo_segmentation.fcn:fcn16s"
    assert info.defaults["num_classes"] == 21 and info.defaults["in_chans"] == 3
    assert "Long" in info.description


def test_the_pretrained_table_names_exactly_the_architectures():
    """A misspelt key in PRETRAINED would drop its tags without a word."""
    from zoo_segmentation.plugin import ARCHITECTURES, PRETRAINED

    assert set(PRETRAINED) == set(ARCHITECTURES)


def test_listing_imports_neither_torch_nor_model_code():
    code = (
        "import json, sys, zoo\n"
        "names = zoo.list_models(task='semantic_segmentation')\n"
        "zoo.model_info('unet')\n"
        "print(json.dumps({'names': names, 'modules': sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('torch', 'timm', 'torchvision', 'zoo_segmentation'))}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert NAMES <= set(report["names"])
    assert report["modules"] == ["zoo_segmentation", "zoo_segmentation.plugin"]


def test_create_applies_the_registered_defaults():
    import torch

    small = zoo.create("unet_small", num_classes=3, in_chans=1)
    assert len(small.down) == 3 and small.stem[0][0].out_channels == 8
    bilinear = zoo.create("unet", num_classes=3, upsample="bilinear").eval()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in bilinear.modules())
    fcn = zoo.create("fcn8s", num_classes=5, in_chans=4).eval()
    with torch.no_grad():
        assert fcn(torch.randn(1, 4, 33, 47)).shape == (1, 5, 33, 47)


def test_each_registered_variant_builds_what_its_name_and_description_say():
    import torch.nn as nn

    def widths(model, blocks):
        return [block[-1][0].out_channels for block in blocks]

    unet_small, unet, unet_large = (zoo.create(n) for n in ("unet_small", "unet", "unet_large"))
    assert (unet_small.stem[0][0].out_channels, unet_small.depth) == (8, 3)
    assert (unet.stem[0][0].out_channels, unet.depth) == (16, 4)
    assert widths(unet_large, unet_large.down) == [128, 256, 512, 1024]  # the paper's 64..1024

    def stages(model):
        return [sum(isinstance(m, nn.Conv2d) for m in s.modules()) for s in model.encoder]

    segnet, segnet_vgg16 = zoo.create("segnet"), zoo.create("segnet_vgg16")
    assert [s.conv[-1][0].out_channels for s in segnet.encoder] == [16, 32, 64, 128] and stages(segnet) == [2, 2, 3, 3]
    assert [s.conv[-1][0].out_channels for s in segnet_vgg16.encoder] == [64, 128, 256, 512, 512]
    assert stages(segnet_vgg16) == [2, 2, 3, 3, 3]  # VGG-16's 13 convs

    for name, stride in (("fcn32s", 32), ("fcn16s", 16), ("fcn8s", 8), ("fcn8s_resnet18", 8)):
        assert zoo.create(name).stride == stride, name
    body = zoo.create("fcn8s_resnet18").backbone.body
    assert [len(getattr(body, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]  # resnet18's blocks
