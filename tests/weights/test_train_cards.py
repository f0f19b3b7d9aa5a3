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


def test_training_applies_init_from_then_zero_init(tmp_path):
    """With a learning rate too small to move them, FCN-16s's trained weights are FCN-32s's, with the
    new skip at zero."""
    import torch

    from zoo.safetensors_file import load_file

    _copy("fcn32s.shapes", tmp_path, ["model.safetensors"])
    card = _small_card(tmp_path, "fcn16s.shapes", dataset_kwargs={"image_size": 64, "size": 8}, epochs=1, lr=1e-30,
                       weight_decay=0)
    train(card, write_card=False, **QUIET)
    parent, trained = load_file(tmp_path / "fcn32s.shapes" / "model.safetensors"), load_file(card / "model.safetensors")
    shared = [k for k in trained if k in parent and parent[k].shape == trained[k].shape and "running" not in k
              and "num_batches" not in k]
    assert shared and all(torch.allclose(trained[k], parent[k], atol=1e-6) for k in shared)
    assert trained["score_pool4.weight"].abs().max() < 1e-6 and trained["score_pool4.bias"].abs().max() < 1e-6


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


def _small_card(folder: Path, name: str = "cnn_cam.digits", dataset_kwargs=None, **train_options) -> Path:
    """A copy of a shipped card's recipe on a few items of its dataset (a second a run)."""
    card = _copy(name, folder, ["recipe.yaml"])

    def small(recipe):
        recipe["dataset"]["kwargs"].update(dataset_kwargs or {"size": 64})
        recipe["train"].update({"epochs": 2, "batch_size": 16, "threads": 1, **train_options})

    _edit_recipe(card, small)
    return card


def _weights_sha(folder: Path, name: str = "cnn_cam.digits", **train_options) -> str:
    card = _small_card(folder, name, **train_options)
    return train(card, write_card=False, **QUIET)["sha256"]


def test_a_recipe_gives_the_same_file_twice_and_each_hyper_parameter_it_sets_changes_it(tmp_path):
    """The reproducibility promise: same recipe, same weights; and every value of the recipe's
    train section is used (a value that changed nothing was ignored)."""
    base = _weights_sha(tmp_path / "base")
    assert _weights_sha(tmp_path / "again") == base
    changed = {"seed": 1, "lr": 0.01, "weight_decay": 0.1, "warmup": 0.5, "batch_size": 8, "augment": {"shift": 0},
               "grad_clip": 0.01, "schedule": "cosine", "epochs": 3}
    for key, value in changed.items():
        assert _weights_sha(tmp_path / key, **{key: value}) != base, f"{key}: {value!r} made no difference"


def test_the_seed_also_orders_the_batches(tmp_path):
    """Started from a parent's weights (nothing left to a random init) and without augmentation,
    the seed still changes the result: it draws each epoch's order of the training items."""
    shutil.copytree(HUBCARDS / "cnn_cam.digits", tmp_path / "cnn_cam.digits")  # the parent
    runs = [_weights_sha(tmp_path / f"run{i}", seed=seed, init_from="../cnn_cam.digits", augment={})
            for i, seed in enumerate((0, 1, 0))]
    assert runs[0] == runs[2] != runs[1]


def test_the_seed_draws_the_initial_weights(tmp_path):
    """With a learning rate too small to move them, the weights are the initial ones: they follow the seed."""
    import torch

    from zoo.safetensors_file import load_file

    weights = []
    for seed in (0, 1):
        card = _small_card(tmp_path / f"seed{seed}", seed=seed, lr=1e-30, weight_decay=0)
        train(card, write_card=False, **QUIET)
        weights.append(load_file(card / "model.safetensors"))
    kernels = [key for key in weights[0] if key.endswith("weight") and weights[0][key].dim() == 4]
    assert kernels and not any(torch.allclose(weights[0][k], weights[1][k], atol=1e-4) for k in kernels)


def test_the_recipes_thread_count_is_the_one_training_runs_with(tmp_path):
    import torch

    card = _small_card(tmp_path, threads=2)
    seen = []
    train(card, write_card=False, progress=False, log=lambda _msg: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {2}
    assert torch.get_num_threads() == 1  # the caller's (tests/weights/conftest.py), back again


def test_config_json_describes_the_file_written_and_its_measurements(tmp_path):
    """config.json (and what train returns) records the saved file's dtype, sha256 and size, the
    preprocessing for the recipe's channel count, and the metrics of that file on the test split."""
    from safetensors import safe_open

    import zoo
    from zoo.evaluate import evaluate
    from zoo.hub import sha256_of

    card = _small_card(tmp_path, "unet.shapes", dataset_kwargs={"image_size": 32, "size": 16}, save_dtype="bfloat16")
    _edit_recipe(card, lambda recipe: recipe["model"]["kwargs"].update(base_width=4))
    config = train(card, **QUIET)
    on_disk = json.loads((card / "config.json").read_text())
    assert on_disk == config
    weights = card / "model.safetensors"
    assert config["sha256"] == sha256_of(weights) and config["file_size"] == weights.stat().st_size
    with safe_open(str(weights), "pt") as f:
        dtypes = {key: f.get_slice(key).get_dtype() for key in f.keys()}
    assert config["save_dtype"] == "bfloat16"
    assert {d for k, d in dtypes.items() if not k.endswith("num_batches_tracked")} == {"BF16"}
    assert {d for k, d in dtypes.items() if k.endswith("num_batches_tracked")} == {"I64"}  # counters stay integers
    model = zoo.create("unet", num_classes=4, in_chans=3, base_width=4)
    assert config["num_params"] == sum(p.numel() for p in model.parameters())
    assert (config["mean"], config["std"], config["input_size"]) == ([0.0] * 3, [1.0] * 3, [3, 32, 32])
    assert config["label_names"] == ["background", "circle", "square", "triangle"]
    assert config["dataset"] == {"name": "shapes", "kwargs": {"image_size": 32, "size": 16}}
    assert [h["epoch"] for h in config["train_history"]] == [1, 2] and all(h["loss"] > 0 for h in config["train_history"])
    # measured from the bfloat16 file, on the recipe's test split (not val, not the float32 model in memory)
    assert config["metrics"] == evaluate(str(card), split="test")
    assert config["metrics"] != evaluate(str(card), split="val")


@pytest.mark.parametrize("epochs", [0, -1])
def test_train_refuses_epochs_below_one_before_building_anything(epochs, tmp_path):
    card = _copy("cnn_cam.digits", tmp_path, ["recipe.yaml"])
    with pytest.raises(RecipeError, match=f"epochs must be a positive integer, got {epochs}"):
        train(card, epochs=epochs, **QUIET)
    assert list(card.iterdir()) == [card / "recipe.yaml"]


def test_every_item_is_trained_on_and_each_epoch_is_validated_on_the_val_split(tmp_path):
    """A batch larger than the split is one (partial) step an epoch, not none; the history's metric
    is the val split's, the card's the test split's."""
    from zoo.evaluate import evaluate

    card = _small_card(tmp_path, batch_size=100)  # 64 training items
    config = train(card, write_card=False, **QUIET)
    assert [h["epoch"] for h in config["train_history"]] == [1, 2]
    assert sorted(p.name for p in card.iterdir()) == ["config.json", "model.safetensors", "recipe.yaml"]  # no card
    val, test = evaluate(str(card), split="val"), evaluate(str(card), split="test")
    assert config["train_history"][-1]["accuracy"] == val["accuracy"] != test["accuracy"] == config["metrics"]["accuracy"]


def test_the_run_is_staged_inside_the_card_folder(tmp_path):
    """The files move into place by rename, which is atomic only within one filesystem: the staging
    folder is in the card folder, not in the system's temporary folder."""
    card = _small_card(tmp_path)
    staged = []
    train(card, progress=False, log=lambda _msg: staged.extend(p.name for p in card.glob(".zoo-train-*")))
    assert staged and not list(card.glob(".zoo-train-*"))
