"""The README's main job, ``zoo demo -o DIR``, end to end through the embedded hub (slow: it
starts olah and runs every shipped model): run with ``pytest -m slow tests/weights/test_demo.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

HUBCARDS = Path(__file__).resolve().parents[2] / "hubcards"


@pytest.mark.slow
def test_demo_writes_a_png_per_shipped_model(tmp_path):
    from zoo.cli import main
    from zoo.demo import shipped_models

    assert main(["demo", "-o", str(tmp_path), "--hubcards", str(HUBCARDS), "-n", "2",
                 "--methods", "cam", "saliency"]) == 0
    for name, task in shipped_models(HUBCARDS):
        sheet = tmp_path / (f"{name}.explain.png" if task == "classification" else f"{name}.png")
        with Image.open(sheet) as im:
            assert im.width > 200 and im.height > 200
        if task != "classification":
            assert len(list((tmp_path / "predict" / name).glob("*.png"))) == 2
    assert (tmp_path / "index.md").read_text().count(".png") >= len(shipped_models(HUBCARDS))
