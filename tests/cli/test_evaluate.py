"""``zoo evaluate``: a hub card's metrics on its test split, on the CPU or a named device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


def test_evaluate_reproduces_the_cards_metric(capsys):
    assert main(["evaluate", "cnn_cam.digits", "--hubcards", str(HUBCARDS), "--device", "cpu", "--json"]) == 0
    card = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    assert json.loads(capsys.readouterr().out) == card["metrics"]


def test_a_name_torch_does_not_know_is_a_usage_error(capsys):
    assert main(["evaluate", "cnn_cam.digits", "--hubcards", str(HUBCARDS), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "--device 'gpu' is not a torch device" in err and "try cpu or cuda" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_says_to_use_the_cpu(capsys):
    assert main(["evaluate", "cnn_cam.digits", "--hubcards", str(HUBCARDS), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "sees no CUDA device" in err and "use --device cpu" in err
