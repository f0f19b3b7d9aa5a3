"""Retraining a recipe reproduces its card (slow: a few minutes on a 2-core CPU).

Run with ``pytest -m slow tests/weights/test_retrain.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


@pytest.mark.slow
def test_retraining_digits_lands_on_the_card(tmp_path):
    from zoo.train import train

    source = HUBCARDS / "cnn_cam.digits"
    card = tmp_path / "cnn_cam.digits"
    card.mkdir()
    shutil.copy(source / "recipe.yaml", card / "recipe.yaml")
    config = train(card, progress=False, log=lambda _msg: None)
    shipped = json.loads((source / "config.json").read_text())
    assert config["metrics"]["accuracy"] == pytest.approx(shipped["metrics"]["accuracy"], abs=0.01)
    assert config["metrics"]["accuracy"] >= 0.97
    assert (card / "README.md").is_file() and (card / "model.safetensors").is_file()
