"""``zoo evaluate`` names: resolved through the registry (unknown name or tag: exit 2 with
suggestions; a bare architecture takes its default tag), found from any working directory
(the source tree's hubcards/ or $ZOO_HUBCARDS_DIR), exit 3 only for a missing card folder or
weights file; ``--pretrained`` and ``--weights`` exclude each other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


@pytest.mark.parametrize("name, hint", [("cnn_cam.digts", "cnn_cam.digits"), ("nosuch.shapes", "nosuch"),
                                        ("unet.", "ends with a dot")])
def test_unknown_name_or_tag_is_a_usage_error_with_suggestions(name, hint, capsys):
    assert main(["evaluate", name]) == 2
    assert hint in capsys.readouterr().err


def test_bare_architecture_takes_its_default_tag_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no ./hubcards here: the source tree's folder is used
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    assert main(["evaluate", "cnn_cam", "--json"]) == 0
    shipped = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())["metrics"]
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(shipped["accuracy"], abs=1e-4)


def test_no_progress_bar_is_drawn_into_a_log(capsys):
    """stderr here is no terminal (as in a log or CI): tqdm's bars filled it."""
    assert main(["evaluate", "cnn_cam.digits", "--split", "val"]) == 0
    assert "batch" not in capsys.readouterr().err


def test_zoo_hubcards_dir_is_honoured_and_a_missing_weights_file_exits_3(tmp_path, monkeypatch, capsys):
    card = tmp_path / "cards" / "cnn_cam.digits"
    card.mkdir(parents=True)
    shutil.copy(HUBCARDS / "cnn_cam.digits" / "config.json", card / "config.json")
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path / "cards"))
    assert main(["evaluate", "cnn_cam.digits"]) == 3
    err = capsys.readouterr().err
    assert "model.safetensors: no such weights file; pass --weights FILE, or" in err and "has no recipe" in err


def test_a_missing_hubcards_folder_says_to_pass_it(tmp_path, capsys):
    assert main(["evaluate", "unet.shapes", "--hubcards", str(tmp_path / "none")]) == 3
    err = capsys.readouterr().err
    assert f"no hub-cards folder {tmp_path / 'none'}" in err and "--hubcards" in err and "train" not in err


def test_pretrained_and_weights_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "cnn_cam.digits", "--pretrained", "--weights", "x.safetensors"])
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_a_card_without_a_recipe_is_not_sent_to_zoo_train(tmp_path, monkeypatch, capsys):
    """A third party's card (no recipe, no zoo dataset) was told to `zoo train` it, which then
    failed for want of a recipe."""
    card = tmp_path / "cards" / "cnn_cam.digits"
    card.mkdir(parents=True)
    (card / "config.json").write_text(json.dumps({"num_classes": 10}))
    monkeypatch.setenv("ZOO_HUBCARDS_DIR", str(tmp_path / "cards"))
    assert main(["evaluate", "cnn_cam.digits"]) == 3
    err = capsys.readouterr().err
    assert "has no recipe" in err and "measure this one with your own evaluation" in err and "zoo train" in err
    assert f"`zoo train {card}`" not in err
    shutil.copy(HUBCARDS / "cnn_cam.digits" / "recipe.yaml", card / "recipe.yaml")
    assert main(["evaluate", "cnn_cam.digits"]) == 3
    assert f"train the card with `zoo train {card}`" in capsys.readouterr().err


@pytest.mark.parametrize("card_name, mean, says", [
    ("unet.shapes", [0.5, 0.5], "config mean has 2 values but its in_chans says the model takes C = 3"),
    ("cnn_cam.digits", [0.1, 0.2, 0.3], "config mean has 3 values but its in_chans says the model takes C = 1"),
])
def test_a_card_whose_mean_fits_no_channel_count_is_refused_before_loading(tmp_path, capsys, card_name, mean, says):
    """evaluate broadcast mean/std as given: a torch size-mismatch traceback (exit 1), or for a
    1-channel model an InputError blaming the model's in_chans."""
    card = tmp_path / "cards" / card_name
    card.mkdir(parents=True)
    config = json.loads((HUBCARDS / card_name / "config.json").read_text())
    (card / "config.json").write_text(json.dumps({**config, "mean": mean}))
    assert main(["evaluate", card_name, "--hubcards", str(tmp_path / "cards")]) == 3  # no weights file: not read
    err = capsys.readouterr().err
    assert f"{card / 'config.json'}: {says}" in err and "no such weights file" not in err


def test_mean_std_beside_other_weights_are_checked_and_named_as_theirs(tmp_path, capsys):
    """With --weights, the card's config and the one beside the weights were merged, then checked
    under the card's name: a fine-tune's own mean blamed the card."""
    shutil.copy(HUBCARDS / "cnn_cam.digits" / "model.safetensors", tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"mean": [0.1, 0.2]}))
    assert main(["evaluate", "cnn_cam.digits", "--weights", str(tmp_path / "model.safetensors")]) == 3
    err = capsys.readouterr().err
    assert f"{tmp_path / 'config.json'} (over {HUBCARDS / 'cnn_cam.digits' / 'config.json'}): config mean has 2 " \
           "values" in err


def test_another_architectures_weights_or_options_are_a_config_error_not_a_traceback(tmp_path, capsys):
    """`zoo evaluate segnet --weights <cnn_cam's file>` passed cnn_cam's model_kwargs to SegNet: a
    TypeError traceback, exit 1."""
    assert main(["evaluate", "segnet", "--weights", str(HUBCARDS / "cnn_cam.digits" / "model.safetensors")]) == 3
    assert "config.json was written for 'cnn_cam', not 'segnet'" in capsys.readouterr().err
    shutil.copy(HUBCARDS / "segnet.shapes" / "model.safetensors", tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"model_kwargs": {"depth": 3}}))
    assert main(["evaluate", "segnet", "--weights", str(tmp_path / "model.safetensors")]) == 3
    err = capsys.readouterr().err
    assert "model_kwargs {'depth': 3}" in err and "do not build segnet: TypeError" in err and "Traceback" not in err


@pytest.mark.parametrize("written_for", ["visionzoo-segmentation:unet", "acme/unet"])
def test_a_fine_tune_config_naming_the_architecture_another_way_is_accepted(tmp_path, capsys, written_for):
    shutil.copy(HUBCARDS / "unet.shapes" / "model.safetensors", tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"architecture": written_for}))
    assert main(["evaluate", "unet.shapes", "--weights", str(tmp_path / "model.safetensors"), "--json"]) == 0


def test_a_std_alone_beside_other_weights_is_checked_and_named_as_theirs(tmp_path, capsys):
    shutil.copy(HUBCARDS / "cnn_cam.digits" / "model.safetensors", tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"std": [0.1, 0.2]}))
    assert main(["evaluate", "cnn_cam.digits", "--weights", str(tmp_path / "model.safetensors")]) == 3
    assert f"{tmp_path / 'config.json'} (over {HUBCARDS / 'cnn_cam.digits' / 'config.json'}): config std has 2 " \
           "values" in capsys.readouterr().err
