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


@pytest.mark.parametrize("build", [lambda: UNet(), lambda: __import__("zoo").create("unet_small")])
def test_the_default_upsampling_is_the_papers_2x2_up_convolution(build):
    model = build()
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == model.depth
    assert all(up.kernel_size == (2, 2) and up.stride == (2, 2) and up.padding == (0, 0) for up in ups)
    assert not any(isinstance(m, nn.Upsample) for m in model.modules())


def test_bilinear_upsampling_is_a_half_pixel_bilinear_resize_then_a_1x1_conv():
    torch.manual_seed(0)
    model = UNet(num_classes=2, base_width=4, depth=2, upsample="bilinear").eval()
    up = model.up[-1].up  # 8 -> 4 channels, stride 2 -> 1
    x = torch.randn(1, 8, 5, 6)
    resize, conv = up.up
    assert conv.kernel_size == (1, 1) and (conv.in_channels, conv.out_channels) == (8, 4)
    expected = conv(torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    with torch.no_grad():
        assert torch.allclose(up(x), expected, atol=1e-6)


def test_depth_is_bounded_at_ten_poolings_inclusive():
    from zoo_segmentation.errors import ModelConfigError

    assert len(UNet(num_classes=2, base_width=1, depth=10).down) == 10
    with pytest.raises(ModelConfigError, match="at most 10"):
        UNet(depth=11)


def test_a_lone_image_is_widened_only_where_train_mode_batchnorm_needs_it():
    model = UNet(num_classes=2, base_width=4, depth=4).train()  # bottleneck at stride 16
    seen = []
    model.stem.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    model(torch.rand(1, 3, 16, 16))  # a 1x1 bottleneck: one more cell, 1x2
    model(torch.rand(1, 3, 16, 40))  # 1x3 already (padded to 48): left alone
    model(torch.rand(2, 3, 16, 16))  # two images give BatchNorm two values per channel
    for module in model.modules():  # frozen BatchNorm (fine-tuning) needs no batch statistics
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    model(torch.rand(1, 3, 16, 16))
    assert seen == [(16, 32), (16, 48), (16, 16), (16, 16)]
