"""``zoo train`` on copies of the shipped cards (never in hubcards/): the card says how its
weights were really made, never carries numbers measured on other weights, builds the model
from its own recipe, and a failed run leaves the folder as it found it. Each run is one epoch
on a small split (a few seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from zoo.cards import rewrite_card
from zoo.cli import main
from zoo.recipes import RecipeError
from zoo.train import train

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"
QUIET = {"progress": False, "log": lambda _msg: None}


def _copy(name: str, dest: Path, files=None) -> Path:
    card = dest / name
    if files is None:
        shutil.copytree(HUBCARDS / name, card)
    else:
        card.mkdir(parents=True)
        for f in files:
            shutil.copy(HUBCARDS / name / f, card / f)
    return card


def _edit_recipe(card: Path, edit) -> None:
    recipe = yaml.safe_load((card / "recipe.yaml").read_text())
    edit(recipe)
    (card / "recipe.yaml").write_text(yaml.safe_dump(recipe))


def test_shipped_cards_render_byte_identically(tmp_path):
    """The renderer's rules (overrides, explainer report) keep every shipped card as it is."""
    for card in sorted(p for p in HUBCARDS.iterdir() if (p / "config.json").is_file()):
        copy = _copy(card.name, tmp_path)
        rewrite_card(copy)
        assert (copy / "README.md").read_bytes() == (card / "README.md").read_bytes(), card.name
    assert "## Explainers on this model" in (HUBCARDS / "cnn_cam.digits" / "README.md").read_text()


def test_a_card_states_its_own_builder_options_beside_the_architectures_defaults():
    """unet's description names its default 16 base channels; the card's weights use 8."""
    text = (HUBCARDS / "unet.shapes" / "README.md").read_text()
    assert "Architecture (at its registered defaults): U-Net" in text
    assert "These weights are built with base_width=8, depth=4" in text


def test_epochs_override_is_stated_and_the_stale_explainer_report_is_dropped(tmp_path):
    card = _copy("cnn_cam.digits", tmp_path)
    config = train(card, epochs=1, **QUIET)
    text = (card / "README.md").read_text()
    assert config["train_hparams"]["epochs"] == 1
    assert "not trained with the recipe as written" in text
    assert "`epochs: 1` (the recipe says `12`)" in text
    assert "`zoo train hubcards/cnn_cam.digits --epochs 1`" in text
    assert "Reproduce with `zoo train hubcards/cnn_cam.digits` (" not in text
    assert "under a minute on a shared 2-core CPU" in text  # one epoch of digits ("about 0.0 minutes" before)
    # explainers.json was measured on the shipped weights, not these: left out of the card.
    assert (card / "explainers.json").is_file()
    assert "## Explainers on this model" not in text
    assert config["sha256"] in text and not list(card.glob(".zoo-train-*"))


def test_training_leaves_the_callers_seed_and_thread_count_as_they_were(tmp_path):
    """The recipe's torch.manual_seed and set_num_threads stayed in force after train() returned."""
    import torch

    card = _copy("cnn_cam.digits", tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        first = torch.rand(1)
        train(card, epochs=1, **QUIET)
        assert torch.equal(torch.cat([first, torch.rand(2)]), expected)
        assert torch.get_num_threads() == threads + 1
    finally:
        torch.set_num_threads(threads)


def test_explainer_report_is_rendered_only_for_the_weights_it_measured(tmp_path):
    from zoo.cards import explainer_report

    card = _copy("cnn_cam.digits", tmp_path)
    config = json.loads((card / "config.json").read_text())
    report = json.loads((card / "explainers.json").read_text())
    assert report["sha256"] == config["sha256"] and explainer_report(card, config) == report
    assert explainer_report(card, {**config, "sha256": "0" * 64}) is None  # other weights
    del report["sha256"]
    (card / "explainers.json").write_text(json.dumps(report))
    assert explainer_report(card, config) is None  # a report that does not say what it measured
    (card / "explainers.json").write_text(json.dumps({**report, "sha256": "1" * 64}))
    assert explainer_report(card, config) is None
    rewrite_card(card)
    assert "## Explainers on this model" not in (card / "README.md").read_text()


def test_a_recipe_names_the_hub_repo_its_weights_publish_as(tmp_path):
    """A third party cannot publish under visionzoo/, which `zoo train` wrote into every card."""
    from zoo.train import pretrained_cfg_source

    card = _copy("cnn_cam.digits", tmp_path, ["recipe.yaml"])
    _edit_recipe(card, lambda recipe: recipe.update(hf_hub_id="acme/cnn_cam.digits"))
    config = train(card, epochs=1, **QUIET)
    assert json.loads((card / "config.json").read_text())["hf_hub_id"] == "acme/cnn_cam.digits"
    assert 'hf_hub_id="acme/cnn_cam.digits"' in pretrained_cfg_source(config)


def test_changed_builder_kwargs_of_a_registered_tag_train_and_evaluate(tmp_path):
    """The registered unet.shapes has base_width 8; the recipe's own kwargs must win."""
    card = _copy("unet.shapes", tmp_path, ["recipe.yaml"])

    def smaller(recipe):
        recipe["model"]["kwargs"]["base_width"] = 4
        recipe["dataset"]["kwargs"].update(image_size=32, size=16)

    _edit_recipe(card, smaller)
    config = train(card, epochs=1, **QUIET)
    assert config["model_kwargs"]["base_width"] == 4 and "miou" in config["metrics"]
    assert json.loads((card / "config.json").read_text())["sha256"] == config["sha256"]
    assert config["sha256"] in (card / "README.md").read_text()
    assert main(["evaluate", str(card), "--json", "--split", "val"]) == 0


def test_a_failed_run_leaves_the_card_as_it_was(tmp_path):
    card = _copy("cnn_cam.digits", tmp_path)
    (card / "explainers.json").write_text("{ not json")  # fails while the card is rendered
    before = {p.name: p.read_bytes() for p in card.iterdir()}
    with pytest.raises(ValueError):
        train(card, epochs=1, **QUIET)
    assert {p.name: p.read_bytes() for p in card.iterdir()} == before  # no staging folder either


def test_missing_init_from_parent_says_where_and_what_to_do(tmp_path):
    card = _copy("fcn16s.shapes", tmp_path, ["recipe.yaml"])
    with pytest.raises(RecipeError) as info:
        train(card, **QUIET)
    message = str(info.value)
    assert "init_from" in message and "recipe.yaml" in message
    assert str(tmp_path / "fcn32s.shapes" / "model.safetensors") in message
    assert "zoo train" in message


def test_zero_init_zeroes_the_named_modules_after_init_from(tmp_path):
    """The FCN-16s recipe starts its new pool4 skip at zero, so training starts from FCN-32s's
    scores alone (Long et al.); a fresh fcn16s's skip is not zero."""
    import torch

    import zoo
    from zoo.recipes import load_recipe
    from zoo.train import _init_from, _zero_init

    recipe = load_recipe(HUBCARDS / "fcn16s.shapes")
    assert recipe.train["zero_init"] == ["score_pool4"]
    model = zoo.create("fcn16s", num_classes=4, **recipe.model_kwargs).eval()
    assert model.score_pool4.weight.abs().max() > 0
    _init_from(model, recipe, HUBCARDS / "fcn32s.shapes", lambda _msg: None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _zero_init(model, recipe, recipe.train["zero_init"])
    after = model.state_dict()
    assert {k for k in after if not torch.equal(after[k], before[k])} == {"score_pool4.weight", "score_pool4.bias"}
    assert model.score_pool4.weight.abs().max() == 0 and model.score_pool4.bias.abs().max() == 0


def test_zero_init_of_an_unknown_module_names_the_known_ones(tmp_path):
    _copy("fcn32s.shapes", tmp_path, ["model.safetensors"])
    card = _copy("fcn16s.shapes", tmp_path, ["recipe.yaml"])
    _edit_recipe(card, lambda r: r["train"].update(zero_init=["score_pool5"]))
    with pytest.raises(RecipeError) as info:
        train(card, **QUIET)
    message = str(info.value)
    assert "train.zero_init" in message and "score_pool5" in message and "score_pool4" in message


def test_missing_card_folder_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="no such hub-card folder"):
        train(tmp_path / "nope.tag", **QUIET)
    assert main(["train", str(tmp_path / "nope.tag")]) == 3


def test_a_card_can_be_named_and_a_mistyped_name_is_a_usage_error(capsys):
    assert main(["train", "cnn_cam.digts"]) == 2  # resolved as zoo evaluate resolves names
    assert "cnn_cam.digits" in capsys.readouterr().err


@pytest.mark.parametrize("epochs", ["0", "-1", "x"])
def test_epochs_must_be_a_positive_integer(epochs, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", str(HUBCARDS / "cnn_cam.digits"), "--epochs", epochs])
    assert info.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_a_card_advises_epochs_only_when_epochs_alone_differ_from_the_recipe(tmp_path):
    """``--epochs N`` reproduces weights whose only difference from the recipe is the epochs; with
    another value changed too, that command gives other weights."""
    card = _copy("cnn_cam.digits", tmp_path)
    _edit_recipe(card, lambda r: r["train"].update(epochs=5))
    rewrite_card(card)
    assert "`zoo train hubcards/cnn_cam.digits --epochs 12`" in (card / "README.md").read_text()
    _edit_recipe(card, lambda r: r["train"].update(lr=0.01))
    rewrite_card(card)
    text = (card / "README.md").read_text()
    assert "`epochs: 12` (the recipe says `5`), `lr: 0.005` (the recipe says `0.01`)" in text
    assert "Reproduce these weights with a recipe that sets the values above" in text and "--epochs" not in text


def test_an_explainer_report_is_not_rendered_when_neither_side_records_the_weights(tmp_path):
    """A config without a sha256 and a report without one prove nothing about which weights were measured."""
    from zoo.cards import explainer_report

    card = _copy("cnn_cam.digits", tmp_path, files=["config.json"])
    (card / "explainers.json").write_text(json.dumps({"summary": "measured on something", "rows": []}))
    config = json.loads((card / "config.json").read_text())
    del config["sha256"]
    assert explainer_report(card, config) is None
