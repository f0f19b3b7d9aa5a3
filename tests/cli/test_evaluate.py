"""``zoo evaluate``: a hub card's metrics on its test split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zoo.cli import main

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


def test_evaluate_reproduces_the_cards_metric(capsys):
    assert main(["evaluate", "cnn_cam.digits", "--hubcards", str(HUBCARDS), "--device", "cpu", "--json"]) == 0
    card = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    assert json.loads(capsys.readouterr().out) == card["metrics"]


def test_a_broken_card_config_is_an_error_not_a_traceback(tmp_path, capsys):
    for name, text, problem in (("bad", '{"architecture": "unet",', "cannot read the model config"),
                                ("empty", "{}", "lacks 'architecture', 'tag'"),
                                ("partial", '{"architecture": "unet", "tag": "shapes"}', "lacks 'task', 'num_classes'")):
        card = tmp_path / name
        card.mkdir()
        (card / "config.json").write_text(text)
        assert main(["evaluate", str(card)]) == 3
        err = capsys.readouterr().err
        assert problem in err and "Traceback" not in err, err
    config = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    config["dataset"]["name"] = "cityscapes"
    (tmp_path / "bad" / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", str(tmp_path / "bad")]) == 3  # a bad file, not a bad command line (exit 2)
    assert "dataset 'cityscapes' is none of the zoo's datasets (shapes, digits)" in capsys.readouterr().err


def test_the_cards_mean_and_std_are_applied_as_zoo_predict_applies_them(tmp_path, capsys):
    """Evaluation fed raw [0, 1] pixels whatever the card's config said: a card trained on
    normalised images got the metric of other inputs than its users give it."""
    import shutil

    card = tmp_path / "cnn_cam.digits"
    shutil.copytree(HUBCARDS / "cnn_cam.digits", card)
    config = json.loads((card / "config.json").read_text())
    assert config["mean"] == [0.0] and config["std"] == [1.0]
    (card / "config.json").write_text(json.dumps({**config, "mean": [0.5], "std": [0.25]}))
    assert main(["evaluate", str(card), "--json"]) == 0
    shifted = json.loads(capsys.readouterr().out)
    assert shifted["accuracy"] < config["metrics"]["accuracy"] - 0.05, shifted


def test_weights_with_their_own_config_are_built_as_it_says(tmp_path, capsys):
    """A fine-tune with other builder options (a config.json beside it, as zoo predict reads)
    failed: the model was built from the card's config alone."""
    import zoo
    from safetensors.torch import save_file

    folder = tmp_path / "finetune"
    folder.mkdir()
    model = zoo.create("unet", num_classes=4, base_width=4, depth=4)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "w.safetensors"))
    args = ["evaluate", "unet.shapes", "--hubcards", str(HUBCARDS), "--weights", str(folder / "w.safetensors"),
            "--split", "val", "--json"]
    assert main(args) == 3  # the card's base_width 8: the file does not fit
    assert "weights do not match the model" in capsys.readouterr().err
    (folder / "config.json").write_text(json.dumps({"model_kwargs": {"base_width": 4, "depth": 4}}))
    assert main(args) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["miou"] <= 1


def test_the_split_asked_for_is_the_one_measured(capsys):
    """The card's number is the test split's; the training split, which the model fits, measures higher."""
    assert main(["evaluate", "cnn_cam.digits", "--split", "train", "--json"]) == 0
    card = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    assert json.loads(capsys.readouterr().out)["accuracy"] > card["metrics"]["accuracy"]


def test_a_card_folder_named_by_its_path_is_that_folder(tmp_path, monkeypatch, capsys):
    """A folder is taken as the card, even one no plugin registers and without its config.json yet."""
    (tmp_path / "my-card").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "my-card"]) == 3
    assert "my-card/config.json is missing" in capsys.readouterr().err


def test_a_card_config_whose_dataset_is_not_an_object_with_a_name_is_refused(tmp_path, capsys):
    config = json.loads((HUBCARDS / "cnn_cam.digits" / "config.json").read_text())
    for dataset in ("digits", {"kwargs": {}}):
        (tmp_path / "config.json").write_text(json.dumps({**config, "dataset": dataset}))
        assert main(["evaluate", str(tmp_path)]) == 3
        err = capsys.readouterr().err
        assert "lacks dataset.name: it is not a config written by `zoo train`" in err and "Traceback" not in err


def test_an_instance_segmentation_card_reproduces_exactly_and_normalises_its_input_itself(tmp_path, capsys):
    """Predicted masks are binarised at 0.5 as the card says; mean/std in the config are not applied:
    the model normalises its input itself (torchvision's contract)."""
    import shutil

    card = tmp_path / "maskrcnn_mini.shapes"
    shutil.copytree(HUBCARDS / "maskrcnn_mini.shapes", card)
    config = json.loads((card / "config.json").read_text())
    assert main(["evaluate", str(card), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == config["metrics"]
    (card / "config.json").write_text(json.dumps({**config, "mean": [0.5] * 3, "std": [0.25] * 3}))
    assert main(["evaluate", str(card), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == config["metrics"]


def test_evaluate_model_measures_a_model_in_eval_mode(capsys):
    """``evaluate_model`` is also given models straight from training: dropout and batch statistics
    must not be measured."""
    import zoo
    from zoo.data import get_dataset
    from zoo.evaluate import evaluate_model

    card = HUBCARDS / "cnn_cam.digits"
    config = json.loads((card / "config.json").read_text())
    model = zoo.create("cnn_cam.digits", weights=card / "model.safetensors").train()
    dataset = get_dataset("digits", "test", **config["dataset"]["kwargs"])
    assert evaluate_model(model, "classification", dataset) == config["metrics"]
    assert not model.training


def test_evaluate_with_a_size_measures_that_many_images_of_the_split():
    import zoo
    from zoo.data import get_dataset
    from zoo.evaluate import evaluate, evaluate_model

    card = HUBCARDS / "cnn_cam.digits"
    kwargs = json.loads((card / "config.json").read_text())["dataset"]["kwargs"]
    model = zoo.create("cnn_cam.digits", weights=card / "model.safetensors")
    expected = evaluate_model(model, "classification", get_dataset("digits", "val", size=10, **kwargs))
    assert evaluate("cnn_cam.digits", split="val", size=10) == expected
    assert expected["accuracy"] * 10 == round(expected["accuracy"] * 10)  # ten images: a multiple of 0.1


def test_a_plugin_authors_card_is_found_in_their_projects_hubcards(tmp_path, monkeypatch):
    """As the conformance suite finds it: the zoo's own hubcards/ of a source checkout came first and
    was the only folder looked in, so `zoo evaluate` from the author's package found no card."""
    import zoo
    from zoo.card_models import CardError, card_dir_for
    from zoo.registry import get_registry

    class Plugin:
        @zoo.hookimpl
        def zoo_architectures(self):
            return [zoo.ArchitectureSpec("authors_net", "classification", lambda **kw: None,
                                         pretrained={"mine": zoo.PretrainedCfg("someone/authors_net.mine")})]

    get_registry().register(Plugin(), name="authors")
    monkeypatch.delenv("ZOO_HUBCARDS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "hubcards").mkdir()
    with pytest.raises(CardError, match=re.escape(f"no hub-card folder {HUBCARDS / 'authors_net.mine'} or "
                                                  f"{tmp_path / 'hubcards' / 'authors_net.mine'};")):
        card_dir_for("authors_net.mine")
    (tmp_path / "hubcards" / "authors_net.mine").mkdir()
    assert card_dir_for("authors_net.mine").resolve() == tmp_path / "hubcards" / "authors_net.mine"
    assert card_dir_for("cnn_cam.digits") == HUBCARDS / "cnn_cam.digits"  # the zoo's own still come first
