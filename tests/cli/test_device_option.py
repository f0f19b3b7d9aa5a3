"""``--device`` of the commands that run a model: a device torch cannot use here is a usage error
(exit 2) that names the fix, before any weights are read. Runs on a device: tests/devices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


def _command(name: str, tmp_path: Path) -> list[str]:
    image = tmp_path / "image.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    return {
        "evaluate": ["evaluate", "cnn_cam.digits", "--hubcards", str(HUBCARDS)],
        "predict": ["predict", "unet.shapes", str(image), "-o", str(tmp_path / "out"),
                    "--weights", str(HUBCARDS / "unet.shapes" / "model.safetensors")],
        "explain": ["explain", "cnn_cam.digits", str(image),
                    "--weights", str(HUBCARDS / "cnn_cam.digits" / "model.safetensors")],
    }[name]


@pytest.mark.parametrize("command", ["evaluate", "predict", "explain"])
def test_a_name_torch_does_not_know_is_a_usage_error(command, tmp_path, capsys):
    assert main([*_command(command, tmp_path), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert f"zoo {command}: error: --device 'gpu' is not a torch device" in err and "try cpu or cuda" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("command", ["evaluate", "predict", "explain"])
def test_cuda_without_a_gpu_says_to_use_the_cpu(command, tmp_path, capsys):
    assert main([*_command(command, tmp_path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "sees no CUDA device on this machine" in err and "use --device cpu" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("device", ["meta", "mps", "xla"])
@pytest.mark.parametrize("command", ["evaluate", "predict", "explain"])
def test_any_device_torch_cannot_use_here_is_a_usage_error(command, device, tmp_path, capsys):
    """One short line: for xla, the usage error held torch's whole dispatcher listing (59 lines)."""
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has an MPS device")
    assert main([*_command(command, tmp_path), "--device", device]) == 2
    err = capsys.readouterr().err
    assert f"--device {device}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 400, err
