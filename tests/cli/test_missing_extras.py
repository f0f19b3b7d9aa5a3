"""A command whose optional dependency is missing (an install without the `train` or `serve`
extra) says which extra to install, exit 3, instead of a ModuleNotFoundError traceback (exit 1)."""

from __future__ import annotations

import importlib.util

import pytest

from zoo.cli import main


@pytest.fixture
def without(monkeypatch):
    """Make the named top-level modules look uninstalled to zoo.extras.require."""
    hidden: set[str] = set()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.split(".")[0] in hidden else real(name, *a, **k))
    return hidden.update


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
    assert f"needs {module}, which is not installed: pip install 'visionzoo[{extra}]'" in err
    assert "Traceback" not in err


def test_a_recipe_yaml_without_pyyaml_names_the_extra_not_a_parse_error(without, tmp_path):
    """The yaml import sat inside the parse's try: a missing PyYAML read as 'not valid yaml'."""
    from zoo.errors import MissingExtraError
    from zoo.recipes import load_recipe

    (tmp_path / "recipe.yaml").write_text("architecture: unet\n")
    without({"yaml"})
    with pytest.raises(MissingExtraError, match=r"reading recipe.yaml needs yaml.*visionzoo\[train\]"):
        load_recipe(tmp_path)
