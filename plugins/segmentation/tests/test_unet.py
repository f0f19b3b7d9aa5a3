"""U-Net: both upsampling modes, widths and depth, skip concatenation."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from zoo_segmentation.unet import UNet


@pytest.mark.parametrize("upsample, layer", [("transposed", nn.ConvTranspose2d), ("bilinear", nn.Upsample)])
def test_upsample_modes(upsample, layer):
    torch.manual_seed(0)
    model = UNet(num_classes=4, base_width=4, depth=3, upsample=upsample).eval()
    ups = [m for m in model.modules() if isinstance(m, layer)]
    assert len(ups) == 3
    other = nn.Upsample if layer is nn.ConvTranspose2d else nn.ConvTranspose2d
    assert not any(isinstance(m, other) for m in model.modules())
    with torch.no_grad():
        assert model(torch.randn(1, 3, 45, 33)).shape == (1, 4, 45, 33)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_depth_sets_poolings_and_widths(depth):
    model = UNet(num_classes=2, base_width=2, depth=depth).eval()
    assert len(model.down) == len(model.up) == depth
    assert model.down[-1][-1][0].out_channels == 2 * 2**depth  # bottleneck width
    with torch.no_grad():
        assert model(torch.randn(1, 3, 33, 50)).shape == (1, 2, 33, 50)


def test_paper_widths():
    model = UNet(base_width=64, depth=4)
    assert [block[-1][0].out_channels for block in model.down] == [128, 256, 512, 1024]


def test_decoder_concatenates_the_encoder_skip():
    torch.manual_seed(0)
    model = UNet(num_classes=2, base_width=4, depth=2).eval()
    seen = []
    model.up[-1].conv.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert seen == [(1, 8, 32, 32)]  # 4 skip channels + 4 upsampled channels

    # and the skip carries information: perturbing only the skip into the last block changes the logits
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        clean = model(x)
        handle = model.up[-1].register_forward_pre_hook(lambda m, args: (args[0], args[1] + 1.0))
        perturbed = model(x)
        handle.remove()
    assert not torch.allclose(clean, perturbed)


def test_batch_of_one_with_a_1x1_bottleneck_trains():
    # #3: any H, W, never fail. Before, a lone 16x16 image in training raised (BatchNorm has no
    # batch statistics on a 1x1 bottleneck); it is now padded to a 1x2 one and cropped back.
    torch.manual_seed(0)
    model = UNet(num_classes=2, base_width=4, depth=4).train()  # bottleneck at stride 16
    x = torch.rand(1, 3, 16, 16)
    out = model(x)
    assert out.shape == (1, 2, 16, 16) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 2, 16, 16)
    with torch.no_grad():
        assert model.eval()(x).shape == (1, 2, 16, 16)
