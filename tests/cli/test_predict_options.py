"""`zoo predict` options: --in-chans 1 on a pretrained RGB tag, --score-threshold's range and the
models it applies to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"
COMMIT = "0" * 40


def offline_hub_cache(root: Path, card: str) -> Path:
    """The Hub cache a download of ``visionzoo/<card>`` leaves, with the project's hub card weights."""
    repo = root / f"models--visionzoo--{card}"
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "snapshots" / COMMIT / "model.safetensors").write_bytes((HUBCARDS / card / "model.safetensors").read_bytes())
    return root


@pytest.mark.parametrize("card, plugin", [("unet.shapes", "zoo_segmentation"),
                                          ("maskrcnn_mini.shapes", "zoo_detection")])
def test_in_chans_1_on_a_pretrained_rgb_tag_draws_a_grey_image(card, plugin, tmp_path):
    """The card's config.json has three mean/std values; the grey model gets one (it exited 3)."""
    pytest.importorskip(plugin)
    Image.new("L", (70, 50), 128).save(tmp_path / "grey.png")
    env = {**os.environ, "HF_HUB_CACHE": str(offline_hub_cache(tmp_path / "hf", card)), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "predict", card, str(tmp_path / "grey.png"),
                             "-o", str(tmp_path / "out"), "--in-chans", "1"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "in_chans 3 -> 1" in result.stderr  # the stem was adapted, as zoo.create(..., in_chans=1) does
    with Image.open(tmp_path / "out" / "grey.png") as im:
        assert im.size == (70, 50)


@pytest.fixture
def scene(tmp_path) -> Path:
    Image.new("RGB", (64, 64), (40, 40, 40)).save(tmp_path / "scene.png")
    return tmp_path / "scene.png"


def test_score_threshold_for_a_semantic_model_is_a_usage_error_before_weights_are_read(scene, tmp_path, capsys):
    pytest.importorskip("zoo_segmentation")
    # a weights file that does not exist: reading it first would exit 3
    assert main(["predict", "unet", str(scene), "-o", str(tmp_path / "out"), "--score-threshold", "0.3",
                 "--weights", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "--score-threshold applies to instance segmentation models only" in err
    assert "unet is a semantic_segmentation model" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_score_threshold_outside_0_1_is_a_usage_error(value, scene, tmp_path, capsys):
    pytest.importorskip("zoo_detection")
    assert main(["predict", "maskrcnn_mini", str(scene), "-o", str(tmp_path / "out"), "--score-threshold", value,
                 "--weights", str(tmp_path / "missing.safetensors")]) == 2
    assert f"--score-threshold must be in [0, 1], got {float(value)}" in capsys.readouterr().err


def test_score_threshold_1_is_accepted_for_an_instance_model(scene, tmp_path):
    pytest.importorskip("zoo_detection")
    assert main(["predict", "maskrcnn_mini", str(scene), "-o", str(tmp_path / "out"), "--score-threshold", "1"]) == 0
    assert (tmp_path / "out" / "scene.png").is_file()


def test_an_output_folder_that_is_a_file_is_a_usage_error_before_weights_are_read(scene, tmp_path, capsys):
    pytest.importorskip("zoo_segmentation")
    notes = tmp_path / "notes"
    notes.write_text("kept")
    assert main(["predict", "unet", str(scene), "-o", str(notes),
                 "--weights", str(tmp_path / "missing.safetensors")]) == 2
    assert f"-o {notes} is a file, not a folder; give a folder for the PNGs" in capsys.readouterr().err
    assert notes.read_text() == "kept"
