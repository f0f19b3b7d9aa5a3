"""`zoo predict`: overlay PNGs from local weights, from the Hub cache, for semantic and instance models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import zoo
import zoo.card_folders
from zoo.cli import main
from zoo.model_config import find_config

BACKGROUND = (40, 40, 40)
RED = (230, 20, 20)


def red_square_png(path, size=(80, 64)):
    """A dark (W, H) = ``size`` image with a red square at rows/cols 16..39."""
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[:] = BACKGROUND
    array[16:40, 16:40] = RED
    Image.fromarray(array).save(path)
    return array


def red_detector_weights(path):
    """sample_segmenter (1x1 conv -> ReLU -> 1x1 conv) set to call red pixels class 1, others 0."""
    model = zoo.create("sample_segmenter")  # num_classes 3, width 4
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    state["0.weight"][0, :, 0, 0] = torch.tensor([1.0, -1.0, -1.0])  # redness
    state["2.weight"][1, 0, 0, 0] = 10.0
    state["2.bias"][1] = -2.0  # class 1 where redness > 0.2
    save_file(state, str(path))


@pytest.fixture
def sample_plugin(plugin_packages):
    plugin_packages("sample-plugin")


def test_semantic_overlay_from_safetensors(sample_plugin, tmp_path, capsys):
    source = red_square_png(tmp_path / "scene.png")
    red_detector_weights(tmp_path / "w.safetensors")
    rc = main(["predict", "sample_segmenter", str(tmp_path / "scene.png"), "-o", str(tmp_path / "out"),
               "--weights", str(tmp_path / "w.safetensors")])
    assert rc == 0
    out_path = tmp_path / "out" / "scene.png"
    assert str(out_path) in capsys.readouterr().out
    with Image.open(out_path) as im:
        assert im.size == (80, 64)
        drawn = np.asarray(im.convert("RGB"))
    inside = np.abs(drawn[18:38, 18:38].astype(int) - source[18:38, 18:38]).sum(-1)
    assert (inside > 30).all()  # every pixel of the mask is tinted
    assert (drawn[48:, 48:] == source[48:, 48:]).all()  # background: untouched, legend is top-left


def test_config_beside_weights_resizes_and_names(sample_plugin, tmp_path):
    red_square_png(tmp_path / "a.png", size=(70, 50))
    red_detector_weights(tmp_path / "w.safetensors")
    config = {"label_names": ["bg", "red", "other"], "input_size": [3, 32, 32], "mean": 0.0, "std": [1.0]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert find_config("sample_segmenter", None, weights=tmp_path / "w.safetensors")["label_names"][1] == "red"
    rc = main(["predict", "sample_segmenter", str(tmp_path / "a.png"), str(tmp_path / "a.png"),
               "-o", str(tmp_path / "out"), "--weights", str(tmp_path / "w.safetensors")])
    assert rc == 0
    for name in ("a.png", "a-2.png"):  # a repeated stem does not overwrite
        with Image.open(tmp_path / "out" / name) as im:
            assert im.size == (70, 50)  # drawn at the image's size, not the model's input size


def test_config_model_kwargs_build_the_model_the_weights_need(sample_plugin, tmp_path):
    red_square_png(tmp_path / "a.png")
    save_file(zoo.create("sample_segmenter", width=6).state_dict(), str(tmp_path / "w.safetensors"))
    args = ["predict", "sample_segmenter", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
            "--weights", str(tmp_path / "w.safetensors")]
    assert main(args) == 3  # built with the default width 4: the file does not fit
    (tmp_path / "config.json").write_text(json.dumps({"model_kwargs": {"width": 6}}))
    assert main(args) == 0


def test_hubcards_config_is_found(tmp_path):
    card = tmp_path / "unet.shapes"
    card.mkdir()
    (card / "config.json").write_text(json.dumps({"label_names": ["background", "circle"]}))
    assert find_config("unet", "shapes", hubcards_dirs=[tmp_path]) == {"label_names": ["background", "circle"]}
    assert find_config("unet", "other", hubcards_dirs=[tmp_path]) == {}
    assert find_config("unet", None, hubcards_dirs=[tmp_path]) == {}
    # the card describes the tag's own weights: another file (a fine-tune of the tag) does not get it
    assert find_config("unet", "shapes", weights=tmp_path / "mine" / "w.safetensors", hubcards_dirs=[tmp_path]) == {}


def test_label_names_that_are_not_one_per_class_are_warned_about_and_not_drawn(sample_plugin, tmp_path, capsys):
    """4 names for a 3-class model: the legend would name classes by the wrong index."""
    red_square_png(tmp_path / "a.png")
    red_detector_weights(tmp_path / "w.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"num_classes": 3, "label_names": ["bg", "red", "other", "extra"]}))
    args = ["predict", "sample_segmenter", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
            "--weights", str(tmp_path / "w.safetensors")]
    assert main(args) == 0
    assert "names 4 classes (bg, red, other, extra) but the model has 3" in capsys.readouterr().err
    (tmp_path / "labels.json").write_text((tmp_path / "config.json").read_text())
    assert main([*args, "--config", str(tmp_path / "labels.json")]) == 0
    assert f"{tmp_path / 'labels.json'} names 4 classes" in capsys.readouterr().err  # the file given, by name


def test_label_names_never_resize_a_tags_head(tmp_path):
    """A config with 3 names and no num_classes, for the 10-class digits tag: the names built a
    3-class head, re-initialised, instead of being dropped as not one per class."""
    from zoo.model_config import load_for_inference

    card = zoo.card_folders.source_hubcards_dir() / "cnn_cam.digits"
    config = {k: v for k, v in json.loads((card / "config.json").read_text()).items() if k != "num_classes"}
    (tmp_path / "config.json").write_text(json.dumps({**config, "label_names": ["zero", "one", "two"]}))
    with pytest.warns(UserWarning, match="names 3 classes .* but the model has 10"):
        loaded = load_for_inference("cnn_cam.digits", zoo.model_info("cnn_cam"), "digits", pretrained=False,
                                    weights=card / "model.safetensors", config_path=tmp_path / "config.json")
    assert loaded.num_classes == 10 and loaded.model.get_classifier().out_features == 10
    assert "label_names" not in loaded.config


def test_pretrained_tag_from_the_hub_cache(sample_plugin, tmp_path):
    """`zoo predict arch.tag` loads the tag's weights (and config.json) through huggingface_hub;
    here from a populated offline cache, the way a previous download leaves it."""
    snapshot = tmp_path / "hf" / "models--sample-org--sample_segmenter.toy" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    red_detector_weights(snapshot / "model.safetensors")
    (snapshot / "config.json").write_text(json.dumps({"label_names": ["background", "red", "blue"]}))
    red_square_png(tmp_path / "scene.png")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "predict", "sample_segmenter.toy",
                             str(tmp_path / "scene.png"), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out" / "scene.png") as im:
        drawn = np.asarray(im.convert("RGB"))
    assert (np.abs(drawn[20:36, 20:36].astype(int) - RED).sum(-1) > 30).all()


def test_instance_model_draws_boxes_and_masks(tmp_path):
    pytest.importorskip("zoo_detection")
    torch.manual_seed(0)
    save_file(zoo.create("maskrcnn_mini").state_dict(), str(tmp_path / "m.safetensors"))
    source = red_square_png(tmp_path / "scene.png", size=(96, 64))
    rc = main(["predict", "maskrcnn_mini", str(tmp_path / "scene.png"), "-o", str(tmp_path / "out"),
               "--weights", str(tmp_path / "m.safetensors"), "--score-threshold", "0"])
    assert rc == 0
    with Image.open(tmp_path / "out" / "scene.png") as im:
        assert im.size == (96, 64)
        assert (np.asarray(im.convert("RGB")) != source).any()  # an untrained model still detects
    rc = main(["predict", "maskrcnn_mini", str(tmp_path / "scene.png"), "-o", str(tmp_path / "big"),
               "--weights", str(tmp_path / "m.safetensors"), "--scale", "2"])
    assert rc == 0
    with Image.open(tmp_path / "big" / "scene.png") as im:
        assert im.size == (192, 128)  # drawn enlarged, for small images


def test_errors(sample_plugin, tmp_path, capsys):
    red_square_png(tmp_path / "scene.png")
    out = str(tmp_path / "out")
    assert main(["predict", "sample_classifier", str(tmp_path / "scene.png"), "-o", out]) == 2
    assert "classification model" in capsys.readouterr().err
    assert main(["predict", "sample_segmenter", str(tmp_path / "missing.png"), "-o", out]) == 2
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", "sample_segmenter", str(tmp_path / "notes.png"), "-o", out]) == 3
    assert "not an image Pillow can read" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # no empty output folder left behind
    assert main(["predict", "sample_segmenter.nope", str(tmp_path / "scene.png"), "-o", out]) == 2
    assert main(["predict", "sample_segmenter", str(tmp_path / "scene.png"), "-o", out, "--scale", "0"]) == 2
    (tmp_path / "bad.json").write_text("{")
    assert main(["predict", "sample_segmenter", str(tmp_path / "scene.png"), "-o", out,
                 "--config", str(tmp_path / "bad.json")]) == 3


def test_a_config_written_for_another_architecture_is_warned_about(tmp_path):
    """cnn_cam's config.json beside unet weights was applied in silence (names, mean/std)."""
    from zoo.model_config import load_for_inference

    card = zoo.card_folders.source_hubcards_dir() / "unet.shapes"
    config = json.loads((card / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "architecture": "cnn_cam"}))
    with pytest.warns(UserWarning, match="was written for 'cnn_cam', not 'unet'"):
        load_for_inference("unet", zoo.model_info("unet"), None, pretrained=False,
                           weights=card / "model.safetensors", config_path=tmp_path / "config.json")


def test_a_bare_name_with_pretrained_draws_as_its_default_tag_does(tmp_path):
    """`--pretrained` on a bare name loads the default tag's weights and, as for `NAME.TAG`, its
    card's config: its class names and preprocessing."""
    from zoo.demo import embedded_hub

    red_square_png(tmp_path / "scene.png")
    hubcards = zoo.card_folders.default_hubcards_dir()
    with embedded_hub(hubcards, tmp_path / "hub", log=lambda line: None):
        for argv, out in ((["unet", "--pretrained"], "bare"), (["unet.shapes"], "tagged")):
            assert main(["predict", *argv, str(tmp_path / "scene.png"), "-o", str(tmp_path / out)]) == 0
    assert (tmp_path / "bare" / "scene.png").read_bytes() == (tmp_path / "tagged" / "scene.png").read_bytes()
