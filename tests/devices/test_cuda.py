"""The zoo on a CUDA device: what runs on the CPU runs there, with the same results.

Skipped where torch sees no CUDA device (CI has none). ``ZOO_TEST_DEVICE=cpu`` runs them on
the CPU against the CPU, a dry run that proves the tests themselves work on a machine without
a GPU. TF32 is switched off for the comparisons, so the two devices differ by float rounding only.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.data import get_dataset
from zoo.card_models import load_card_model, read_card_config
from zoo.evaluate import evaluate, evaluate_model
from zoo_explainers import faithfulness as fa

DEVICE = os.environ.get("ZOO_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
pytestmark = pytest.mark.skipif(DEVICE is None, reason="torch sees no CUDA device "
                                                       "(ZOO_TEST_DEVICE=cpu runs these tests on the CPU)")

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"
CARDS = sorted(p.parent.name for p in HUBCARDS.glob("*/config.json"))
DETERMINISTIC = ["cam", "gradcam", "gradcam_pp", "hirescam", "saliency", "integrated_gradients", "guided_backprop"]


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-3) -> None:
    """Equal up to ``rel`` of the expected values' largest magnitude (float rounding across devices)."""
    assert actual.device.type == DEVICE and actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = float(expected.abs().max()) or 1.0
    torch.testing.assert_close(actual.cpu(), expected, rtol=0, atol=rel * scale)


@pytest.fixture(scope="module")
def digits():
    model = load_card_model(HUBCARDS / "cnn_cam.digits").eval()
    dataset = get_dataset("digits", "test", image_size=32)
    images = torch.stack([dataset[i]["image"] for i in range(8)])
    return model, images


@pytest.mark.parametrize("card", CARDS)
def test_card_metrics_reproduce_on_the_device(card):
    measured = evaluate(card, hubcards=HUBCARDS, device=DEVICE)
    for key, value in read_card_config(HUBCARDS / card)["metrics"].items():
        assert measured[key] == pytest.approx(value, abs=0.005), key


def test_evaluate_model_moves_the_model_to_the_device_it_is_given():
    """The images follow the model: a model left on the CPU would measure the same numbers there."""
    card = HUBCARDS / "cnn_cam.digits"
    model = load_card_model(card)
    dataset = get_dataset("digits", "test", size=8, **read_card_config(card)["dataset"]["kwargs"])
    evaluate_model(model, "classification", dataset, device=DEVICE)
    assert {p.device.type for p in model.parameters()} == {torch.device(DEVICE).type}


@pytest.mark.parametrize("name", ["cnn_cam", "unet", "segnet", "fcn32s", "fcn16s", "fcn8s", "fcn8s_resnet18",
                                  "timm/resnet18", "timm/vit_tiny_patch16_224"])
def test_forward_on_the_device_matches_the_cpu(name):
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    size = 224 if name.startswith("timm/") else 64
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
        actual = copy.deepcopy(model).to(DEVICE)(x.to(DEVICE))
    _close(actual, expected)


def test_detection_on_the_device_matches_the_cpu():
    model = load_card_model(HUBCARDS / "maskrcnn_mini.shapes").eval()
    images = [get_dataset("shapes", "test", image_size=64)[i]["image"] for i in range(4)]
    with torch.no_grad():
        expected = model(images)
        actual = copy.deepcopy(model).to(DEVICE)([im.to(DEVICE) for im in images])
    for got, want in zip(actual, expected):
        confident = want["scores"] > 0.5
        assert confident.any()
        top = got["scores"] > 0.5
        assert torch.equal(got["labels"][top].cpu(), want["labels"][confident])
        _close(got["boxes"][top], want["boxes"][confident])


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_explainer_maps_on_the_device_match_the_cpu(digits, method):
    model, images = digits
    expected = zoo.explain(model, images, method)
    on_device = copy.deepcopy(model).to(DEVICE)
    _close(zoo.explain(on_device, images.to(DEVICE), method), expected)


@pytest.mark.parametrize("method", ["smoothgrad", "rise"])
def test_stochastic_explainers_are_seedable_on_the_device(digits, method):
    model, images = digits
    on_device, x = copy.deepcopy(model).to(DEVICE), images.to(DEVICE)
    options = {"smoothgrad": {"n_samples": 8}, "rise": {"n_masks": 64, "cells": 4}}[method]
    first = zoo.explain(on_device, x, method, seed=3, **options)
    assert first.device.type == DEVICE and first.shape == (8, 32, 32) and torch.isfinite(first).all()
    # the same draws; cuDNN's backward kernels may sum in another order from one call to the next
    _close(zoo.explain(on_device, x, method, seed=3, **options), first.cpu(), rel=1e-5)
    other = zoo.explain(on_device, x, method, seed=4, **options)
    assert (other - first).abs().max() > 1e-2 * first.abs().max()  # other draws: the tolerance tells them apart


def test_smoothgrad_without_noise_is_saliency_on_the_device(digits):
    model, images = digits
    on_device, x = copy.deepcopy(model).to(DEVICE), images.to(DEVICE)
    torch.testing.assert_close(zoo.explain(on_device, x, "smoothgrad", sigma=0.0, n_samples=4),
                               zoo.explain(on_device, x, "saliency"))


def test_segmentation_explainers_on_the_device_match_the_cpu():
    model = load_card_model(HUBCARDS / "unet.shapes").eval()
    images = torch.stack([get_dataset("shapes", "test", image_size=64)[i]["image"] for i in range(2)])
    on_device, x = copy.deepcopy(model).to(DEVICE), images.to(DEVICE)
    _close(zoo.explain(on_device, x, "gradcam", target=1), zoo.explain(model, images, "gradcam", target=1))

    # Input gradients of this UNet cross a ReLU kink: one BatchNorm output is exactly 0 in float64,
    # 3.6e-8 on the CPU in float32, so the ReLU passes a gradient there on one side and not on the
    # other (measured 2026-11-26: CPU float32 vs float64 differ on 1.8% of the pixels, by up to 1% of
    # the map's maximum; the H100 matched float64). Most pixels still agree to float rounding.
    actual = zoo.explain(on_device, x, "saliency", target=1).cpu()
    expected = zoo.explain(model, images, "saliency", target=1)
    off = (actual - expected).abs() > 1e-3 * expected.abs().max()
    assert float(off.float().mean()) < 0.05
    assert float((actual - expected).abs().max()) < 0.02 * float(expected.abs().max())


def test_explaining_on_the_device_leaves_model_and_input_as_found(digits):
    model, images = digits
    on_device, x = copy.deepcopy(model).to(DEVICE), images.to(DEVICE)
    flags = [p.requires_grad for p in on_device.parameters()]
    before = x.clone()
    with torch.no_grad():
        for method in ("gradcam", "integrated_gradients"):
            zoo.explain(on_device, x, method)
    assert not on_device.training
    assert [p.requires_grad for p in on_device.parameters()] == flags
    assert all(p.grad is None for p in on_device.parameters())
    assert torch.equal(x, before) and x.grad is None


def test_deletion_and_insertion_auc_on_the_device_match_the_cpu(digits):
    model, images = digits
    maps = zoo.explain(model, images, "gradcam")
    on_device, x, m = copy.deepcopy(model).to(DEVICE), images.to(DEVICE), maps.to(DEVICE)
    for auc in (fa.deletion_auc, fa.insertion_auc):
        _close(auc(on_device, x, m, steps=8), auc(model, images, maps, steps=8))


@pytest.mark.parametrize("command", [
    ["predict", "unet.shapes", "-o", "{out}"],
    ["predict", "maskrcnn_mini.shapes", "-o", "{out}"],
    ["explain", "cnn_cam.digits", "-m", "gradcam", "-o", "{out}"],
], ids=lambda c: f"{c[0]}-{c[1]}")
def test_the_cli_draws_on_the_device_what_it_draws_on_the_cpu(command, tmp_path):
    name = command[1]
    dataset = "digits" if name.startswith("cnn_cam") else "shapes"
    size = 32 if dataset == "digits" else 64
    image = get_dataset(dataset, "test", image_size=size)[0]["image"]
    pixels = (image.expand(3, -1, -1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(tmp_path / "scene.png")
    drawn = {}
    for device in ("cpu", DEVICE):
        out = tmp_path / device
        args = [a.format(out=out) for a in command]
        assert main([*args[:2], str(tmp_path / "scene.png"), *args[2:], "--device", device,
                     "--weights", str(HUBCARDS / name / "model.safetensors")]) == 0
        with Image.open(next(out.glob("*.png"))) as im:
            drawn[device] = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(drawn[DEVICE] - drawn["cpu"]).mean() < 0.5  # colours: a rounding step at a few pixels at most


@pytest.mark.skipif(DEVICE != "cuda", reason="a limit on the GPU's memory")
@pytest.mark.parametrize("method", ["smoothgrad", "integrated_gradients"])
def test_a_pass_too_large_for_the_gpu_is_split_instead_of_failing(method, caplog):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=10).eval().to(DEVICE)
    x = torch.rand(8, 3, 224, 224, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    options = {"smoothgrad": {"n_samples": 64, "seed": 0}, "integrated_gradients": {"n_steps": 64}}[method]
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    expected = zoo.explain(model, x, method, chunk_size=8 * 8, **options)  # 8 copies of the batch per pass
    per_8_copies = torch.cuda.max_memory_allocated() - base
    torch.cuda.empty_cache()
    # room for about 24 copies per pass: all 64 at once cannot fit, 16 can
    limit = torch.cuda.memory_reserved() + 3 * per_8_copies
    torch.cuda.set_per_process_memory_fraction(limit / torch.cuda.get_device_properties(DEVICE).total_memory)
    try:
        try:  # not pytest.raises: its record of the error would keep the failed pass's tensors alive
            zoo.explain(model, x, method, chunk_size=None, **options)
            one_pass_fits = True
        except torch.OutOfMemoryError:
            one_pass_fits = False
        assert not one_pass_fits  # the limit is real
        with caplog.at_level("INFO", logger="zoo.explain"):
            actual = zoo.explain(model, x, method, **options)  # chunk_size="auto"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert "64 copies of the batch per pass ran out of cuda:0 memory; now 32 per pass" in caplog.text
    _close(actual, expected.cpu(), rel=1e-4)


@pytest.mark.skipif(DEVICE != "cuda", reason="the CUDA generator's state")
def test_randomising_a_model_on_the_device_leaves_the_callers_cuda_random_state_alone(digits):
    model, images = digits
    on_device = copy.deepcopy(model).to(DEVICE)
    state = torch.cuda.get_rng_state()
    clone = fa.randomize_weights(on_device, seed=1)
    fa.sanity_check(on_device, images.to(DEVICE), "gradcam", seed=1)
    assert torch.equal(torch.cuda.get_rng_state(), state)
    assert next(clone.parameters()).is_cuda
    assert any(not torch.equal(a, b) for a, b in zip(clone.parameters(), on_device.parameters()))
    assert torch.equal(fa.randomize_weights(on_device, seed=1).head.weight, clone.head.weight)  # seeded
