"""A command whose optional dependency is missing (an install without the `train` or `serve`
extra) says which extra to install, exit 3, instead of a ModuleNotFoundError traceback (exit 1)."""

from __future__ import annotations

import sys

import pytest

from zoo.cli import main


@pytest.fixture
def without(monkeypatch):
    """Make the named top-level modules uninstalled for this test: ``None`` in sys.modules makes
    their import fail (ModuleNotFoundError) and find_spec answer None, as without the package."""
    def hide(names):
        for name in names:
            for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
                monkeypatch.setitem(sys.modules, loaded, None)
            monkeypatch.setitem(sys.modules, name, None)
    return hide


@pytest.mark.parametrize("module, argv", [
    ("torchmetrics", ["evaluate", "cnn_cam.digits", "--json"]),
    ("sklearn", ["evaluate", "cnn_cam.digits", "--json"]),
    ("olah", ["hub", "serve", "--port", "0"]),
])
def test_a_missing_optional_dependency_names_its_extra(without, capsys, module, argv):
    without({module})
    assert main(argv) == 3
    err = capsys.readouterr().err
    extra = "serve" if module == "olah" else "train"
    shown = {"sklearn": "scikit-learn"}.get(module, module)  # the name pip installs
    assert f"needs {shown}, which is not installed: pip install 'visionzoo[{extra}]'" in err
    assert "Traceback" not in err


def test_training_without_torchmetrics_stops_before_the_first_epoch(without, tmp_path, capsys):
    """It trained a whole epoch, then failed at the first evaluation."""
    import shutil

    from zoo.card_folders import source_hubcards_dir

    card = tmp_path / "cnn_cam.digits"
    shutil.copytree(source_hubcards_dir() / "cnn_cam.digits", card)
    without({"torchmetrics"})
    assert main(["train", str(card), "--epochs", "1", "--no-progress"]) == 3
    captured = capsys.readouterr()
    assert "zoo train (it measures each epoch) needs torchmetrics" in captured.err
    assert "epoch 1/" not in captured.out + captured.err


def test_a_recipe_yaml_without_pyyaml_names_the_extra_not_a_parse_error(without, tmp_path):
    """The yaml import sat inside the parse's try: a missing PyYAML read as 'not valid yaml'."""
    from zoo.errors import MissingExtraError
    from zoo.recipes import load_recipe

    (tmp_path / "recipe.yaml").write_text("architecture: unet\n")
    without({"yaml"})
    with pytest.raises(MissingExtraError, match=r"reading recipe.yaml needs PyYAML.*visionzoo\[train\]"):
        load_recipe(tmp_path)


def test_hub_serve_gives_the_callers_signal_handlers_back(without, capsys):
    """main() runs in longer processes (tests, notebooks): serve left its Ctrl-C handler, which
    only sets an event, in place after returning."""
    import signal

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    without({"olah"})  # serve returns early, after installing its handlers
    assert main(["hub", "serve", "--port", "0"]) == 3
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
