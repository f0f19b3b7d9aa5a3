"""The stacked batch of SmoothGrad / IG: pass sizes, channels_last, and the fallback for models
that need NCHW strides. The layout and the pass sizes change speed only, never the maps."""

import pytest
import torch
from torch import nn

import zoo
from zoo_explainers import stacking


class NeedsNCHW(nn.Module):
    """Flattens with ``.view``, which fails on a channels_last activation."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 12 * 12, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.shape[0], -1))


def _spans(copies, images, chunk_size):
    spans = list(stacking.passes(copies, images, chunk_size))
    assert spans[0][0] == 0 and spans[-1][1] == copies
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    return [stop - start for start, stop in spans]


def test_pass_sizes():
    images = torch.zeros(2, 3, 96, 96)
    assert _spans(32, images, None) == [32]
    # 2 MiB of 3x96x96 float32 inputs is 18 inputs, 9 copies of 2: 4 balanced passes of 8 copies
    assert _spans(32, images, "auto") == [8, 8, 8, 8]
    assert max(_spans(32, images, 7)) <= 3  # at most 7 inputs: 3 copies of 2
    assert _spans(5, images, 1) == [1] * 5  # a pass holds at least one copy
    assert _spans(3, images, 1000) == [3]
    # huge images: still at least MIN_PASS_INPUTS inputs per pass
    assert _spans(8, torch.zeros(1, 3, 1024, 1024), "auto") == [stacking.MIN_PASS_INPUTS] * 2
    # "auto" off the CPU: all at once (there is no page-fault cost to amortise)
    assert _spans(32, torch.empty(2, 3, 96, 96, device="meta"), "auto") == [32]


def test_auto_passes_off_the_cpu_halve_when_memory_runs_out(caplog):
    # A GPU's allocator raising torch.OutOfMemoryError for passes of more than 5 copies: the real
    # one is exercised on a GPU by tests/devices. On the CPU, "auto" already sizes its passes.
    images = torch.empty(2, 3, 8, 8, device="meta")
    tried = []

    def run_pass(start, stop):
        tried.append((start, stop))
        if stop - start > 5:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return (start, stop)

    with caplog.at_level("INFO", logger="zoo.explain"):
        done = list(stacking.each_pass(20, images, "auto", run_pass))
    assert done == [(0, 5), (5, 10), (10, 15), (15, 20)]  # the failed passes gave nothing
    assert tried[:3] == [(0, 20), (0, 10), (0, 5)] and len(tried) == 6  # later passes start at the size that fit
    assert "20 copies of the batch per pass ran out of meta memory; now 10 per pass" in caplog.text

    def never_fits(start, stop):
        raise torch.OutOfMemoryError("simulated")

    with pytest.raises(torch.OutOfMemoryError):  # one copy of the batch that does not fit: nothing to split
        list(stacking.each_pass(3, images, "auto", never_fits))
    with pytest.raises(torch.OutOfMemoryError):  # an explicit chunk_size (here 10 copies per pass) is not retried
        list(stacking.each_pass(20, images, 20, run_pass))


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "big"])
def test_chunk_size_checked(gap_model, bad):
    for method in ("smoothgrad", "integrated_gradients"):
        with pytest.raises(ValueError, match="chunk_size"):
            zoo.create_explainer(method, gap_model, chunk_size=bad)


def test_stack_layout(images):
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    forward = stacking.StackedForward(model, images)
    stacked = forward.empty(4)
    assert stacked.shape == (4, *images.shape)
    assert stacked.view(-1, *images.shape[1:]).is_contiguous(memory_format=torch.channels_last)
    assert set(forward.weights) == {"0.weight"} and model[0].weight.is_contiguous()  # a copy, the model untouched
    assert stacking.wants_channels_last(model, images)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(432, 2))
    assert stacking.StackedForward(flat, images).empty(4).is_contiguous()
    assert not stacking.wants_channels_last(flat, images)
    assert not stacking.wants_channels_last(model, images[0])  # not a 4-D batch


@pytest.mark.parametrize("method,options", [("smoothgrad", {"n_samples": 5, "seed": 2}),
                                            ("integrated_gradients", {"n_steps": 7})])
def test_layout_and_passes_do_not_change_maps(method, options, gap_model, images, monkeypatch):
    fast = zoo.explain(gap_model, images, method, target=1, **options)
    monkeypatch.setattr(stacking, "wants_channels_last", lambda model, images: False)
    plain = zoo.explain(gap_model, images, method, target=1, chunk_size=None, **options)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6 * float(plain.abs().max()))


def test_model_needing_nchw_falls_back(images):
    torch.manual_seed(0)
    model = NeedsNCHW().eval()
    with pytest.raises(RuntimeError):  # the premise: this model breaks on channels_last
        model(images.contiguous(memory_format=torch.channels_last))
    attributes = dict(vars(model))
    explainer = zoo.create_explainer("integrated_gradients", model, n_steps=6)
    first = explainer(images, target=2)
    assert model in stacking._NCHW_ONLY
    assert not stacking.wants_channels_last(model, images)
    second = explainer(images, target=2)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert vars(model).keys() == attributes.keys()  # remembered outside the model


def test_real_errors_still_raised(images):
    model = NeedsNCHW().eval()
    with pytest.raises(RuntimeError):  # 16x16 images do not fit the 12x12 linear layer
        zoo.explain(model, torch.randn(2, 3, 16, 16), "smoothgrad", target=0, n_samples=2)
    assert model not in stacking._NCHW_ONLY


@pytest.mark.parametrize("method,copies", [("smoothgrad", "n_samples"), ("integrated_gradients", "n_steps"),
                                           ("rise", "n_masks")])
def test_the_copies_run_in_as_few_passes_as_chunk_size_allows(method, copies, gap_model, images):
    """The issue's "batches processed in one pass where memory allows, with a chunk-size knob": the
    maps are the same however the copies are split, so only the model's calls can tell."""
    batch_sizes = []
    handle = gap_model.register_forward_pre_hook(lambda module, args: batch_sizes.append(args[0].shape[0]))
    n = images.shape[0]
    try:
        for chunk_size, passes in ((None, [8 * n]), (2 * n, [2 * n] * 4), (n, [n] * 8)):
            batch_sizes.clear()
            zoo.explain(gap_model, images, method, target=1, chunk_size=chunk_size, **{copies: 8})
            assert batch_sizes[-len(passes):] == passes, (chunk_size, batch_sizes)
            assert len(batch_sizes) <= len(passes) + 1, batch_sizes  # and at most one plain pass before them
    finally:
        handle.remove()
