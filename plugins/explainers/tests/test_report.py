"""The report script runs end to end on a registered classifier with a local weights file
(random weights here: the numbers mean nothing, the plumbing is what is tested)."""

import json

import pytest
import torch

import zoo


def test_report_end_to_end(tmp_path):
    if "cnn_cam" not in zoo.list_models("cnn_cam"):
        pytest.skip("the classification plugin (cnn_cam) is not installed")
    pytest.importorskip("sklearn")
    from safetensors.torch import save_file

    from zoo_explainers.report import main

    torch.manual_seed(0)
    kwargs = dict(num_classes=10, in_chans=1, widths=[4, 8], depth=1)
    model = zoo.create("cnn_cam", **kwargs)
    weights = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    card = tmp_path / "card"
    card.mkdir()
    (card / "recipe.json").write_text(json.dumps({
        "architecture": "cnn_cam", "tag": "digits", "dataset": {"name": "digits", "kwargs": {"image_size": 16}},
        "model": {"num_classes": 10, "in_chans": 1, "kwargs": {"widths": [4, 8], "depth": 1}},
        "train": {"seed": 0}}))
    (card / "config.json").write_text(json.dumps({"mean": [0.3], "std": [0.4]}))
    out = tmp_path / "report.json"
    torch.manual_seed(123)
    state = torch.get_rng_state()
    assert main(["cnn_cam", "--weights", str(weights), "--card", str(card), "-n", "4", "--steps", "4",
                 "--methods", "saliency", "gradcam", "--json", str(out), "--write-card"]) == 0
    assert torch.equal(torch.get_rng_state(), state)  # it reseeded its caller's generator
    report = json.loads(out.read_text())
    assert [r["method"] for r in report["rows"]] == ["saliency", "gradcam"]
    assert "Sanity check" in report["summary"]
    assert json.loads((card / "explainers.json").read_text()) == report
    from zoo.hub import sha256_of

    assert report["sha256"] == sha256_of(weights)  # the card renderer shows it only beside these weights


def test_a_card_mean_that_fits_no_channel_count_is_one_error_line_before_any_model(tmp_path, capsys, monkeypatch):
    """It was a traceback naming no file, after the model and the dataset were loaded."""
    from zoo_explainers.report import main

    card = tmp_path / "card"
    card.mkdir()
    (card / "config.json").write_text(json.dumps({"in_chans": 1, "mean": [0.5, 0.4], "std": [1.0]}))
    monkeypatch.setattr(zoo, "create", lambda *a, **k: pytest.fail("the model was built before the check"))
    assert main(["cnn_cam", "--card", str(card), "--dataset", "digits", "-n", "2", "--methods", "saliency"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"python -m zoo_explainers.report: error: {card / 'config.json'}: config mean has 2 "
                          "values but its in_chans says the model takes C = 1"), err


def test_a_broken_recipe_is_named_and_no_dataset_is_an_argument_error(tmp_path, capsys):
    """A broken recipe was taken for no recipe ("pass --dataset"), and that was a SystemExit out of
    a library function."""
    from zoo_explainers.report import build_report, main

    card = tmp_path / "card"
    card.mkdir()
    (card / "recipe.yaml").write_text("dataset: {name: digits\n")
    assert main(["cnn_cam", "--card", str(card), "-n", "2", "--methods", "saliency"]) == 3
    assert f"{card / 'recipe.yaml'}: not valid yaml" in capsys.readouterr().err
    (card / "recipe.yaml").unlink()
    with pytest.raises(zoo.ArgumentError, match="no dataset: pass dataset="):
        build_report("cnn_cam", card_dir=card)
    assert main(["cnn_cam", "--card", str(card), "-n", "2", "--methods", "saliency"]) == 2


def test_an_unknown_model_exits_as_zoo_does(capsys):
    """It exited 3 where `zoo info` exits 2 for the same name and message: one rule for both now."""
    from zoo.cli import main as zoo_main
    from zoo_explainers.report import main

    assert main(["no_such_model", "--dataset", "digits", "-n", "2", "--methods", "saliency"]) == 2
    assert "Unknown model 'no_such_model'" in capsys.readouterr().err
    assert zoo_main(["info", "no_such_model"]) == 2
