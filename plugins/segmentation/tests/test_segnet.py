"""SegNet upsamples with the encoder's pooling indices (what distinguishes it from an
encoder-decoder with learned upsampling)."""

from __future__ import annotations

import torch
import torch.nn as nn

from zoo_segmentation.segnet import SegNet


def _record(model: SegNet, x: torch.Tensor):
    """Run ``model`` and return (encoder pool calls, decoder unpool calls) as (input, output) pairs."""
    pools, unpools, handles = [], [], []
    for module in model.modules():
        if isinstance(module, nn.MaxPool2d):
            handles.append(module.register_forward_hook(lambda m, i, o: pools.append((i[0], o))))
        elif isinstance(module, nn.MaxUnpool2d):
            handles.append(module.register_forward_hook(lambda m, i, o: unpools.append((i, o))))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return pools, unpools


def test_decoder_unpools_with_the_matching_encoder_indices():
    torch.manual_seed(0)
    model = SegNet(num_classes=3, widths=(4, 8, 8), depths=(1, 1, 2)).eval()
    pools, unpools = _record(model, torch.randn(2, 3, 37, 45))
    assert len(pools) == len(unpools) == 3
    # the i-th unpooling uses the indices of the (last - i)-th pooling, and restores its input size
    for (pool_in, (_, pool_idx)), ((_, unpool_idx), unpool_out) in zip(reversed(pools), unpools):
        assert unpool_idx is pool_idx
        assert unpool_out.shape == pool_in.shape


def test_first_unpool_is_nonzero_exactly_at_the_pooling_indices():
    torch.manual_seed(0)
    model = SegNet(num_classes=3, widths=(4, 8, 8), depths=(1, 1, 2)).eval()
    pools, unpools = _record(model, torch.randn(2, 3, 40, 48))
    pool_in, (pooled, indices) = pools[-1]
    (values, unpool_indices), out = unpools[0]

    # the indices point at the maxima of each 2x2 window of the encoder's feature map
    assert torch.equal(pool_in.flatten(2).gather(2, indices.flatten(2)), pooled.flatten(2))
    # every value goes back to its index; every other position is zero
    expected = torch.zeros_like(out).flatten(2).scatter_(2, indices.flatten(2), values.flatten(2))
    assert torch.equal(out, expected.view_as(out))
    index_mask = torch.zeros_like(out, dtype=torch.bool).flatten(2).scatter_(2, indices.flatten(2), True)
    nonzero = out != 0
    assert not (nonzero & ~index_mask.view_as(out)).any()
    assert torch.equal(nonzero, index_mask.view_as(out) & (expected.view_as(out) != 0))
    # at most one non-zero per 2x2 window, so the map is at least 3/4 zeros
    assert nonzero.float().mean() <= 0.25


def test_no_learned_upsampling_and_no_skip_concatenation():
    model = SegNet(widths=(4, 8), depths=(1, 1))
    assert not any(isinstance(m, (nn.ConvTranspose2d, nn.Upsample)) for m in model.modules())
    # each decoder conv sees only the unpooled map's channels (no concatenated encoder features)
    first_convs = [stage.conv[0][0] for stage in model.decoder]
    assert [c.in_channels for c in first_convs] == [8, 4]


def test_paper_configuration_has_vgg16_encoder():
    model = SegNet(widths=(64, 128, 256, 512, 512), depths=(2, 2, 3, 3, 3))
    encoder_convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert len(encoder_convs) == 13  # VGG-16's conv layers


def test_decoder_mirrors_the_encoder():
    """Decoder stage i undoes encoder stage -1-i with as many convs; its last conv maps to the
    width of the next, shallower, stage (the paper's conv4_1_D: 512 -> 256)."""
    model = SegNet(num_classes=3, widths=(4, 8, 16), depths=(1, 2, 3))

    def convs(stage):
        return [(m.in_channels, m.out_channels, m.kernel_size) for m in stage.modules() if isinstance(m, nn.Conv2d)]

    k = (3, 3)
    assert [convs(s) for s in model.encoder] == [[(3, 4, k)], [(4, 8, k), (8, 8, k)], [(8, 16, k), (16, 16, k), (16, 16, k)]]
    assert [convs(s) for s in model.decoder] == [[(16, 16, k), (16, 16, k), (16, 8, k)], [(8, 8, k), (8, 4, k)], [(4, 4, k)]]
    assert (model.head.in_channels, model.head.out_channels, model.head.kernel_size) == (4, 3, (1, 1))
