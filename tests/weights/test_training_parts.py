"""Small, fast checks of the training machinery: recipes, augmentation, the published cfg."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import zoo
from zoo.data import get_dataset
from zoo.recipes import RecipeError, load_recipe
from zoo.specs import pretrained_cfg_problems
from zoo.train import _augment, _flip, pretrained_cfg_source, recipe_hparams

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


@pytest.mark.parametrize("axis", [-1, -2])
def test_flip_keeps_boxes_on_their_masks(axis):
    item = _flip(get_dataset("shapes", "val", size=3)[2], axis)
    for m, (x0, y0, x1, y1) in zip(item["masks"], item["boxes"].long().tolist()):
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert torch.equal(item["mask"], get_dataset("shapes", "val", size=3)[2]["mask"].flip(axis))


@pytest.mark.parametrize("dataset, augment", [("digits", {"shift": 2}), ("shapes", {"flip": True})])
def test_augmentation_is_seeded(dataset, augment):
    """It changes the images, follows the generator (same seed, same output) and depends on it
    (other seeds, other outputs); labels and masks travel with the image."""
    item = get_dataset(dataset, "val", size=1)[0]

    def run(seed):
        return _augment(item, augment, torch.Generator().manual_seed(seed))

    outputs = [run(seed)["image"] for seed in range(8)]
    assert any(not torch.equal(out, item["image"]) for out in outputs), "augmentation left every image as it was"
    assert all(torch.equal(run(seed)["image"], outputs[seed]) for seed in range(8)), "same seed, other output"
    assert len({out.numpy().tobytes() for out in outputs}) > 1, "the output does not depend on the generator"
    for seed in range(8):
        out = run(seed)
        if "label" in item:
            assert out["label"] == item["label"]
        if "mask" in item:  # the mask was flipped with its image: the same pixels still carry each class
            for k in range(1, 4):
                assert torch.equal(out["mask"] == k, _same_flips(item["mask"] == k, item["image"], out["image"]))


def _same_flips(mask, image, flipped):
    """``mask`` with the flips that turned ``image`` into ``flipped``."""
    for dims in ([], [-1], [-2], [-2, -1]):
        if torch.equal(image.flip(dims) if dims else image, flipped):
            return mask.flip(dims) if dims else mask
    raise AssertionError("the augmented image is not a flip of the input")


def test_every_card_has_a_readable_recipe():
    for card in sorted(p for p in HUBCARDS.iterdir() if p.is_dir()):
        recipe = load_recipe(card)
        assert recipe.name == card.name
        assert recipe.architecture in zoo.list_models()


def test_bad_recipes_say_what_is_wrong(tmp_path):
    with pytest.raises(RecipeError, match="no recipe"):
        load_recipe(tmp_path)
    (tmp_path / "recipe.yaml").write_text("architecture: unet\ntag: x\nmodel: {num_classes: 2}\n")
    with pytest.raises(RecipeError, match="dataset"):
        load_recipe(tmp_path)
    (tmp_path / "recipe.yaml").write_text("architecture: unet\ntag: x\nmodel: {num_classes: 2}\n"
                                          "dataset: {name: shapes}\nhf_hub_id: no-org\n")
    with pytest.raises(RecipeError, match="hf_hub_id 'no-org' is not a Hub repo id of the form 'org/name'"):
        load_recipe(tmp_path)
    (tmp_path / "recipe.yaml").write_text("architecture: unet\ntag: x\nmodel: {num_classes: 2}\n"
                                          "dataset: {name: cityscapes}\n")
    with pytest.raises(RecipeError, match="unknown dataset 'cityscapes'; choose from shapes, digits"):
        load_recipe(tmp_path)  # a bad recipe file: exit 3 as its other errors (the bare name error was exit 2)
    (tmp_path / "recipe.yaml").write_text("architecture: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid yaml"):
        load_recipe(tmp_path)


def test_published_cfg_source_is_a_valid_pretrained_cfg():
    config = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    cfg = eval(pretrained_cfg_source(config), {"zoo": zoo})  # noqa: S307 - our own generated source
    assert pretrained_cfg_problems("digits", cfg) == []
    assert cfg.sha256 == config["sha256"] and cfg.model_kwargs == config["model_kwargs"]
    assert cfg.default is True


def test_published_cfg_source_holds_the_summary_metrics_without_per_class_ious():
    config = json.loads((HUBCARDS / "unet.shapes" / "config.json").read_text())
    assert any(k.startswith("iou_") for k in config["metrics"])
    cfg = eval(pretrained_cfg_source(config), {"zoo": zoo})  # noqa: S307 - our own generated source
    assert cfg.metrics == {"miou": config["metrics"]["miou"]}


@pytest.mark.parametrize("train, says", [
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),  # a ZeroDivisionError traceback
    ({"epochs": "twelve"}, "epochs must be a whole number >= 1, got 'twelve'"),
    ({"lr": "fast"}, "lr must be a number > 0, got 'fast'"),
    ({"threads": 0}, "threads must be a whole number >= 1"),
    ({"save_dtype": "int8"}, "save_dtype must be one of float32, float16, bfloat16, got 'int8'"),  # failed after the run
    ({"schedule": "linear"}, "schedule must be one of onecycle, cosine"),
    ({"seed": "zero"}, "seed must be a whole number, got 'zero'"),
    ({"seed": True}, "seed must be a whole number, got True"),
    ({"eval_batch_size": 0}, "eval_batch_size must be a whole number >= 1, got 0"),
    ({"lr": 0}, "lr must be a number > 0, got 0"),
    ({"lr": float("inf")}, "lr must be a number > 0, got inf"),
    ({"warmup": 1}, "warmup must be a fraction of the steps in [0, 1), got 1"),
    ({"grad_clip": 0}, "grad_clip must be null or a number > 0, got 0"),  # was no clipping at all
    ({"augment": True}, "augment must be a mapping such as {flip: true}, got True"),
])
def test_bad_hyper_parameters_are_a_recipe_error_before_any_training(tmp_path, capsys, train, says):
    import yaml

    from zoo.cli import main

    recipe = yaml.safe_load((HUBCARDS / "cnn_cam.digits" / "recipe.yaml").read_text())
    recipe["train"].update(train)
    card = tmp_path / "cnn_cam.digits"
    card.mkdir()
    (card / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match=re.escape(says)):
        recipe_hparams(load_recipe(card))
    assert main(["train", str(card), "--epochs", "1", "--no-progress"]) == 3  # exit 3, no traceback
    assert says in capsys.readouterr().err and not (card / "model.safetensors").exists()


def test_hyper_parameters_at_their_limits_and_the_documented_defaults_are_accepted(tmp_path):
    (tmp_path / "recipe.yaml").write_text("architecture: cnn_cam\ntag: x\nmodel: {num_classes: 10}\n"
                                          "dataset: {name: digits}\n"
                                          "train: {seed: 0, weight_decay: 0, warmup: 0, grad_clip: null}\n")
    hp = recipe_hparams(load_recipe(tmp_path))
    assert (hp["weight_decay"], hp["warmup"], hp["grad_clip"]) == (0, 0, None)
    assert hp["threads"] == 2 and hp["schedule"] == "onecycle" and hp["save_dtype"] == "float32"  # hubcards/README.md


def test_a_minimal_recipe_takes_the_documented_defaults(tmp_path):
    (tmp_path / "recipe.yaml").write_text("architecture: unet\ntag: x\nmodel: {num_classes: 4}\n"
                                          "dataset: {name: shapes}\n")
    recipe = load_recipe(tmp_path)
    assert (recipe.in_chans, recipe.license, recipe.hub_id) == (3, "apache-2.0", "visionzoo/unet.x")
    assert (recipe.dataset_kwargs, recipe.model_kwargs, recipe.train, recipe.card_dir) == ({}, {}, {}, tmp_path)


def test_a_json_recipe_is_read_like_its_yaml(tmp_path):
    import yaml

    raw = yaml.safe_load((HUBCARDS / "cnn_cam.digits" / "recipe.yaml").read_text())
    card = tmp_path / "cnn_cam.digits"
    card.mkdir()
    (card / "recipe.json").write_text(json.dumps(raw))
    from_json, from_yaml = load_recipe(card), load_recipe(HUBCARDS / "cnn_cam.digits")
    assert {**vars(from_json), "card_dir": None} == {**vars(from_yaml), "card_dir": None}
    assert from_json.card_dir == card
    (card / "recipe.json").write_text("{'architecture': 'cnn_cam'}")  # YAML would take it; JSON does not
    with pytest.raises(RecipeError, match="not valid json"):
        load_recipe(card)


@pytest.mark.parametrize("text, says", [
    ("", "expected a mapping of fields (architecture, tag, dataset, model, train), got NoneType"),
    ("just a sentence\n", "expected a mapping of fields"),
    ("- architecture: cnn_cam\n", "got list"),
    ("tag: x\nmodel: [10]\ndataset: {name: digits}\n",
     "architecture must be a name, got None; model must be a mapping with num_classes"),
    # these were bare ValueError / TypeError tracebacks (exit 1), the last two after the model was built
    ("model: {num_classes: ten}\ndataset: {name: digits}\n", "model.num_classes must be a whole number >= 1, got 'ten'"),
    ("model: {num_classes: 10, in_chans: three}\ndataset: {name: digits}\n",
     "model.in_chans must be a whole number >= 1, got 'three'"),
    ("model: {num_classes: 10}\ndataset: {name: digits}\ntrain: fast\n", "train must be a mapping, got 'fast'"),
    ("model: {num_classes: 10}\ndataset: {name: digits, kwargs: {image_sise: 16}}\n",
     "dataset 'digits' takes no option 'image_sise' (it takes image_size, size)"),
    ("model: {num_classes: 10}\ndataset: {name: digits, kwargs: {size: 0}}\n",
     "dataset.kwargs.size must be a whole number >= 1, got 0"),
    ("model: {kwargs: [1]}\ndataset: {name: shapes, kwargs: 3}\n",
     "dataset.kwargs must be a mapping, got 3; model.num_classes is missing; model.kwargs must be a mapping"),
])
def test_a_recipe_of_the_wrong_shape_is_a_recipe_error_naming_each_field(tmp_path, capsys, text, says):
    card = tmp_path / "cnn_cam.x"
    card.mkdir()
    (card / "recipe.yaml").write_text(("architecture: cnn_cam\ntag: x\n" if "model:" in text[:6] else "") + text)
    with pytest.raises(RecipeError, match=re.escape(says)):
        load_recipe(card)
    from zoo.cli import main

    assert main(["train", str(card), "--epochs", "1", "--no-progress"]) == 3  # a message, no traceback
    assert says in capsys.readouterr().err and list(card.iterdir()) == [card / "recipe.yaml"]


def _roll_of(image, shifted, most):
    return next((dy, dx) for dy in range(-most, most + 1) for dx in range(-most, most + 1)
                if torch.equal(torch.roll(image, shifts=(dy, dx), dims=(-2, -1)), shifted))


def test_augmentation_draws_every_direction():
    """``shift: 2`` moves by -2..2 pixels on each axis, ``flip`` flips horizontally and vertically."""
    digit = get_dataset("digits", "val", size=1)[0]
    shifts = [_roll_of(digit["image"], _augment(digit, {"shift": 2}, torch.Generator().manual_seed(seed))["image"], 2)
              for seed in range(32)]
    assert {dy for dy, _ in shifts} == {dx for _, dx in shifts} == {-2, -1, 0, 1, 2}
    scene = get_dataset("shapes", "val", size=1)[0]
    flips = set()
    for seed in range(16):
        out = _augment(scene, {"flip": True}, torch.Generator().manual_seed(seed))["image"]
        flips |= {tuple(dims) for dims in ([], [-1], [-2], [-2, -1]) if torch.equal(scene["image"].flip(dims), out)}
    assert flips == {(), (-1,), (-2,), (-2, -1)}
